package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// smallArgs are the flags of a small, fast mocknet run.
var smallArgs = []string{"-mocknet", "-n", "6", "-txs", "20", "-seed", "42", "-ensure-peers-period", "200ms", "-timeout", "30s"}

// readReport reads and decodes a -report-json file.
func readReport(t *testing.T, path string) *Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %s", path, err)
	}
	return &rep
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestReportFilesOfASmallRun(t *testing.T) {
	dir := t.TempDir()
	html, js := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json")
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), append(smallArgs, "-report", html, "-report-json", js), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"report written to " + html, "report data written to " + js} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if got := dirEntries(t, dir); len(got) != 2 {
		t.Errorf("files left in the directory: %v", got)
	}
	rep := readReport(t, js)
	checkReport(t, rep, 6, 20)
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, string(page))
	if got := len(graphNodes.FindAllStringSubmatch(string(page), -1)); got != 6 {
		t.Errorf("the page's graph has %d nodes, want 6", got)
	}
	if fi, err := os.Stat(html); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report mode: %v, %v", fi.Mode(), err)
	}
}

// checkReport checks what must hold in the report of a run of n nodes that
// delivered every one of txs transactions.
func checkReport(t *testing.T, rep *Report, n, txs int) {
	t.Helper()
	if !rep.OK || rep.Failure != "" || rep.Nodes != n || rep.Txs != txs || rep.Injected != txs || rep.Complete != txs {
		t.Fatalf("report: ok %v (%q), %d nodes, %d/%d/%d txs", rep.OK, rep.Failure, rep.Nodes, rep.Injected, rep.Complete, rep.Txs)
	}
	if rep.PropagationMS == nil || rep.ToAllP50MS == nil || *rep.ToAllP50MS > *rep.ToAllMaxMS {
		t.Errorf("propagation %v, to all p50 %v max %v", rep.PropagationMS, rep.ToAllP50MS, rep.ToAllMaxMS)
	}
	// The peer graph: links between distinct nodes, each once, and every
	// node but the seed dialed at least the target's worth of peers.
	seen := map[Link]bool{}
	dialed := make([]int, n)
	for _, l := range rep.Links {
		if l.From < 0 || l.From >= n || l.To < 0 || l.To >= n || l.From == l.To || seen[l] {
			t.Errorf("bad or repeated link %+v", l)
		}
		seen[l] = true
		dialed[l.From]++
	}
	for i := 1; i < n; i++ {
		if dialed[i] < rep.TargetOutbound {
			t.Errorf("node %d dialed %d peers, target %d", i, dialed[i], rep.TargetOutbound)
		}
	}
	// Discovery over time: every node in every sample, times increasing,
	// spanning the run, ending with the target met.
	if len(rep.Discovery) < 2 {
		t.Fatalf("%d discovery samples", len(rep.Discovery))
	}
	last := rep.Discovery[len(rep.Discovery)-1]
	for k, s := range rep.Discovery {
		if len(s.Outbound) != n || (k > 0 && s.AtMS <= rep.Discovery[k-1].AtMS) {
			t.Fatalf("sample %d: %+v", k, s)
		}
	}
	if last.AtMS < rep.DiscoveryMS {
		t.Errorf("the timeline ends at %v ms, before discovery did (%v ms)", last.AtMS, rep.DiscoveryMS)
	}
	for i, out := range last.Outbound[1:] {
		if out < rep.TargetOutbound {
			t.Errorf("node %d ends with %d outbound peers", i+1, out)
		}
	}
	// Propagation: every tx reached every node, in order of share.
	if len(rep.Spread) != txs {
		t.Fatalf("%d spreads", len(rep.Spread))
	}
	for _, s := range rep.Spread {
		if !s.Injected || s.Reached != n || s.Origin < 0 || s.Origin >= n || s.ToAllMS == nil ||
			*s.P50MS > *s.P90MS || *s.P90MS > *s.P99MS || *s.P99MS > *s.ToAllMS {
			t.Errorf("spread %+v", s)
		}
	}
	for _, c := range rep.Curves {
		if len(c.MS) != txs || c.Never != 0 {
			t.Errorf("curve %s: %d txs, %d never", c.Name, len(c.MS), c.Never)
		}
	}
	// Per node: everything there, one node in ten (at least one) slowest.
	slowest := 0
	for i, r := range rep.NodeRows {
		if r.Node != i || r.Missing != 0 || r.Txs != txs || r.BytesSent <= 0 || r.ArrivalP50MS == nil {
			t.Errorf("node row %+v", r)
		}
		if r.Slowest {
			slowest++
		}
	}
	if want := max(1, (n+9)/10); slowest != want {
		t.Errorf("%d nodes marked slowest, want %d", slowest, want)
	}
	if rep.NodeRows[0].Role != "seed" {
		t.Errorf("node 0's role %q", rep.NodeRows[0].Role)
	}
}

