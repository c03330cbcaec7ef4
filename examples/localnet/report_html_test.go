package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// graphNodes matches the peer graph's node circles and their classes.
var graphNodes = regexp.MustCompile(`<circle class="(node[^"]*)" data-node="(\d+)"`)

// checkSelfContained fails if page could fetch anything: no script, no
// address with a scheme, no external stylesheet or image.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script", "://", "src=", "@import", "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page is not self-contained: it holds %q", bad)
		}
	}
}

func TestHTMLReportShowsEveryPart(t *testing.T) {
	res := syntheticResult()
	res.Transport = "mocknet <&>" // escaped by the template
	var buf bytes.Buffer
	if err := writeHTML(&buf, newReport(res)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	checkSelfContained(t, page)
	nodes := graphNodes.FindAllStringSubmatch(page, -1)
	if len(nodes) != 4 {
		t.Fatalf("%d graph nodes, want 4", len(nodes))
	}
	wantClass := []string{"node seed", "node", "node slow", "node slow lacking"}
	for i, m := range nodes {
		if m[2] != string(rune('0'+i)) || m[1] != wantClass[i] {
			t.Errorf("graph node %d: class %q data-node %s, want %q", i, m[1], m[2], wantClass[i])
		}
	}
	if got := strings.Count(page, `<line class="link"`); got != 3 {
		t.Errorf("%d links drawn, want 3", got)
	}
	for _, want := range []string{
		"mocknet &lt;&amp;&gt;", "FAIL: 1 of 3 txs did not reach every node", `<svg class="chart discovery"`,
		`<svg class="chart cdf"`, `data-share="0.99"`, `<tr class="lacking" data-node="3">`, `<tr class="slow" data-node="2">`,
		"<td>2 / 3</td><td>1</td>", // the 90% curve: 2 txs got there, 1 never did
		"With 4 nodes, 99% of the nodes is all of them",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "mocknet <&>") {
		t.Error("the transport name is not escaped")
	}
	// From 101 nodes on, 99% of the nodes is fewer than all.
	rep := newReport(res)
	rep.Nodes = 101
	buf.Reset()
	if err := writeHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "99% of the nodes is all of them") {
		t.Error("with 101 nodes the page says 99% of them is all")
	}
}

func TestJSONReportRoundTrips(t *testing.T) {
	rep := newReport(syntheticResult())
	var buf bytes.Buffer
	if err := writeJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Nodes != 4 || len(back.NodeRows) != 4 || len(back.Spread) != 3 || len(back.Curves) != 4 ||
		!slices.Equal(back.Links, rep.Links) || back.Spread[1].ToAllMS != nil || *back.Spread[0].ToAllMS != 30 {
		t.Fatalf("round trip lost data: %s", buf.String())
	}
	// A run that ended before any link or sample has empty lists, not null.
	var empty bytes.Buffer
	if err := writeJSON(&empty, newReport(&Result{})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"links":[]`, `"discovery":[]`, `"curves":[`} {
		if !strings.Contains(empty.String(), want) {
			t.Errorf("the report of an empty run lacks %s: %s", want, empty.String())
		}
	}
	// A time that never came is null, not 0.
	if !strings.Contains(buf.String(), `"to_all_ms":null`) {
		t.Errorf("no null time in %s", buf.String())
	}
}

func TestGraphFigureSkipsLinksOutsideTheNetwork(t *testing.T) {
	rep := newReport(syntheticResult())
	rep.Links = append(rep.Links, Link{From: 1, To: 1}, Link{From: -1, To: 0}, Link{From: 2, To: 9})
	fig := graphFigure(rep)
	if got := strings.Count(fig, `<line class="link"`); got != 3 {
		t.Fatalf("%d links drawn, want the 3 valid ones", got)
	}
	if !strings.Contains(fig, `data-from="3" data-to="0"`) || !strings.Contains(fig, "3 dialed 0") {
		t.Error("a link lacks its ends")
	}
}

func TestFiguresSayWhenThereIsNothingToDraw(t *testing.T) {
	rep := newReport(syntheticResult())
	rep.Discovery, rep.Injected = nil, 0
	if got := discoveryFigure(rep); !strings.Contains(got, `class="empty"`) {
		t.Errorf("discovery figure without samples: %s", got)
	}
	if got := cdfFigure(rep); !strings.Contains(got, `class="empty"`) {
		t.Errorf("CDF without transactions: %s", got)
	}
}

func TestSVGTextIsEscaped(t *testing.T) {
	var s svg
	s.text(1, 2, "tick", "end", `<script>"&`)
	if got := s.String(); !strings.Contains(got, "&lt;script&gt;&#34;&amp;") || strings.Contains(got, "<script") {
		t.Fatalf("text not escaped: %s", got)
	}
}

func TestTicksAreRoundAndBounded(t *testing.T) {
	for _, tc := range []struct {
		max, minStep float64
		want         []float64
	}{
		{100, 0, []float64{0, 20, 40, 60, 80, 100}},
		{7, 1, []float64{0, 2, 4, 6}},
		{3, 1, []float64{0, 1, 2, 3}},
		{0.9, 0, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8}},
		{0, 0, []float64{0}},
		{-5, 0, []float64{0}},
	} {
		if got := ticks(tc.max, tc.minStep); !slices.Equal(got, tc.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tc.max, tc.minStep, got, tc.want)
		}
	}
}

func TestMSLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0 ms", 0.25: "0.2 ms", 12.4: "12 ms", 1500: "1.5 s", 45000: "45 s"} {
		if got := msLabel(v); got != want {
			t.Errorf("msLabel(%v) = %q, want %q", v, got, want)
		}
	}
	if got := msText((*float64)(nil)); got != "never" {
		t.Errorf("msText(nil) = %q", got)
	}
}

func TestStepPointsHoldEachValueUntilItChanges(t *testing.T) {
	got := stepPoints([]float64{0, 10, 20, 30}, []float64{1, 1, 3, 3}, 50)
	want := [][2]float64{{0, 1}, {20, 1}, {20, 3}, {50, 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("stepPoints = %v, want %v", got, want)
	}
	if got := stepPoints([]float64{5}, []float64{2}, 5); !slices.Equal(got, [][2]float64{{5, 2}}) {
		t.Fatalf("one point: %v", got)
	}
}
