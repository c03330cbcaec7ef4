package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
)

// comparison is one line of the table: a Switch figure beside its baseline
// measured in the same run, their ratio, and the project's goal for it.
type comparison struct {
	Case     string  `json:"case"`
	Switch   float64 `json:"switch"`             // NaN when not measured
	Baseline float64 `json:"baseline,omitempty"` // NaN when not measured or none
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio,omitempty"`     // Switch/Baseline (with -count: the median of the rounds' ratios)
	RatioMin float64 `json:"ratio_min,omitempty"` // over the rounds of -count
	RatioMax float64 `json:"ratio_max,omitempty"`
	Goal     string  `json:"goal,omitempty"`
	Met      string  `json:"met,omitempty"` // "yes", "no", or "" (no goal, or not measured)

	format      func(float64) string
	hasBaseline bool // false for rows that compare with nothing
	goal        *goal
}

// results are the measured cases by name.
type results map[string]testing.BenchmarkResult

// metric returns a custom metric of a case, NaN if the case was not run
// (or failed) or did not report it. "ns/op" and "MB/s" are computed.
func (r results) metric(name, unit string) float64 {
	res, ok := r[name]
	if !ok || res.N == 0 {
		return math.NaN()
	}
	switch unit {
	case "ns/op":
		return float64(res.NsPerOp())
	case "MB/s":
		if res.Bytes == 0 || res.T == 0 {
			return math.NaN()
		}
		return float64(res.Bytes) * float64(res.N) / 1e6 / res.T.Seconds()
	case "allocs/op", "B/op": // testing.Benchmark always measures them
		if unit == "B/op" {
			return float64(res.MemBytes) / float64(res.N)
		}
		return float64(res.MemAllocs) / float64(res.N)
	}
	if v, ok := res.Extra[unit]; ok {
		return v
	}
	return math.NaN()
}

// goal is a bound on a ratio (or a value).
type goal struct {
	text string
	ok   func(v float64) bool
}

func atLeast(x float64, text string) *goal {
	return &goal{text: text, ok: func(v float64) bool { return v >= x }}
}

func atMost(x float64, text string) *goal {
	return &goal{text: text, ok: func(v float64) bool { return v <= x }}
}

// compare builds a row; g applies to the ratio when there is a baseline,
// else to the Switch's value.
func compare(label string, sw, base float64, unit string, format func(float64) string, g *goal) comparison {
	c := comparison{Case: label, Switch: sw, Baseline: base, Unit: unit, Ratio: sw / base,
		format: format, hasBaseline: !isNone(base), goal: g}
	c.judge()
	return c
}

// judge sets Goal and Met from the row's ratio (or value).
func (c *comparison) judge() {
	if c.goal == nil {
		return
	}
	c.Goal = c.goal.text
	v := c.Ratio
	if !c.hasBaseline {
		v = c.Switch
	}
	switch {
	case math.IsNaN(v):
		c.Met = ""
	case c.goal.ok(v):
		c.Met = "yes"
	default:
		c.Met = "no"
	}
}

// none marks a row without a baseline (a NaN distinct from the NaN of a
// figure that was not measured).
var none = math.Float64frombits(0x7ff8_0000_0000_0bad)

func isNone(v float64) bool { return math.Float64bits(v) == math.Float64bits(none) }

