// Command bench runs Switchyard's benchmarks (package
// examples/bench/suite) in one process and prints one table: each Switch
// figure beside its raw go-libp2p baseline measured in the same run, their
// ratio, and the project's goal for the case with whether it is met.
//
// Usage:
//
//	go run ./examples/bench [-benchtime 1s] [-count 1] [-only regexp] [-json]
//
// -benchtime is passed to testing.Benchmark (a duration per case, or Nx for
// N iterations); -count runs all the cases that many times, in rounds, and
// shows each case's median run, and for each ratio the median and the range
// of its values in the rounds (runs on a shared 2-core machine vary by
// ±25%); -only runs the cases whose names match the regexp (see the
// progress lines for the names); -json prints the results and the rows of
// the table as JSON instead of the table. Progress lines go to stderr. The
// table leaves out a comparison unless both its sides ran; the JSON has
// every case.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// caseResult is one run of a case in the JSON output.
type caseResult struct {
	Name        string             `json:"name"`
	Round       int                `json:"round"`
	N           int                `json:"n"`
	NsPerOp     int64              `json:"ns_per_op"`
	BytesPerOp  int64              `json:"bytes_per_op,omitempty"` // message bytes (SetBytes)
	AllocsPerOp int64              `json:"allocs_per_op,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Failed      bool               `json:"failed,omitempty"`
}

// report is the JSON output.
type report struct {
	Go          string       `json:"go"`
	CPUs        int          `json:"cpus"`
	Benchtime   string       `json:"benchtime"`
	Count       int          `json:"count"`
	LoadBefore  string       `json:"load_average_before,omitempty"`
	LoadAfter   string       `json:"load_average_after,omitempty"`
	Cases       []caseResult `json:"cases"`       // every run of every case
	Comparisons []comparison `json:"comparisons"` // from each case's median run
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf suite.RunFlags
	rf.Register(fs, "run every case this many times (in rounds) and show the median run, with the range of each ratio")
	asJSON := fs.Bool("json", false, "print JSON instead of the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cases, err := suite.Pick(&rf, fs, allCases(), func(c benchCase) string { return c.name })
	if err != nil {
		return err
	}

	rep := report{Go: runtime.Version(), CPUs: runtime.NumCPU(), Benchtime: rf.Benchtime, Count: rf.Count, LoadBefore: suite.LoadAverage()}
	fmt.Fprintf(stderr, "running %d cases x %d, -benchtime %s, %s, %d CPUs, load average %s\n",
		len(cases), rf.Count, rf.Benchtime, rep.Go, rep.CPUs, orEmpty(rep.LoadBefore))
	rounds := make([]results, rf.Count)
	for round := range rounds {
		rounds[round] = results{}
		for i, c := range cases {
			if rf.Count > 1 {
				fmt.Fprintf(stderr, "[round %d/%d, %2d/%d] %-36s ", round+1, rf.Count, i+1, len(cases), c.name)
			} else {
				fmt.Fprintf(stderr, "[%2d/%d] %-36s ", i+1, len(cases), c.name)
			}
			bt := rf.Benchtime
			if c.benchtime != "" {
				bt = c.benchtime
			}
			if err := flag.Set("test.benchtime", bt); err != nil {
				return err
			}
			start := time.Now()
			r := testing.Benchmark(c.run)
			took := time.Since(start).Round(100 * time.Millisecond)
			if r.N == 0 {
				fmt.Fprintf(stderr, "FAILED after %s (run `go test -bench` in examples/bench/suite to see why)\n", took)
			} else {
				rounds[round][c.name] = r
				fmt.Fprintf(stderr, "%s  (%s)\n", describe(r), took)
			}
			rep.Cases = append(rep.Cases, caseResult{
				Name: c.name, Round: round + 1, N: r.N, NsPerOp: r.NsPerOp(), BytesPerOp: r.Bytes,
				AllocsPerOp: r.AllocsPerOp(), Metrics: r.Extra, Failed: r.N == 0,
			})
		}
	}
	rep.LoadAfter = suite.LoadAverage()
	rep.Comparisons = comparisons(medianResults(rounds))
	if rf.Count > 1 {
		addRanges(rep.Comparisons, rounds)
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonSafe(rep))
	}
	fmt.Fprintf(stdout, "Switchyard benchmarks: %s, %d CPUs, -benchtime %s, -count %d, load average before %s, after %s\n\n",
		rep.Go, rep.CPUs, rf.Benchtime, rf.Count, orEmpty(rep.LoadBefore), orEmpty(rep.LoadAfter))
	printTable(stdout, rep.Comparisons, rf.Count > 1)
	for _, c := range rep.Cases {
		if c.Failed {
			fmt.Fprintf(stdout, "\nFAILED: %s (round %d)\n", c.Name, c.Round)
		}
	}
	return nil
}

// medianResults picks, for every case, its median run over the rounds
// (by ns/op; by the Switch's heap share for the heap measurement, whose
// ns/op means nothing). Failed runs are left out.
func medianResults(rounds []results) results {
	runs := map[string][]testing.BenchmarkResult{}
	for _, r := range rounds {
		for name, res := range r {
			runs[name] = append(runs[name], res)
		}
	}
	med := results{}
	for name, rs := range runs {
		key := func(r testing.BenchmarkResult) float64 { return float64(r.NsPerOp()) }
		if name == idleHeap32 {
			key = func(r testing.BenchmarkResult) float64 { return r.Extra[suite.UnitSwitchHeapPerPeer] }
		}
		slices.SortFunc(rs, func(a, b testing.BenchmarkResult) int { return cmp.Compare(key(a), key(b)) })
		med[name] = rs[(len(rs)-1)/2]
	}
	return med
}

// addRanges sets each row's ratio to the median of the rounds' ratios (a
// Switch run and its baseline run one after the other, so their ratio in a
// round is steadier than the ratio of medians), judges the goal on it, and
// records the smallest and largest ratio.
func addRanges(rows []comparison, rounds []results) {
	ratios := make([][]float64, len(rows))
	for _, r := range rounds {
		for i, c := range comparisons(r) {
			if !math.IsNaN(c.Ratio) && !math.IsInf(c.Ratio, 0) {
				ratios[i] = append(ratios[i], c.Ratio)
			}
		}
	}
	for i, rs := range ratios {
		if len(rs) == 0 {
			continue
		}
		slices.Sort(rs)
		row := &rows[i]
		row.RatioMin, row.RatioMax = rs[0], rs[len(rs)-1]
		if len(rs)%2 == 1 {
			row.Ratio = rs[len(rs)/2]
		} else {
			row.Ratio = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
		}
		row.judge()
	}
}

// jsonSafe replaces the NaNs (not measured) that JSON cannot carry by 0,
// which omitempty then drops, except for the Switch figure.
func jsonSafe(r report) report {
	for i := range r.Comparisons {
		c := &r.Comparisons[i]
		for _, v := range []*float64{&c.Switch, &c.Baseline, &c.Ratio, &c.RatioMin, &c.RatioMax} {
			if math.IsNaN(*v) || math.IsInf(*v, 0) {
				*v = 0
			}
		}
	}
	return r
}
