package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
)

// results are one round's measured cases by name.
type results map[string]testing.BenchmarkResult

// metric returns a case's figure in unit ("MB/s" is computed, the others
// are reported metrics), NaN if the case did not run or failed.
func (r results) metric(name, unit string) float64 {
	res, ok := r[name]
	if !ok || res.N == 0 {
		return math.NaN()
	}
	if unit == "MB/s" {
		if res.Bytes == 0 || res.T == 0 {
			return math.NaN()
		}
		return float64(res.Bytes) * float64(res.N) / 1e6 / res.T.Seconds()
	}
	if v, ok := res.Extra[unit]; ok {
		return v
	}
	return math.NaN()
}

// spread is the median and range of a figure over the rounds.
type spread struct {
	Median, Min, Max float64
	N                int // rounds with a value
}

// spreadOf summarizes the values that are not NaN.
func spreadOf(vs []float64) spread {
	vs = slices.DeleteFunc(slices.Clone(vs), func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
	if len(vs) == 0 {
		return spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return spread{Median: med, Min: vs[0], Max: vs[len(vs)-1], N: len(vs)}
}

// over returns f's value in every round.
func over(rounds []results, f func(results) float64) []float64 {
	vs := make([]float64, len(rounds))
	for i, r := range rounds {
		vs[i] = f(r)
	}
	return vs
}

// stackRow is one line of the figures table: a stack on a workload.
type stackRow struct {
	label, name string
}

// The stacks' labels.
const (
	labelMConn     = "MConnection (CometBFT, TCP, rates lifted)"
	labelMConnCopy = "MConnection, receiver copying each message"
	labelSwitch    = "Switch, 2014 Receive (TLS)"
	labelLend      = "Switch, lending SetChannelHandler (TLS)"
	labelRaw       = "raw go-libp2p stream (TLS)"
)

// ratioRow is one line of the ratios table: num's figure over den's, in
// each round.
type ratioRow struct {
	label     string
	num, den  string
	unit      string
	goal      string
	goalOK    func(float64) bool
	lowerWins bool // for latencies: below 1 is better
}

// throughputRatios and echoRatios are the ratios the table shows.
func throughputRatios() []ratioRow {
	atLeast24 := func(v float64) bool { return v >= 2.4 }
	var rows []ratioRow
	for _, w := range []struct {
		label                           string
		mconn, mconnCopy, sw, lend, raw string
		unit                            string
	}{
		{"256 B", tput256MConn, tput256MConnCopy, tput256Switch, tput256Lend, tput256Raw, suite.UnitMsgsPerSec},
		{"64 KiB", tput64KMConn, tput64KMConnCopy, tput64KSwitch, tput64KLend, tput64KRaw, "MB/s"},
	} {
		rows = append(rows,
			ratioRow{label: w.label + ": Switch Receive / MConnection", num: w.sw, den: w.mconn, unit: w.unit, goal: "≥ 2.4×", goalOK: atLeast24},
			ratioRow{label: w.label + ": Switch Receive / MConnection copying each message", num: w.sw, den: w.mconnCopy, unit: w.unit},
			ratioRow{label: w.label + ": Switch lending / MConnection", num: w.lend, den: w.mconn, unit: w.unit},
			ratioRow{label: w.label + ": Switch Receive / raw stream", num: w.sw, den: w.raw, unit: w.unit},
			ratioRow{label: w.label + ": Switch lending / raw stream", num: w.lend, den: w.raw, unit: w.unit},
			ratioRow{label: w.label + ": MConnection / raw stream", num: w.mconn, den: w.raw, unit: w.unit},
		)
	}
	return rows
}

func echoRatios() []ratioRow {
	p50 := suite.UnitP50
	return []ratioRow{
		{label: "echo 256 B p50: Switch Receive / MConnection throttle 0", num: echoSwitch, den: echoMConn0, unit: p50, lowerWins: true},
		{label: "echo 256 B p50: Switch lending / MConnection throttle 0", num: echoLend, den: echoMConn0, unit: p50, lowerWins: true},
		{label: "echo 256 B p50: Switch Receive / raw stream", num: echoSwitch, den: echoRaw, unit: p50, lowerWins: true},
		{label: "echo 256 B p50: Switch lending / raw stream", num: echoLend, den: echoRaw, unit: p50, lowerWins: true},
		{label: "echo 256 B p50: MConnection throttle 0 / raw stream", num: echoMConn0, den: echoRaw, unit: p50, lowerWins: true},
	}
}

// printTables writes the figures of every stack (median and range over the
// rounds) and the ratios (computed in each round, then median and range).
// Rows of cases that did not run are left out.
func printTables(w io.Writer, rounds []results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "THROUGHPUT, one channel, one way\tMSGS/S\tRANGE\tMB/S\tRANGE")
	for _, wl := range []struct {
		label string
		rows  []stackRow
	}{
		{"256 B", []stackRow{{labelMConn, tput256MConn}, {labelMConnCopy, tput256MConnCopy}, {labelSwitch, tput256Switch}, {labelLend, tput256Lend}, {labelRaw, tput256Raw}}},
		{"64 KiB", []stackRow{{labelMConn, tput64KMConn}, {labelMConnCopy, tput64KMConnCopy}, {labelSwitch, tput64KSwitch}, {labelLend, tput64KLend}, {labelRaw, tput64KRaw}}},
	} {
		for _, row := range wl.rows {
			msgs := spreadOf(over(rounds, func(r results) float64 { return r.metric(row.name, suite.UnitMsgsPerSec) }))
			mbs := spreadOf(over(rounds, func(r results) float64 { return r.metric(row.name, "MB/s") }))
			if msgs.N == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s  %s\t%s\t%s\t%s\t%s\n", wl.label, row.label,
				rate(msgs.Median), rangeOf(msgs, rate), mbps(mbs.Median), rangeOf(mbs, mbps))
		}
	}
	fmt.Fprintln(tw, "\t\t\t\t")
	fmt.Fprintln(tw, "ECHO 256 B, one round trip at a time\tP50\tRANGE\tP99\tRANGE")
	for _, row := range []stackRow{
		{"MConnection, flush throttle 10 ms (default)", echoMConn10ms},
		{"MConnection, flush throttle 0", echoMConn0},
		{"two Switches, 2014 Receive (TLS)", echoSwitch},
		{"two Switches, lending SetChannelHandler (TLS)", echoLend},
		{labelRaw, echoRaw},
	} {
		p50 := spreadOf(over(rounds, func(r results) float64 { return r.metric(row.name, suite.UnitP50) }))
		p99 := spreadOf(over(rounds, func(r results) float64 { return r.metric(row.name, suite.UnitP99) }))
		if p50.N == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.label, dur(p50.Median), rangeOf(p50, dur), dur(p99.Median), rangeOf(p99, dur))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RATIO (per round, then median and range)\tMEDIAN\tRANGE\tROUNDS\tGOAL\tMET")
	for _, row := range append(throughputRatios(), echoRatios()...) {
		s := spreadOf(over(rounds, func(r results) float64 { return r.metric(row.num, row.unit) / r.metric(row.den, row.unit) }))
		if s.N == 0 {
			continue
		}
		label := row.label
		if row.lowerWins {
			label += " (lower is faster)"
		}
		goal, met := "-", "-"
		if row.goal != "" {
			goal, met = row.goal, "no"
			if row.goalOK(s.Median) {
				met = "yes"
			}
			if row.goalOK(s.Min) {
				met = "yes, every round"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s–%s\t%d\t%s\t%s\n", label, ratio(s.Median), ratio(s.Min), ratio(s.Max), s.N, goal, met)
	}
	tw.Flush()
}

// rangeOf formats a spread's range, "-" for one round.
func rangeOf(s spread, f func(float64) string) string {
	if s.N < 2 {
		return "-"
	}
	return f(s.Min) + " – " + f(s.Max)
}

// Formats of the table's values.
var (
	rate = suite.FormatRate
	mbps = suite.FormatMBps
	dur  = suite.FormatDuration
)

func ratio(v float64) string { return fmt.Sprintf("%.2f×", v) }

// describe is a one-line summary of a result for the progress lines.
func describe(r testing.BenchmarkResult) string {
	parts := []string{fmt.Sprintf("N=%d", r.N), dur(float64(r.NsPerOp())) + "/op"}
	if v, ok := r.Extra[suite.UnitMsgsPerSec]; ok {
		parts = append(parts, rate(v))
	}
	if r.Bytes > 0 && r.T > 0 {
		parts = append(parts, mbps(float64(r.Bytes)*float64(r.N)/1e6/r.T.Seconds()))
	}
	if v, ok := r.Extra[suite.UnitP50]; ok {
		parts = append(parts, "p50 "+dur(v))
	}
	return strings.Join(parts, ", ")
}
