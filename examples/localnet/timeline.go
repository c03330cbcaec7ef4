package main

import (
	"slices"
	"time"
)

// Sample is the outbound peer count of every node at one moment of the run
// (discovery, then propagation).
type Sample struct {
	At       time.Duration // since PEX started
	Outbound []int         // per node
}

// sample records the outbound peer counts at a moment of the run, unless
// they are the ones recorded last: the timeline holds the changes only.
func (r *Result) sample(at time.Duration, outbound []int) {
	if n := len(r.Timeline); n > 0 && slices.Equal(r.Timeline[n-1].Outbound, outbound) {
		return
	}
	r.Timeline = append(r.Timeline, Sample{At: at, Outbound: slices.Clone(outbound)})
}

// endTimeline repeats the last sample at end (the end of the measurements),
// so that the timeline spans the whole run.
func (r *Result) endTimeline(end time.Duration) {
	if n := len(r.Timeline); n > 0 && r.Timeline[n-1].At < end {
		r.Timeline = append(r.Timeline, Sample{At: end, Outbound: r.Timeline[n-1].Outbound})
	}
}
