package suite

import (
	"flag"
	"fmt"
	"regexp"
	"testing"
)

// RunFlags are the flags of a benchmark command (examples/bench,
// examples/mconnbench): how long each case runs, how many rounds, which
// cases.
type RunFlags struct {
	Benchtime string
	Count     int
	Only      string
}

// Register adds -benchtime, -count and -only to fs; countUsage describes
// -count for the command.
func (f *RunFlags) Register(fs *flag.FlagSet, countUsage string) {
	fs.StringVar(&f.Benchtime, "benchtime", "1s", "run each case for this long (a duration) or this many iterations (Nx)")
	fs.IntVar(&f.Count, "count", 1, countUsage)
	fs.StringVar(&f.Only, "only", "", "run only the cases whose names match this regexp")
}

// Apply checks the parsed flags (and that fs has no arguments left), sets
// -test.benchtime, which testing.Benchmark reads, and returns which of names
// -only selects, in order; it fails if none.
func (f *RunFlags) Apply(fs *flag.FlagSet, names []string) ([]int, error) {
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if f.Count < 1 {
		return nil, fmt.Errorf("-count %d: want at least 1", f.Count)
	}
	filter, err := regexp.Compile(f.Only)
	if err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	testing.Init() // registers -test.benchtime
	if err := flag.Set("test.benchtime", f.Benchtime); err != nil {
		return nil, fmt.Errorf("-benchtime: %w", err)
	}
	var picked []int
	for i, name := range names {
		if filter.MatchString(name) {
			picked = append(picked, i)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("-only %q matches no case", f.Only)
	}
	return picked, nil
}

// Pick is Apply for a command's cases: it returns those of all whose names
// -only selects, in order.
func Pick[C any](f *RunFlags, fs *flag.FlagSet, all []C, name func(C) string) ([]C, error) {
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = name(c)
	}
	picked, err := f.Apply(fs, names)
	if err != nil {
		return nil, err
	}
	cases := make([]C, len(picked))
	for i, k := range picked {
		cases[i] = all[k]
	}
	return cases, nil
}
