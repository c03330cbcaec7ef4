package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// outputFile is a file written whole or not at all. It is created as a
// temporary file beside its path before the run (so that a path that cannot
// be written fails before the network runs, not after) and renamed onto the
// path once written.
type outputFile struct {
	path string
	tmp  *os.File
}

// createOutput makes the temporary file for path.
func createOutput(path string) (*outputFile, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &outputFile{path: path, tmp: tmp}, nil
}

// commit writes the file with write, syncs it and renames it onto its
// path; on error the temporary file is removed.
func (f *outputFile) commit(write func(io.Writer) error) error {
	bw := bufio.NewWriter(f.tmp)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.tmp.Chmod(0o644) // CreateTemp's 0600 is for secrets; a report is not one
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// discard removes the temporary file.
func (f *outputFile) discard() {
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// reports are the -report and -report-json files of a run; either may be
// nil.
type reports struct {
	html, json *outputFile
}

// openReports creates the report files cfg asks for.
func openReports(cfg Config) (*reports, error) {
	var r reports
	var err error
	if cfg.Report != "" {
		if r.html, err = createOutput(cfg.Report); err != nil {
			return nil, fmt.Errorf("-report: %w", err)
		}
	}
	if cfg.ReportJSON != "" {
		if r.json, err = createOutput(cfg.ReportJSON); err != nil {
			r.discard()
			return nil, fmt.Errorf("-report-json: %w", err)
		}
	}
	return &r, nil
}

// write writes rep to the report files and says where to out.
func (r *reports) write(rep *Report, out io.Writer) error {
	var errs []error
	if r.html != nil {
		if err := r.html.commit(func(w io.Writer) error { return writeHTML(w, rep) }); err != nil {
			errs = append(errs, fmt.Errorf("-report: %w", err))
		} else {
			fmt.Fprintf(out, "report written to %s\n", r.html.path)
		}
	}
	if r.json != nil {
		if err := r.json.commit(func(w io.Writer) error { return writeJSON(w, rep) }); err != nil {
			errs = append(errs, fmt.Errorf("-report-json: %w", err))
		} else {
			fmt.Fprintf(out, "report data written to %s\n", r.json.path)
		}
	}
	return errors.Join(errs...)
}

// discard removes the report files' temporary files.
func (r *reports) discard() {
	for _, f := range []*outputFile{r.html, r.json} {
		if f != nil {
			f.discard()
		}
	}
}

// writeJSON writes rep as JSON.
func writeJSON(w io.Writer, rep *Report) error {
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	return nil
}
