package suite

import (
	"testing"
	"time"
)

func TestHistogramQuantilesAreWithinThreePercent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values func(i int) time.Duration
		n      int
		p50    time.Duration
		p99    time.Duration
	}{
		{"uniform 1..1000 µs", func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond }, 1000, 500 * time.Microsecond, 990 * time.Microsecond},
		{"constant 9.5 µs", func(int) time.Duration { return 9500 * time.Nanosecond }, 100, 9500 * time.Nanosecond, 9500 * time.Nanosecond},
		{"small exact values", func(i int) time.Duration { return time.Duration(i % 10) }, 1000, 4, 9},
		{"one slow outlier in 100", func(i int) time.Duration {
			if i == 0 {
				return time.Second
			}
			return time.Millisecond
		}, 100, time.Millisecond, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for i := range tc.n {
				h.record(tc.values(i))
			}
			if h.count() != uint64(tc.n) {
				t.Fatalf("count %d, want %d", h.count(), tc.n)
			}
			for _, q := range []struct {
				q    float64
				want time.Duration
			}{{0.5, tc.p50}, {0.99, tc.p99}} {
				got := h.quantile(q.q)
				if diff := (got - q.want).Abs(); float64(diff) > 0.03*float64(q.want) {
					t.Errorf("quantile(%v) = %s, want %s ± 3%%", q.q, got, q.want)
				}
			}
		})
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	var h histogram
	if got := h.quantile(0.5); got != 0 {
		t.Fatalf("empty histogram: quantile %s, want 0", got)
	}
	h.record(-time.Second) // clock oddities count as zero
	h.record(time.Duration(1<<63 - 1))
	if got := h.quantile(0.01); got != 0 {
		t.Errorf("lowest = %s, want 0", got)
	}
	if got := h.quantile(1); got < time.Duration(1<<62) {
		t.Errorf("highest = %s, want near the largest duration", got)
	}
}

func TestBucketsAreContiguousAndOrdered(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<16; v++ {
		i := bucketOf(v)
		if i != prev && i != prev+1 {
			t.Fatalf("value %d in bucket %d after bucket %d", v, i, prev)
		}
		if mid := bucketMid(i); float64(mid) < 0.96*float64(v) || float64(mid) > 1.04*float64(v)+1 {
			t.Fatalf("value %d: bucket %d middle %d is off by more than 4%%", v, i, mid)
		}
		prev = i
	}
}
