package p2p

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// snapshot returns the book as its file (mutex held), with the change count
// it reflects.
func (a *AddrBook) snapshot() (*addrBookFile, uint64) {
	f := &addrBookFile{Version: addrBookVersion, Key: hex.EncodeToString(a.key)}
	for _, ka := range a.allEntries() {
		fe := fileEntry{
			Addr: ka.Addr.String(), BucketType: "new", Buckets: slices.Clone(ka.Buckets),
			Attempts: ka.Attempts, LastAttempt: ka.LastAttempt, LastSuccess: ka.LastSuccess, LastSeen: ka.LastSeen,
		}
		if !ka.Src.Equals(ka.Addr) {
			fe.Src = ka.Src.String()
		}
		if ka.isOld() {
			fe.BucketType = "old"
		}
		f.Addrs = append(f.Addrs, fe)
	}
	now := a.cfg.now()
	for k, until := range a.bans {
		if until.After(now) {
			f.Bans = append(f.Bans, fileBan{Key: keyText(k), Until: until})
		}
	}
	slices.SortFunc(f.Bans, func(x, y fileBan) int { return strings.Compare(x.Key, y.Key) })
	return f, a.changes
}

// Save writes the book to its file now, crash-safely: into a temporary file
// in the same directory, synced, renamed over the file, and the directory
// synced, so the path always holds a whole book. It does nothing for a book
// without file, fails with ErrAddrBookNotStarted before Start (the file is
// not loaded yet), and fails when Start found a file it could not keep aside.
// It blocks for the write; the book stays usable meanwhile.
func (a *AddrBook) Save() error {
	return a.save(false)
}

func (a *AddrBook) saveIfChanged() error {
	return a.save(true)
}

func (a *AddrBook) save(onlyIfChanged bool) error {
	if a.filePath == "" {
		return nil
	}
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mtx.Lock()
	switch {
	case !a.loaded:
		a.mtx.Unlock()
		return ErrAddrBookNotStarted
	case a.saveDisabled != nil:
		a.mtx.Unlock()
		return fmt.Errorf("addrbook: not saving: %w", a.saveDisabled)
	case onlyIfChanged && a.changes == a.savedChanges:
		a.mtx.Unlock()
		return nil
	}
	f, changes := a.snapshot()
	a.mtx.Unlock()

	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("addrbook: encoding: %w", err)
	}
	data = append(data, '\n')
	if err := writeFileAtomic(a.filePath, data, a.fs.rename); err != nil {
		return fmt.Errorf("addrbook: saving %s: %w", a.filePath, err)
	}
	a.mtx.Lock()
	a.savedChanges = max(a.savedChanges, changes)
	a.mtx.Unlock()
	log.Debugw("saved address book", "file", a.filePath, "size", len(f.Addrs))
	return nil
}

// writeFileAtomic replaces path with data so that path holds either the old
// or the new contents, whole, whenever the machine stops.
func writeFileAtomic(path string, data []byte, rename func(string, string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeNewFile writes data to a new file at path (failing if one exists).
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
