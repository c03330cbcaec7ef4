package suite

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// The formats the benchmark commands (examples/bench, examples/mconnbench)
// print their figures in.

// FormatRate formats a rate per second: "2.03 M/s", "14.4 k/s", "12 /s".
func FormatRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k/s", v/1e3)
	}
	return fmt.Sprintf("%.0f /s", v)
}

// FormatMBps formats megabytes (10^6 bytes) per second: "945 MB/s".
func FormatMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }

// FormatDuration formats nanoseconds with three significant figures or so:
// "1.25 s", "7.80 ms", "23.8 µs", "412 ns".
func FormatDuration(v float64) string {
	d := time.Duration(v)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%d ns", d.Nanoseconds())
}

// LoadAverage returns the machine's 1, 5 and 15 minute load averages as
// /proc/loadavg has them ("0.35 1.17 1.12"), or "" where it cannot be read.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