// comparisons lists the table's rows from the results.
func comparisons(r results) []comparison {
	var rows []comparison
	add := func(c comparison) { rows = append(rows, c) }
	for _, t := range []struct {
		label         string
		sw, raw       string
		rawAllocating string // the raw stream whose reader allocates, if measured
		byteGoal      *goal  // on MB/s (64 KiB)
		msgGoal       *goal  // on msgs/s (256 B)
	}{
		{"1 channel 256 B, TLS", tput256Switch, tput256Raw, tput256RawAlloc, nil, atLeast(0.5, "≥ 0.50× raw (aim 0.70×)")},
		{"1 channel 1 KiB, TLS", tput1KSwitch, tput1KRaw, "", nil, nil},
		{"1 channel 64 KiB, TLS", tput64KSwitch, tput64KRaw, tput64KRawAlloc, atLeast(0.85, "≥ 0.85× raw"), nil},
		{"1 channel 256 B, Noise", tput256NoiseSwitch, tput256NoiseRaw, "", nil, atLeast(0.5, "≥ 0.50× raw (aim 0.70×)")},
		{"1 channel 64 KiB, Noise", tput64KNoiseSwitch, tput64KNoiseRaw, tput64KNoiseAlloc, atLeast(0.85, "≥ 0.85× raw"), nil},
	} {
		add(compare(t.label+": msgs/s vs raw stream", r.metric(t.sw, suite.UnitMsgsPerSec), r.metric(t.raw, suite.UnitMsgsPerSec), "msgs/s", rate, t.msgGoal))
		add(compare(t.label+": MB/s vs raw stream", r.metric(t.sw, "MB/s"), r.metric(t.raw, "MB/s"), "MB/s", mbps, t.byteGoal))
		if t.rawAllocating != "" {
			add(compare(t.label+": msgs/s vs raw stream allocating each message", r.metric(t.sw, suite.UnitMsgsPerSec), r.metric(t.rawAllocating, suite.UnitMsgsPerSec), "msgs/s", rate, nil))
		}
		add(compare(t.label+": delivery p50 under load", r.metric(t.sw, suite.UnitP50), r.metric(t.raw, suite.UnitP50), "ns", dur, nil))
		add(compare(t.label+": delivery p99 under load", r.metric(t.sw, suite.UnitP99), r.metric(t.raw, suite.UnitP99), "ns", dur, nil))
		add(compare(t.label+": allocs/msg (whole process)", r.metric(t.sw, "allocs/op"), r.metric(t.raw, "allocs/op"), "allocs", plain, nil))
	}
	add(compare("1 channel 256 B, TLS, lending: msgs/s vs raw stream", r.metric(tput256Lend, suite.UnitMsgsPerSec), r.metric(tput256Raw, suite.UnitMsgsPerSec), "msgs/s", rate, atLeast(0.7, "≥ 0.70× raw")))
	add(compare("1 channel 256 B, TLS, lending: msgs/s vs Receive", r.metric(tput256Lend, suite.UnitMsgsPerSec), r.metric(tput256Switch, suite.UnitMsgsPerSec), "msgs/s", rate, nil))
	add(compare("1 channel 64 KiB, TLS, lending: MB/s vs raw stream", r.metric(tput64KLend, "MB/s"), r.metric(tput64KRaw, "MB/s"), "MB/s", mbps, atLeast(0.9, "≥ 0.90× raw")))
	add(compare("1 channel 64 KiB, TLS, lending: MB/s vs Receive", r.metric(tput64KLend, "MB/s"), r.metric(tput64KSwitch, "MB/s"), "MB/s", mbps, nil))
	for _, p := range []struct {
		label, path, raw string
	}{
		{"256 B send path (Switch to raw host)", sendPath256, tput256Raw},
		{"256 B receive path (raw host to Receive)", recvPath256, tput256Raw},
		{"256 B receive path (raw host to a lending handler)", lendPath256, tput256Raw},
		{"64 KiB send path (Switch to raw host)", sendPath64K, tput64KRaw},
		{"64 KiB receive path (raw host to Receive)", recvPath64K, tput64KRaw},
		{"64 KiB receive path (raw host to a lending handler)", lendPath64K, tput64KRaw},
	} {
		add(compare(p.label+": msgs/s vs raw stream", r.metric(p.path, suite.UnitMsgsPerSec), r.metric(p.raw, suite.UnitMsgsPerSec), "msgs/s", rate, nil))
		add(compare(p.label+": allocs/msg vs raw stream", r.metric(p.path, "allocs/op"), r.metric(p.raw, "allocs/op"), "allocs", plain, nil))
		add(compare(p.label+": bytes allocated/msg vs raw stream", r.metric(p.path, "B/op"), r.metric(p.raw, "B/op"), "B", bytesize, nil))
	}
	add(compare("echo 256 B, lending: p50 round trip vs raw stream", r.metric(echoLend, suite.UnitP50), r.metric(echoRaw, suite.UnitP50), "ns", dur, atMost(1, "≤ 1.0× raw")))
	add(compare("echo 256 B, lending: p99 round trip vs raw stream", r.metric(echoLend, suite.UnitP99), r.metric(echoRaw, suite.UnitP99), "ns", dur, nil))
	add(compare("echo 256 B: p50 round trip vs raw stream", r.metric(echoSwitch, suite.UnitP50), r.metric(echoRaw, suite.UnitP50), "ns", dur, atMost(1.5, "≤ 1.5× raw")))
	add(compare("echo 256 B: p99 round trip vs raw stream", r.metric(echoSwitch, suite.UnitP99), r.metric(echoRaw, suite.UnitP99), "ns", dur, nil))
	add(compare("echo 256 B: round trips/s vs raw stream", r.metric(echoSwitch, suite.UnitRoundTripsPerSec), r.metric(echoRaw, suite.UnitRoundTripsPerSec), "rtt/s", rate, nil))
	add(compare("echo 256 B: p50 vs stream-per-message", r.metric(echoSwitch, suite.UnitP50), r.metric(echoSPM, suite.UnitP50), "ns", dur, nil))
	add(compare("echo 256 B: p99 vs stream-per-message", r.metric(echoSwitch, suite.UnitP99), r.metric(echoSPM, suite.UnitP99), "ns", dur, nil))
	add(compare("echo 256 B: round trips/s vs stream-per-message", r.metric(echoSwitch, suite.UnitRoundTripsPerSec), r.metric(echoSPM, suite.UnitRoundTripsPerSec), "rtt/s", rate, nil))
	add(compare("one sender 256 B: msgs/s vs stream-per-message", r.metric(tput256Switch, suite.UnitMsgsPerSec), r.metric(tput256SPM, suite.UnitMsgsPerSec), "msgs/s", rate, atLeast(20, "≥ 20× stream-per-msg")))
	add(compare("broadcast 1 KiB to 8: time until all received, vs raw streams", r.metric(broadcast8, "ns/op"), r.metric(broadcast8Raw, "ns/op"), "ns", dur, nil))
	add(compare("broadcast 1 KiB to 32: time until all received, vs raw streams", r.metric(broadcast32, "ns/op"), r.metric(broadcast32Raw, "ns/op"), "ns", dur, nil))
	add(compare("broadcast 1 KiB to 32: per-peer cost, vs raw streams", r.metric(broadcast32, suite.UnitNsPerPeer), r.metric(broadcast32Raw, suite.UnitNsPerPeer), "ns", dur, nil))
	add(compare("broadcast 1 KiB: per-peer cost at 32 vs at 8", r.metric(broadcast32, suite.UnitNsPerPeer), r.metric(broadcast8, suite.UnitNsPerPeer), "ns", dur, atMost(1.25, "linear (≤ 1.25×)")))
	add(compare("broadcast 1 KiB to 32: encodes per Broadcast", r.metric(broadcast32, suite.UnitEncodesPerOp), none, "encodes", plain, atMost(1, "encoded once")))
	add(compare("broadcast 1 KiB to 8: encodes per Broadcast", r.metric(broadcast8, suite.UnitEncodesPerOp), none, "encodes", plain, atMost(1, "encoded once")))
	add(compare(fmt.Sprintf("idle peer, 4 channels (%d peers): Switch's heap share", idlePeers), r.metric(idleHeap32, suite.UnitSwitchHeapPerPeer), none, "B", bytesize, atMost(64<<10, "< 64 KiB")))
	add(compare("idle peer: whole heap vs libp2p connection alone", r.metric(idleHeap32, suite.UnitHeapPerPeer), r.metric(idleHeap32, suite.UnitRawHeapPerPeer), "B", bytesize, nil))
	add(compare("idle peer: goroutine stacks vs libp2p alone (not heap)", r.metric(idleHeap32, suite.UnitStackPerPeer), r.metric(idleHeap32, suite.UnitRawStackPerPeer), "B", bytesize, nil))
	add(compare("idle peer: goroutines", r.metric(idleHeap32, suite.UnitGoroutinesPerPeer), none, "goroutines", plain, nil))
	return rows
}

