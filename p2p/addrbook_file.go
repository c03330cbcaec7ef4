package p2p

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"
)

// Errors of loading the book's file, reported by LoadErr. Each LoadErr wraps
// ErrAddrBookFile and one cause.
var (
	// ErrAddrBookFile is wrapped by every error LoadErr returns.
	ErrAddrBookFile = errors.New("addrbook: bad address book file")
	// ErrAddrBookCorrupt: the file is empty, truncated, too large or not the
	// book's JSON (including a value of the wrong JSON type). It was moved
	// aside.
	ErrAddrBookCorrupt = errors.New("addrbook: corrupt file")
	// ErrAddrBookVersion: the file has no version or another one than this
	// code writes. It was moved aside.
	ErrAddrBookVersion = errors.New("addrbook: unsupported file version")
	// ErrAddrBookNotFile: something else than a regular file (e.g. a
	// directory) is at the path. It was moved aside.
	ErrAddrBookNotFile = errors.New("addrbook: not a regular file")
	// ErrAddrBookInvalidEntry: some entries were invalid (a bad address, a
	// bucket out of range or overfull, a duplicate, ...). They were dropped one
	// by one, the others loaded, and the file copied aside.
	ErrAddrBookInvalidEntry = errors.New("addrbook: invalid entries")
)

const (
	// addrBookVersion is the version of the file format written.
	addrBookVersion = 1
	// maxAddrBookFileSize bounds what Start reads; a full book is ~10 MB.
	maxAddrBookFileSize = 64 << 20
	// maxKeyLen bounds the secret read from a file.
	maxKeyLen = 64
	tempInfix = ".tmp-"
	badInfix  = ".bad-"
)

var errFileTooLarge = fmt.Errorf("larger than %d bytes", maxAddrBookFileSize)

// addrBookFile is the JSON file:
//
//	{"version": 1, "key": "<hex secret>",
//	 "addrs": [{"addr": "<id>@1.2.3.4:26656", "src": "...", "bucket_type": "new",
//	            "buckets": [17, 203], "attempts": 1, "last_attempt": "<RFC 3339>",
//	            "last_success": "...", "last_seen": "..."}],
//	 "bans": [{"key": "<peer ID or ip:port>", "until": "<RFC 3339>"}]}
type addrBookFile struct {
	Version int         `json:"version"`
	Key     string      `json:"key"`
	Addrs   []fileEntry `json:"addrs"`
	Bans    []fileBan   `json:"bans,omitempty"`
}