func TestReportOfAFailedRunShowsTheLackingNode(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "r.json")
	args := []string{"-mocknet", "-n", "4", "-txs", "5", "-isolated", "1", "-discovery-timeout", "300ms", "-timeout", "1s", "-report-json", js}
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), args, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	rep := readReport(t, js)
	if rep.OK || rep.DiscoveryDone || !strings.Contains(rep.Failure, "node 3 lacks") || rep.Complete != 0 {
		t.Fatalf("ok %v, discovery done %v, failure %q, complete %d", rep.OK, rep.DiscoveryDone, rep.Failure, rep.Complete)
	}
	// Node 3 is cut off: it has only the txs injected at it, and the others
	// lack exactly those.
	atIsolated := 0
	for _, s := range rep.Spread {
		want := 3
		if s.Origin == 3 {
			want = 1
			atIsolated++
		}
		if s.ToAllMS != nil || s.Reached != want {
			t.Errorf("spread %+v, want it reached %d nodes", s, want)
		}
	}
	if r := rep.NodeRows[3]; r.Role != "isolated" || r.Missing != 5-atIsolated || !r.Slowest || r.ArrivalP50MS != nil {
		t.Fatalf("isolated node's row %+v (%d txs injected at it)", r, atIsolated)
	}
	// Lacking nodes are all marked; otherwise one of the three, the slowest.
	slow, wantSlow := 0, 1
	if atIsolated > 0 {
		wantSlow = 3
	}
	for _, r := range rep.NodeRows[:3] {
		if r.Missing != atIsolated {
			t.Errorf("row %+v (%d txs injected at node 3)", r, atIsolated)
		}
		if r.Slowest {
			slow++
		}
	}
	if slow != wantSlow {
		t.Errorf("%d of the connected nodes marked slowest, want %d", slow, wantSlow)
	}
	if c := rep.Curves[3]; len(c.MS) != 0 || c.Never != 5 {
		t.Errorf("time-to-all curve %+v", c)
	}
}

func TestBadReportPathsFailBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing directory", []string{"-report", filepath.Join(dir, "no", "such", "dir", "r.html")}, "-report: cannot write"},
		{"parent is a file", []string{"-report-json", filepath.Join(file, "r.json")}, "-report-json: cannot write"},
		{"a directory", []string{"-report", dir}, "is a directory"},
		{"json path bad, html fine", []string{"-report", filepath.Join(dir, "ok.html"), "-report-json", filepath.Join(dir, "nope", "r.json")}, "-report-json: cannot write"},
		{"the same file twice", []string{"-report", filepath.Join(dir, "r"), "-report-json", filepath.Join(dir, "r")}, "name the same file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			began := time.Now()
			code := runMain(context.Background(), append(smallArgs, tc.args...), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || !strings.HasPrefix(stderr.String(), "localnet: ") {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
			if stdout.Len() != 0 || time.Since(began) > 2*time.Second {
				t.Fatalf("the network ran anyway (%s): %s", time.Since(began), stdout.String())
			}
			if got := dirEntries(t, dir); !slices.Equal(got, []string{"a-file"}) {
				t.Fatalf("left behind: %v", got)
			}
		})
	}
}

func TestInterruptedRunWritesNoReport(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	args := []string{"-mocknet", "-n", "4", "-isolated", "1", "-report", filepath.Join(dir, "r.html")}
	if code := runMain(ctx, args, io.Discard, io.Discard); code != 130 {
		t.Fatalf("exit %d, want 130", code)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestOutputFileLeavesNothingWhenWritingFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.html")
	f, err := createOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = f.commit(func(w io.Writer) error {
		io.WriteString(w, "half a page")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "write "+path) {
		t.Fatalf("commit = %v", err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	// The path already holds an older report: it stays until the new one
	// is whole.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = createOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.commit(func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Fatalf("the old report became %q", data)
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"-h"}, io.Discard, &stderr); code != 0 || !strings.Contains(stderr.String(), "-report-json") {
		t.Fatalf("exit %d, usage %q", code, stderr.String())
	}
	if code := runMain(context.Background(), []string{"-n", "1"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}
