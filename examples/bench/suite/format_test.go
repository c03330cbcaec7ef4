package suite

import "testing"

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FormatRate(2_030_000), "2.03 M/s"},
		{FormatRate(14_400), "14.4 k/s"},
		{FormatRate(12), "12 /s"},
		{FormatMBps(945.2), "945 MB/s"},
		{FormatDuration(1.25e9), "1.25 s"},
		{FormatDuration(7.8e6), "7.80 ms"},
		{FormatDuration(23_800), "23.8 µs"},
		{FormatDuration(412), "412 ns"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