type fileEntry struct {
	Addr        string    `json:"addr"`
	Src         string    `json:"src,omitempty"`
	BucketType  string    `json:"bucket_type"`
	Buckets     []int     `json:"buckets"`
	Attempts    int32     `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
}

type fileBan struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
}

// fileOps are the file operations a test may make fail.
type fileOps struct {
	rename   func(oldpath, newpath string) error
	readFile func(name string) ([]byte, error)
}

var osFileOps = fileOps{rename: os.Rename, readFile: readFileLimited}

// restoreData decodes a file's contents into the book. err (wrapping
// ErrAddrBookCorrupt or ErrAddrBookVersion) means nothing was loaded;
// invalid (wrapping ErrAddrBookInvalidEntry) that some entries were dropped.
// Entries already in the book are kept and placed again under the file's
// secret. It never panics, whatever data holds.
func (a *AddrBook) restoreData(data []byte) (invalid, err error) {
	f, err := decodeAddrBookFile(data)
	if err != nil {
		return nil, err
	}
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return a.restore(f), nil
}

func decodeAddrBookFile(data []byte) (*addrBookFile, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: empty file", ErrAddrBookCorrupt)
	case len(data) > maxAddrBookFileSize:
		return nil, fmt.Errorf("%w: %w", ErrAddrBookCorrupt, errFileTooLarge)
	case trimmed[0] != '{':
		return nil, fmt.Errorf("%w: not a JSON object", ErrAddrBookCorrupt)
	}
	var v struct {
		Version *json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAddrBookCorrupt, err)
	}
	if v.Version == nil {
		return nil, fmt.Errorf("%w: no version", ErrAddrBookVersion)
	}
	if string(*v.Version) != strconv.Itoa(addrBookVersion) {
		return nil, fmt.Errorf("%w: version %.20s, want %d", ErrAddrBookVersion, *v.Version, addrBookVersion)
	}
	var f addrBookFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAddrBookCorrupt, err)
	}
	key, err := hex.DecodeString(f.Key)
	if err != nil || len(key) == 0 || len(key) > maxKeyLen {
		return nil, fmt.Errorf("%w: bad key: want 1 to %d hex bytes", ErrAddrBookCorrupt, maxKeyLen)
	}
	return &f, nil
}

// restore loads f into the book (mutex held) and returns an error wrapping
// ErrAddrBookInvalidEntry if it dropped entries.
func (a *AddrBook) restore(f *addrBookFile) error {
	key, _ := hex.DecodeString(f.Key) // checked by decodeAddrBookFile
	previous := a.allEntries()
	a.key = key
	a.entries = make(map[string]*knownAddress)
	a.bucketsNew = [newBucketCount][]*knownAddress{}
	a.bucketsOld = [oldBucketCount][]*knownAddress{}
	a.nNew, a.nOld = 0, 0
	clear(a.newBySource)

	now := a.cfg.now()
	var (
		dropped, droppedBans int
		first                error
	)
	for i, b := range f.Bans {
		key, ok := keyFromText(b.Key)
		if !ok {
			droppedBans++
			if first == nil {
				first = fmt.Errorf("ban %d: bad key %.80q", i, b.Key)
			}
			continue
		}
		if b.Until.After(now) && b.Until.After(a.bans[key]) {
			a.bans[key] = b.Until
		}
	}
	a.pruneBans()

	for i, fe := range f.Addrs {
		if i >= maxBookEntries {
			dropped += len(f.Addrs) - i
			if first == nil {
				first = fmt.Errorf("more than %d entries", maxBookEntries)
			}
			break
		}
		err := a.restoreEntry(fe, now)
		if err == nil || errors.Is(err, errSkipEntry) {
			continue
		}
		dropped++
		if first == nil {
			first = fmt.Errorf("entry %d: %w", i, err)
		}
	}

	// Entries added before Start are placed again under the file's secret.
	for _, ka := range previous {
		if a.entries[ka.key] != nil {
			continue
		}
		wasOld := ka.isOld()
		ka.Buckets, ka.Type = nil, bucketNew
		a.addToNewBucket(ka, a.calcNewBucket(ka.Addr, ka.Src))
		if wasOld {
			a.moveToOld(ka)
		}
	}
	a.savedChanges = a.changes
	if len(previous) > 0 || dropped > 0 || droppedBans > 0 {
		a.changed() // so that the next save writes the cleaned book
	}
	if dropped > 0 || droppedBans > 0 {
		return fmt.Errorf("%w: dropped %d of %d addresses and %d of %d bans: %w",
			ErrAddrBookInvalidEntry, dropped, len(f.Addrs), droppedBans, len(f.Bans), first)
	}
	return nil
}

// errSkipEntry marks a valid entry that is not loaded (ours, or banned).
var errSkipEntry = errors.New("skipped")

// restoreEntry checks one entry of the file and puts it in its buckets.
func (a *AddrBook) restoreEntry(fe fileEntry, now time.Time) error {
	addr, err := ParseNetAddress(fe.Addr)
	if err != nil {
		return err
	}
	if !addr.Valid() {
		return fmt.Errorf("address %s is not valid", addr)
	}
	if a.cfg.strict && !addr.Routable() {
		return fmt.Errorf("address %s is not routable and the book is strict", addr)
	}
	src := addr
	if fe.Src != "" {
		if src, err = ParseNetAddress(fe.Src); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if !validSource(src) {
			return fmt.Errorf("source %s is not valid", src)
		}
	}
	key := entryKey(addr)
	if a.entries[key] != nil {
		return fmt.Errorf("duplicate entry for %s", key)
	}
	if fe.Attempts < 0 {
		return fmt.Errorf("negative attempts %d", fe.Attempts)
	}
	if a.isOurs(addr) || a.banned(key, now) {
		return errSkipEntry
	}
	ka := &knownAddress{
		key: key, Addr: addr, Src: src, srcGroup: a.groupKey(src),
		Attempts: fe.Attempts, LastAttempt: fe.LastAttempt, LastSuccess: fe.LastSuccess, LastSeen: fe.LastSeen,
	}
	switch fe.BucketType {
	case "new":
		if len(fe.Buckets) == 0 || len(fe.Buckets) > maxNewBucketsPerAddress {
			return fmt.Errorf("a new entry is in %d buckets, want 1 to %d", len(fe.Buckets), maxNewBucketsPerAddress)
		}
		for i, idx := range fe.Buckets {
			switch {
			case idx < 0 || idx >= newBucketCount:
				return fmt.Errorf("new bucket %d out of range", idx)
			case slices.Contains(fe.Buckets[:i], idx):
				return fmt.Errorf("new bucket %d listed twice", idx)
			case len(a.bucketsNew[idx]) >= newBucketSize:
				return fmt.Errorf("new bucket %d overfull", idx)
			}
		}
		ka.Type = bucketNew
		for _, idx := range fe.Buckets {
			a.bucketsNew[idx] = append(a.bucketsNew[idx], ka)
		}
		a.countNew(ka, +1)
	case "old":
		if len(fe.Buckets) != 1 {
			return fmt.Errorf("an old entry is in %d buckets, want 1", len(fe.Buckets))
		}
		idx := fe.Buckets[0]
		switch want := a.calcOldBucket(addr); {
		case idx != want:
			return fmt.Errorf("old bucket %d is not the address's (%d)", idx, want)
		case len(a.bucketsOld[idx]) >= oldBucketSize:
			return fmt.Errorf("old bucket %d overfull", idx)
		}
		ka.Type = bucketOld
		a.bucketsOld[idx] = append(a.bucketsOld[idx], ka)
		a.nOld++
	default:
		return fmt.Errorf("bucket type %.20q, want \"new\" or \"old\"", fe.BucketType)
	}
	ka.Buckets = slices.Clone(fe.Buckets)
	a.entries[key] = ka
	return nil
}
