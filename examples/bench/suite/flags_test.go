package suite

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestRunFlags(t *testing.T) {
	names := []string{"throughput/256B", "echo/256B", "throughput/64KiB"}
	parse := func(args ...string) ([]int, error) {
		t.Helper()
		defer keepBenchtime(t)()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var rf RunFlags
		rf.Register(fs, "rounds")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return rf.Apply(fs, names)
	}
	if got, err := parse("-only", "throughput"); err != nil || !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("-only throughput: %v, %v", got, err)
	}
	defer keepBenchtime(t)()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var rf RunFlags
	rf.Register(fs, "rounds")
	if err := fs.Parse([]string{"-only", "echo"}); err != nil {
		t.Fatal(err)
	}
	if got, err := Pick(&rf, fs, names, func(n string) string { return n }); err != nil || !slices.Equal(got, []string{"echo/256B"}) {
		t.Fatalf("Pick -only echo: %v, %v", got, err)
	}
	for _, bad := range [][]string{
		{"-count", "0"}, {"-only", "("}, {"-only", "nothing"}, {"-benchtime", "soon"}, {"extra"},
	} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// keepBenchtime restores -test.benchtime, which Apply sets.
func keepBenchtime(t *testing.T) func() {
	testing.Init()
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	return func() {
		if err := f.Value.Set(old); err != nil {
			t.Fatal(err)
		}
	}
}
