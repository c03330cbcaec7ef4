package p2p

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func readFileLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAddrBookFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAddrBookFileSize {
		return nil, errFileTooLarge
	}
	return data, nil
}

// load reads the book's file at Start (see Start for what it does with a bad
// one).
func (a *AddrBook) load() {
	path := a.filePath
	a.removeStaleTemps()
	defer func() {
		a.mtx.Lock()
		a.loaded = true
		a.mtx.Unlock()
	}()
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		a.cannotLoad(err)
		return
	case !fi.Mode().IsRegular():
		a.badFile(fmt.Errorf("%w: its type is %v", ErrAddrBookNotFile, fi.Mode().Type()), nil)
		return
	}
	data, err := a.fs.readFile(path)
	switch {
	case errors.Is(err, errFileTooLarge):
		a.badFile(fmt.Errorf("%w: %w", ErrAddrBookCorrupt, err), nil)
		return
	case err != nil:
		a.cannotLoad(err)
		return
	}
	invalid, err := a.restoreData(data)
	switch {
	case err != nil:
		a.badFile(err, nil)
	case invalid != nil:
		a.badFile(invalid, data)
	}
	log.Infow("loaded address book", "file", path, "size", a.Size())
}

// cannotLoad handles a file that could not be read: the book starts empty and
// does not save, so as not to overwrite what it could not read.
func (a *AddrBook) cannotLoad(err error) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	a.loadErr = fmt.Errorf("%w: %s: %w", ErrAddrBookFile, a.filePath, err)
	a.saveDisabled = a.loadErr
	log.Errorw("cannot read the address book; it will not be saved", "file", a.filePath, "error", err)
}

// badFile reports a bad file and keeps it aside: it moves the file to
// <path>.bad-<timestamp> or, when keep holds its contents (the valid entries
// were loaded and the next save replaces the file), writes a copy there. If
// that fails the book does not save, so the bad file stays in place.
func (a *AddrBook) badFile(cause error, keep []byte) {
	path := a.filePath
	aside := a.asidePath()
	var err error
	if keep == nil {
		err = a.fs.rename(path, aside)
	} else {
		err = writeNewFile(aside, keep)
	}
	a.mtx.Lock()
	defer a.mtx.Unlock()
	if err != nil {
		a.loadErr = fmt.Errorf("%w: %s: %w (keeping it aside failed, so the book will not be saved: %v)", ErrAddrBookFile, path, cause, err)
		a.saveDisabled = a.loadErr
		log.Errorw("bad address book file, which could not be kept aside; the book will not be saved", "file", path, "error", cause, "aside_error", err)
		return
	}
	a.loadErr = fmt.Errorf("%w: %s (kept as %s): %w", ErrAddrBookFile, path, aside, cause)
	log.Warnw("bad address book file; kept a copy", "file", path, "copy", aside, "error", cause)
}

// asidePath returns an unused <path>.bad-<timestamp>[-n].
func (a *AddrBook) asidePath() string {
	base := a.filePath + badInfix + a.cfg.now().UTC().Format("20060102T150405.000000000Z")
	p := base
	for i := 1; i < 1000; i++ {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			break
		}
		p = base + "-" + strconv.Itoa(i)
	}
	return p
}

// removeStaleTemps removes temporary files left by a save that crashed.
func (a *AddrBook) removeStaleTemps() {
	dir, base := filepath.Split(a.filePath)
	if dir == "" {
		dir = "."
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), base+tempInfix) && de.Type().IsRegular() {
			p := filepath.Join(dir, de.Name())
			if err := os.Remove(p); err == nil {
				log.Infow("removed temporary file of an interrupted save", "file", p)
			}
		}
	}
}