// printTable writes the rows whose figures were measured: a row with a
// baseline is left out unless both sides ran. With ranges, a column shows
// each ratio's range over the rounds.
func printTable(w io.Writer, rows []comparison, ranges bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if ranges {
		fmt.Fprintln(tw, "CASE\tSWITCH\tBASELINE\tRATIO\tRANGE\tGOAL\tMET")
	} else {
		fmt.Fprintln(tw, "CASE\tSWITCH\tBASELINE\tRATIO\tGOAL\tMET")
	}
	for _, c := range rows {
		if math.IsNaN(c.Switch) || c.hasBaseline && math.IsNaN(c.Baseline) {
			continue
		}
		cols := []string{c.Case, c.format(c.Switch), orDash(c.format, c.Baseline), ratio(c.Ratio)}
		if ranges {
			rng := "-"
			if c.RatioMax > 0 && !math.IsInf(c.RatioMax, 0) {
				rng = fmt.Sprintf("%.2f–%.2f", c.RatioMin, c.RatioMax)
			}
			cols = append(cols, rng)
		}
		cols = append(cols, orEmpty(c.Goal), orEmpty(c.Met))
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

// ratio formats a ratio, "-" when there is none (or the baseline is 0).
func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", v)
}

func orDash(f func(float64) string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return f(v)
}

func orEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Formats of the table's values.
var (
	rate = suite.FormatRate
	mbps = suite.FormatMBps
	dur  = suite.FormatDuration
)

func bytesize(v float64) string {
	if math.Abs(v) >= 1<<10 {
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func plain(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// describe is a one-line summary of a result for the progress lines.
func describe(res testing.BenchmarkResult) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("N=%d", res.N), dur(float64(res.NsPerOp()))+"/op")
	for _, unit := range []string{suite.UnitMsgsPerSec, suite.UnitRoundTripsPerSec, suite.UnitP50, suite.UnitNsPerPeer, suite.UnitSwitchHeapPerPeer} {
		v, ok := res.Extra[unit]
		if !ok {
			continue
		}
		switch unit {
		case suite.UnitMsgsPerSec, suite.UnitRoundTripsPerSec:
			parts = append(parts, rate(v))
		case suite.UnitSwitchHeapPerPeer:
			parts = append(parts, "switch heap "+bytesize(v)+"/peer")
		case suite.UnitP50:
			parts = append(parts, "p50 "+dur(v))
		default:
			parts = append(parts, dur(v)+"/peer")
		}
	}
	return strings.Join(parts, ", ")
}
