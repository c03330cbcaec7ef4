package suite

import (
	"math/bits"
	"time"
)

// histogram records durations in logarithmic buckets with 32 sub-buckets
// per power of two (about 3% resolution) in constant memory. It is not safe
// for concurrent use: each benchmark records from one goroutine.
type histogram struct {
	counts [64 * subBuckets]uint64
	n      uint64
}

const (
	subBits    = 5
	subBuckets = 1 << subBits
)

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // keep the top subBits+1 bits
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketMid is the middle of bucket i's range of values.
func bucketMid(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	lo := uint64(i%subBuckets+subBuckets) << shift
	return lo + (uint64(1)<<shift)/2
}

// record adds one duration (negative ones count as zero).
func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
	h.n++
}

// count is the number of recorded durations.
func (h *histogram) count() uint64 { return h.n }

// quantile returns the q-quantile (0 < q ≤ 1) of the recorded durations, or
// 0 if none were recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return 0 // unreachable: the counts add up to n
}

// Metric units reported by the latency-measuring benchmarks.
const (
	UnitP50 = "p50-ns"
	UnitP99 = "p99-ns"
)

// report adds the histogram's p50 and p99 to b's metrics.
func (h *histogram) report(b interface {
	ReportMetric(float64, string)
}) {
	if h.n == 0 {
		return
	}
	b.ReportMetric(float64(h.quantile(0.50)), UnitP50)
	b.ReportMetric(float64(h.quantile(0.99)), UnitP99)
}
