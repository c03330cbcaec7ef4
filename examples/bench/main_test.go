package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// keepBenchtime restores -test.benchtime, which run changes.
func keepBenchtime(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	t.Cleanup(func() { f.Value.Set(old) })
}

func TestRunPrintsTheTableForTheSelectedCases(t *testing.T) {
	keepBenchtime(t)
	var out, progress bytes.Buffer
	if err := run([]string{"-benchtime", "20x", "-only", "^echo/256B/(switch|raw)$"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[ 1/2] echo/256B/switch", "[ 2/2] echo/256B/raw"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	table := out.String()
	for _, want := range []string{"CASE", "echo 256 B: p50 round trip vs raw stream", "≤ 1.5× raw"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "stream-per-message") || strings.Contains(table, "1 channel") {
		t.Errorf("table shows cases that did not run:\n%s", table)
	}
}

func TestRunWithCountShowsTheMedianAndTheRangeOfEachRatio(t *testing.T) {
	keepBenchtime(t)
	var out, progress bytes.Buffer
	if err := run([]string{"-benchtime", "10x", "-count", "3", "-only", "^echo/256B/(switch|raw)$"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(progress.String(), "echo/256B/switch"); got != 3 {
		t.Errorf("the Switch echo ran %d times, want 3:\n%s", got, progress.String())
	}
	var row string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "echo 256 B: p50 round trip vs raw stream") {
			row = line
		}
	}
	if !strings.Contains(out.String(), "RANGE") || !strings.Contains(row, "–") {
		t.Errorf("no range of the ratio in the table:\n%s", out.String())
	}
}

func TestMedianResultsPicksTheMiddleRun(t *testing.T) {
	run := func(ns int64) testing.BenchmarkResult {
		return testing.BenchmarkResult{N: 1, T: time.Duration(ns)}
	}
	rounds := []results{{echoRaw: run(300)}, {echoRaw: run(100)}, {echoRaw: run(200)}, {}}
	if got := medianResults(rounds)[echoRaw].NsPerOp(); got != 200 {
		t.Fatalf("median ns/op %d, want 200", got)
	}
	rows := comparisons(results{echoSwitch: run(1), echoRaw: run(1)})
	addRanges(rows, []results{
		{echoSwitch: {N: 1, Extra: map[string]float64{"p50-ns": 12}}, echoRaw: {N: 1, Extra: map[string]float64{"p50-ns": 10}}},
		{echoSwitch: {N: 1, Extra: map[string]float64{"p50-ns": 9}}, echoRaw: {N: 1, Extra: map[string]float64{"p50-ns": 10}}},
	})
	for _, c := range rows {
		if c.Case == "echo 256 B: p50 round trip vs raw stream" && (c.RatioMin != 0.9 || c.RatioMax != 1.2 || c.Ratio != 1.05 || c.Met != "yes") {
			t.Errorf("ratio %v (range %v–%v, met %q), want the median 1.05 of 0.9–1.2, met", c.Ratio, c.RatioMin, c.RatioMax, c.Met)
		}
	}
}

func TestRunPrintsJSON(t *testing.T) {
	keepBenchtime(t)
	var out, progress bytes.Buffer
	if err := run([]string{"-benchtime", "10x", "-only", "^echo/256B/raw$", "-json"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Cases) != 1 || rep.Cases[0].Name != echoRaw || rep.Cases[0].N != 10 || rep.Cases[0].Failed {
		t.Fatalf("cases = %+v, want one successful %s with N=10", rep.Cases, echoRaw)
	}
	if rep.Cases[0].Metrics["p50-ns"] <= 0 {
		t.Errorf("metrics = %v, want a p50", rep.Cases[0].Metrics)
	}
	if len(rep.Comparisons) == 0 {
		t.Error("no comparisons in the JSON")
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	keepBenchtime(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad regexp", []string{"-only", "("}, "-only"},
		{"no case matches", []string{"-only", "^nothing$"}, "matches no case"},
		{"bad benchtime", []string{"-benchtime", "soon"}, "-benchtime"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"no rounds", []string{"-count", "0"}, "-count"},
		{"unknown flag", []string{"-fast"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, progress bytes.Buffer
			err := run(tc.args, &out, &progress)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed output despite the error:\n%s", out.String())
			}
		})
	}
}

func TestComparisonsMarkGoalsAndMissingFigures(t *testing.T) {
	r := results{
		echoSwitch: {N: 1, Extra: map[string]float64{"p50-ns": 15000}},
		echoRaw:    {N: 1, Extra: map[string]float64{"p50-ns": 10000}},
	}
	byCase := map[string]comparison{}
	for _, c := range comparisons(r) {
		byCase[c.Case] = c
	}
	c := byCase["echo 256 B: p50 round trip vs raw stream"]
	if c.Ratio != 1.5 || c.Met != "yes" {
		t.Errorf("echo p50 at exactly 1.5x: ratio %v met %q, want 1.5 and yes", c.Ratio, c.Met)
	}
	r[echoSwitch].Extra["p50-ns"] = 15001
	for _, c := range comparisons(r) {
		if c.Case == "echo 256 B: p50 round trip vs raw stream" && c.Met != "no" {
			t.Errorf("echo p50 above 1.5x: met %q, want no", c.Met)
		}
	}
	if c := byCase["one sender 256 B: msgs/s vs stream-per-message"]; c.Met != "" {
		t.Errorf("a comparison with nothing measured is marked %q", c.Met)
	}
}
