package p2p

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fillBook adds n addresses from various sources, promotes every third,
// records attempts on every fifth and bans one address.
func fillBook(t *testing.T, book *AddrBook, r *rand.Rand, n int) []*NetAddress {
	t.Helper()
	var addrs []*NetAddress
	for i := range n {
		a := randAddr(t, r, nil)
		if i%7 == 0 {
			a.ID = "" // some entries without peer ID
		}
		if i%11 == 0 {
			a = mustParse(t, fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", a.IP, a.Port))
		}
		if err := book.AddAddress(a, randAddr(t, r, routablePrefix(i%50))); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	for i, a := range addrs {
		if i%5 == 0 {
			book.MarkAttempt(a)
		}
		if i%3 == 0 {
			book.MarkGood(a)
		}
	}
	book.MarkBad(randAddr(t, r, nil))
	book.MarkBad(mustParse(t, "9.9.9.9:9"))
	return addrs
}

// bookState describes every entry, bucket and ban of a book, to compare books.
func bookState(a *AddrBook) (entries []string, buckets []string, bans []string) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for k, ka := range a.entries {
		entries = append(entries, fmt.Sprintf("%s addr=%s src=%s type=%d buckets=%v attempts=%d last_attempt=%s last_success=%s last_seen=%s",
			k, ka.Addr, ka.Src, ka.Type, ka.Buckets, ka.Attempts, ts(ka.LastAttempt), ts(ka.LastSuccess), ts(ka.LastSeen)))
	}
	for i, b := range a.bucketsNew {
		for _, ka := range b {
			buckets = append(buckets, fmt.Sprintf("new %d %s", i, ka.key))
		}
	}
	for i, b := range a.bucketsOld {
		for _, ka := range b {
			buckets = append(buckets, fmt.Sprintf("old %d %s", i, ka.key))
		}
	}
	for k, until := range a.bans {
		bans = append(bans, k+" "+ts(until))
	}
	slices.Sort(entries)
	slices.Sort(buckets)
	slices.Sort(bans)
	return entries, buckets, bans
}

func bookKey(a *AddrBook) []byte {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return slices.Clone(a.key)
}

func TestBookSurvivesStopAndStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	clock := newFakeClock()
	r := rand.New(rand.NewPCG(30, 30))
	book := NewAddrBook(path, WithBookClock(clock.now), WithBookRandSeed(1)) // random secret
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	fillBook(t, book, r, 600)
	checkInvariants(t, book)
	book.Stop()

	again := NewAddrBook(path, WithBookClock(clock.now), WithBookKey([]byte("another key")))
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if err := again.LoadErr(); err != nil {
		t.Fatalf("LoadErr = %v", err)
	}
	if !bytes.Equal(bookKey(again), bookKey(book)) {
		t.Error("the secret was not restored")
	}
	e1, b1, bans1 := bookState(book)
	e2, b2, bans2 := bookState(again)
	if !slices.Equal(e1, e2) {
		t.Errorf("entries differ after reload:\n%s\nvs\n%s", strings.Join(diff(e1, e2), "\n"), strings.Join(diff(e2, e1), "\n"))
	}
	if !slices.Equal(b1, b2) {
		t.Errorf("buckets differ after reload: %d vs %d placements", len(b1), len(b2))
	}
	if !slices.Equal(bans1, bans2) || len(bans1) != 2 {
		t.Errorf("bans differ after reload: %v vs %v", bans1, bans2)
	}
	n1, o1 := counts(book)
	n2, o2 := counts(again)
	if n1 != n2 || o1 != o2 || o1 == 0 {
		t.Errorf("new/old %d/%d before, %d/%d after", n1, o1, n2, o2)
	}
	checkInvariants(t, again)
	// The reloaded placement is the secret's: a re-promoted address lands
	// where the first book put it.
	if p := again.PickAddress(0); p == nil || !isOld(again, p) {
		t.Errorf("PickAddress(0) after reload = %v", p)
	}
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func TestStartAndStopAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	book := NewAddrBook(path, WithBookKey(testKey))
	if err := book.Save(); !errors.Is(err, ErrAddrBookNotStarted) {
		t.Errorf("Save before Start = %v, want ErrAddrBookNotStarted", err)
	}
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	if err := book.Start(); err != nil {
		t.Fatalf("second Start = %v", err)
	}
	if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
		t.Fatal(err)
	}
	book.Stop()
	book.Stop()
	if err := book.Start(); !errors.Is(err, ErrAddrBookStopped) {
		t.Errorf("Start after Stop = %v, want ErrAddrBookStopped", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Stop did not save: %v", err)
	}
	// The stopped book still answers, in memory.
	if !book.HasAddress(mustParse(t, "8.8.8.8:1")) || book.Size() != 1 {
		t.Error("a stopped book lost its entries")
	}

	// Stop without Start writes nothing: the file was never loaded.
	path2 := filepath.Join(t.TempDir(), "addrbook.json")
	unstarted := NewAddrBook(path2)
	if err := unstarted.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
		t.Fatal(err)
	}
	unstarted.Stop()
	if _, err := os.Stat(path2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stop without Start wrote the file: %v", err)
	}

	// An in-memory book starts, saves (nothing) and stops.
	mem := NewAddrBook("")
	if err := mem.Start(); err != nil {
		t.Fatal(err)
	}
	if err := mem.Save(); err != nil {
		t.Errorf("Save of an in-memory book = %v", err)
	}
	mem.Stop()
}

func TestMissingFileIsNotAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	if err := book.LoadErr(); err != nil || book.Size() != 0 {
		t.Errorf("LoadErr = %v, Size = %d", err, book.Size())
	}
	book.Stop()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an unchanged empty book was written: %v", err)
	}
}

// validFile returns the bytes of a saved book of n entries.
func validFile(t *testing.T, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.json")
	book := NewAddrBook(path, WithBookKey(testKey), WithBookRandSeed(1))
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	fillBook(t, book, rand.New(rand.NewPCG(31, 31)), n)
	book.Stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// asideFiles returns the files kept aside for path.
func asideFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + badInfix + "*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBadFileIsKeptAsideAndBookStartsEmpty(t *testing.T) {
	valid := validFile(t, 50)
	key := hex.EncodeToString(testKey)
	tests := []struct {
		name string
		data []byte // nil: a directory
		want error
	}{
		{"empty", []byte{}, ErrAddrBookCorrupt},
		{"whitespace", []byte(" \n\t"), ErrAddrBookCorrupt},
		{"truncated", valid[:len(valid)/2], ErrAddrBookCorrupt},
		{"truncated after version", []byte(`{"version": 1, "key": "` + key + `", "addrs": [{"addr": "8.8.8.8:1"`), ErrAddrBookCorrupt},
		{"corrupt JSON", []byte(`{"version": 1, "key": "00", "addrs": [}`), ErrAddrBookCorrupt},
		{"binary", []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe}, ErrAddrBookCorrupt},
		{"JSON array", []byte(`[1, 2, 3]`), ErrAddrBookCorrupt},
		{"JSON null", []byte(`null`), ErrAddrBookCorrupt},
		{"trailing garbage", append(slices.Clone(valid), "xyz"...), ErrAddrBookCorrupt},
		{"wrong JSON type", []byte(`{"version": 1, "key": "00", "addrs": [{"addr": "8.8.8.8:1", "attempts": "x"}]}`), ErrAddrBookCorrupt},
		{"bad time", []byte(`{"version": 1, "key": "00", "addrs": [{"addr": "8.8.8.8:1", "last_seen": "yesterday"}]}`), ErrAddrBookCorrupt},
		{"key not hex", []byte(`{"version": 1, "key": "zz", "addrs": []}`), ErrAddrBookCorrupt},
		{"no key", []byte(`{"version": 1, "addrs": []}`), ErrAddrBookCorrupt},
		{"key too long", []byte(`{"version": 1, "key": "` + strings.Repeat("ab", maxKeyLen+1) + `"}`), ErrAddrBookCorrupt},
		{"other version", []byte(`{"version": 2, "key": "00", "addrs": []}`), ErrAddrBookVersion},
		{"version 0", []byte(`{"version": 0, "key": "00"}`), ErrAddrBookVersion},
		{"version as string", []byte(`{"version": "1", "key": "00"}`), ErrAddrBookVersion},
		{"no version", []byte(`{"key": "00", "addrs": []}`), ErrAddrBookVersion},
		{"seed-era file (no version)", []byte(`{"Key": "00", "Addrs": []}`), ErrAddrBookVersion},
		{"directory", nil, ErrAddrBookNotFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "addrbook.json")
			if tt.data == nil {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			book := NewAddrBook(path, WithBookKey(testKey))
			if err := book.Start(); err != nil {
				t.Fatalf("Start = %v, want the node to start", err)
			}
			loadErr := book.LoadErr()
			if !errors.Is(loadErr, ErrAddrBookFile) || !errors.Is(loadErr, tt.want) {
				t.Fatalf("LoadErr = %v, want ErrAddrBookFile and %v", loadErr, tt.want)
			}
			if n := book.Size(); n != 0 {
				t.Errorf("Size = %d, want an empty book", n)
			}
			aside := asideFiles(t, path)
			if len(aside) != 1 || !strings.Contains(loadErr.Error(), aside[0]) {
				t.Fatalf("kept aside: %v; LoadErr %q should name it", aside, loadErr)
			}
			if tt.data != nil {
				if got, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(got, tt.data) {
					t.Errorf("the copy kept aside differs (%v)", err)
				}
			} else if fi, err := os.Stat(aside[0]); err != nil || !fi.IsDir() {
				t.Errorf("the directory was not moved aside: %v", err)
			}
			// The book works and saves a good file in place of the bad one.
			if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
				t.Fatal(err)
			}
			book.Stop()
			again := NewAddrBook(path)
			if err := again.Start(); err != nil {
				t.Fatal(err)
			}
			defer again.Stop()
			if err := again.LoadErr(); err != nil || again.Size() != 1 {
				t.Errorf("after saving over a bad file: LoadErr %v, Size %d", err, again.Size())
			}
		})
	}
}

func TestTooLargeFileIsKeptAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxAddrBookFileSize + 1); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	if err := book.LoadErr(); !errors.Is(err, ErrAddrBookFile) || !errors.Is(err, ErrAddrBookCorrupt) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadErr = %v", err)
	}
	if len(asideFiles(t, path)) != 1 {
		t.Error("the file was not kept aside")
	}
}

func TestInvalidEntriesAreDroppedOneByOne(t *testing.T) {
	var f addrBookFile
	if err := json.Unmarshal(validFile(t, 40), &f); err != nil {
		t.Fatal(err)
	}
	good := len(f.Addrs)
	probe := NewAddrBook("", WithBookKey(testKey))
	oldBucket := probe.calcOldBucket(mustParse(t, "8.8.8.8:1"))
	now := newFakeClock().now()
	bad := []fileEntry{
		{Addr: "not an address", BucketType: "new", Buckets: []int{1}},
		{Addr: "example.com:1", BucketType: "new", Buckets: []int{1}},
		{Addr: "0.0.0.0:1", BucketType: "new", Buckets: []int{1}},
		{Addr: "127.0.0.1:1", BucketType: "new", Buckets: []int{1}}, // the book is strict
		{Addr: "8.8.8.9:1", Src: "bad source", BucketType: "new", Buckets: []int{1}},
		{Addr: f.Addrs[0].Addr, BucketType: "new", Buckets: []int{1}}, // duplicate
		{Addr: "8.8.8.10:1", BucketType: "new"},
		{Addr: "8.8.8.11:1", BucketType: "new", Buckets: []int{1, 2, 3, 4, 5}},
		{Addr: "8.8.8.12:1", BucketType: "new", Buckets: []int{-1}},
		{Addr: "8.8.8.13:1", BucketType: "new", Buckets: []int{newBucketCount}},
		{Addr: "8.8.8.14:1", BucketType: "new", Buckets: []int{3, 3}},
		{Addr: "8.8.8.8:1", BucketType: "old", Buckets: []int{(oldBucket + 1) % oldBucketCount}},
		{Addr: "8.8.8.15:1", BucketType: "old", Buckets: []int{1, 2}},
		{Addr: "8.8.8.16:1", BucketType: "new", Buckets: []int{1}, Attempts: -1},
		{Addr: "8.8.8.17:1", BucketType: "tried", Buckets: []int{1}},
		{Addr: "8.8.8.18:1", BucketType: "new", Buckets: []int{1}, LastSeen: now}, // valid
	}
	f.Addrs = append(f.Addrs, bad...)
	f.Bans = append(f.Bans, fileBan{Key: "not a key", Until: now.Add(time.Hour)})
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "addrbook.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	loadErr := book.LoadErr()
	if !errors.Is(loadErr, ErrAddrBookFile) || !errors.Is(loadErr, ErrAddrBookInvalidEntry) {
		t.Fatalf("LoadErr = %v", loadErr)
	}
	want := fmt.Sprintf("dropped %d of %d addresses and 1 of %d bans", len(bad)-1, good+len(bad), len(f.Bans))
	if !strings.Contains(loadErr.Error(), want) {
		t.Errorf("LoadErr %q does not say %q", loadErr, want)
	}
	if n := book.Size(); n != good+1 {
		t.Errorf("Size = %d, want the %d valid entries", n, good+1)
	}
	checkInvariants(t, book)
	aside := asideFiles(t, path)
	if len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, data) {
		t.Error("the copy kept aside differs from the file")
	}
	// Stop saves the cleaned book: the next start finds nothing wrong.
	book.Stop()
	again := NewAddrBook(path)
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if err := again.LoadErr(); err != nil || again.Size() != good+1 {
		t.Errorf("after saving the cleaned book: LoadErr %v, Size %d", err, again.Size())
	}
}

func TestExtremeValuesInFileLoadAndSave(t *testing.T) {
	data := []byte(`{"version": 1, "key": "00", "addrs": [
		{"addr": "8.8.8.8:1", "bucket_type": "new", "buckets": [3], "attempts": 2147483647,
		 "last_attempt": "9999-12-31T23:59:59-23:59", "last_success": "0000-01-01T00:00:00+23:59", "last_seen": "9999-12-31T23:59:59Z"}],
		"bans": [{"key": "1.1.1.1:1", "until": "9999-12-31T23:59:59Z"}]}`)
	book := newTestBook(t)
	if invalid, err := book.restoreData(data); err != nil || invalid != nil {
		t.Fatalf("restoreData = %v, %v", invalid, err)
	}
	a := mustParse(t, "8.8.8.8:1")
	book.MarkAttempt(a)
	_ = book.AddAddress(mustParse(t, "9.9.9.9:1"), nil) // may evict nothing; must not panic
	_ = book.PickAddress(100)
	book.MarkGood(a)
	checkInvariants(t, book)
	book.mtx.Lock()
	snap, _ := book.snapshot()
	book.mtx.Unlock()
	if _, err := json.Marshal(snap); err != nil {
		t.Errorf("cannot save: %v", err)
	}
	if err := book.AddAddress(mustParse(t, "1.1.1.1:1"), nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("the ban was not loaded: %v", err)
	}
}

func TestSecondBadFileGetsItsOwnAsideName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	clock := newFakeClock() // both loads at the same instant
	for i := range 2 {
		if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		book := NewAddrBook(path, WithBookClock(clock.now))
		if err := book.Start(); err != nil {
			t.Fatal(err)
		}
		book.Stop()
		if n := len(asideFiles(t, path)); n != i+1 {
			t.Fatalf("after %d bad loads, %d files kept aside", i+1, n)
		}
	}
}

func TestSaveIntoAMissingDirectoryFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "addrbook.json")
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop() // logs the failure
	if err := book.LoadErr(); err != nil {
		t.Errorf("LoadErr = %v", err)
	}
	if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := book.Save(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save = %v, want fs.ErrNotExist", err)
	}
}

func TestOverfullBucketsAndTooManyEntriesAreDropped(t *testing.T) {
	f := addrBookFile{Version: addrBookVersion, Key: hex.EncodeToString(testKey)}
	total := maxBookEntries + 5
	for i := range total {
		f.Addrs = append(f.Addrs, fileEntry{
			Addr:       fmt.Sprintf("8.%d.%d.%d:1", i>>16, (i>>8)&0xff, i&0xff),
			BucketType: "new", Buckets: []int{i % newBucketCount},
		})
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	book := newTestBook(t)
	invalid, err := book.restoreData(data)
	if err != nil {
		t.Fatal(err)
	}
	loaded := newBucketCount * newBucketSize
	want := fmt.Sprintf("dropped %d of %d addresses", total-loaded, total)
	if !errors.Is(invalid, ErrAddrBookInvalidEntry) || !strings.Contains(invalid.Error(), want) {
		t.Errorf("invalid = %v, want %q", invalid, want)
	}
	if n := book.Size(); n != loaded {
		t.Errorf("Size = %d, want %d", n, loaded)
	}
	checkInvariants(t, book)
}

func TestBadFileThatCannotBeKeptAsideIsNotOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	bad := []byte(`{"version": 1, "key": `)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	book := NewAddrBook(path)
	book.fs.rename = func(string, string) error { return fs.ErrPermission }
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	loadErr := book.LoadErr()
	if !errors.Is(loadErr, ErrAddrBookFile) || !errors.Is(loadErr, ErrAddrBookCorrupt) || !strings.Contains(loadErr.Error(), "will not be saved") {
		t.Errorf("LoadErr = %v", loadErr)
	}
	if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := book.Save(); !errors.Is(err, ErrAddrBookFile) {
		t.Errorf("Save = %v, want it refused", err)
	}
	book.Stop()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, bad) {
		t.Error("the bad file was overwritten")
	}
}

func TestUnreadableFileIsNotOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	valid := validFile(t, 5)
	if err := os.WriteFile(path, valid, 0o600); err != nil {
		t.Fatal(err)
	}
	book := NewAddrBook(path)
	book.fs.readFile = func(string) ([]byte, error) { return nil, fs.ErrPermission }
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	if err := book.LoadErr(); !errors.Is(err, ErrAddrBookFile) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("LoadErr = %v", err)
	}
	if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
		t.Fatal(err)
	}
	book.Stop()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, valid) {
		t.Error("a file that could not be read was overwritten")
	}
	if len(asideFiles(t, path)) != 0 {
		t.Error("a file that could not be read was moved")
	}
}

func TestSaveNeverLeavesAPartialFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "addrbook.json")
	r := rand.New(rand.NewPCG(32, 32))
	book := NewAddrBook(path, WithBookKey(testKey), WithBookSaveInterval(0))
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	fillBook(t, book, r, 200)
	if err := book.Save(); err != nil {
		t.Fatal(err)
	}

	// A reader sees a whole book at the path at every moment of 50 saves.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, readErr = 0, error(nil)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if err == nil {
				_, err = decodeAddrBookFile(data)
			}
			if err != nil {
				readErr = err
				return
			}
			reads++
		}
	})
	for range 50 {
		if err := book.AddAddress(randAddr(t, r, nil), nil); err != nil {
			t.Fatal(err)
		}
		if err := book.Save(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader saw a partial book after %d reads: %v", reads, readErr)
	}
	t.Logf("%d whole reads during 50 saves", reads)

	// A save that fails before the rename (a crash) leaves the previous
	// book whole at the path, and no temporary file.
	before, _ := os.ReadFile(path)
	book.fs.rename = func(string, string) error { return errors.New("simulated crash") }
	if err := book.AddAddress(randAddr(t, r, nil), nil); err != nil {
		t.Fatal(err)
	}
	if err := book.Save(); err == nil {
		t.Fatal("Save with a failing rename succeeded")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("a failed save changed the file")
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		t.Errorf("files left in the directory: %v", names)
	}
	book.fs.rename = os.Rename
}

func TestStartRemovesTempFilesOfAnInterruptedSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "addrbook.json")
	stale := path + tempInfix + "12345"
	unrelated := filepath.Join(dir, "other.json"+tempInfix+"1")
	for _, p := range []string{stale, unrelated} {
		if err := os.WriteFile(p, []byte(`{"version": 1, "ke`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(unrelated); err != nil {
		t.Errorf("another file's temporary file removed: %v", err)
	}
}

func TestStopRewritesOnlyAChangedBook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	if err := os.WriteFile(path, validFile(t, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	book := NewAddrBook(path)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	_ = book.PickAddress(50)
	_ = book.GetSelection()
	book.Stop()
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("an unchanged book was rewritten")
	}

	changed := NewAddrBook(path)
	if err := changed.Start(); err != nil {
		t.Fatal(err)
	}
	changed.MarkAttempt(changed.PickAddress(50))
	changed.Stop()
	if last, _ := os.Stat(path); os.SameFile(after, last) {
		t.Error("a changed book was not saved on Stop")
	}
}

func TestPeriodicSaveEveryTwoMinutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	synctest.Test(t, func(t *testing.T) {
		book := NewAddrBook(path, WithBookKey(testKey)) // default interval
		if err := book.Start(); err != nil {
			t.Fatal(err)
		}
		if err := book.AddAddress(mustParse(t, "8.8.8.8:1"), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(defaultSaveInterval - time.Second)
		synctest.Wait()
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("saved before the interval: %v", err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("not saved after the interval: %v", err)
		}
		book.Stop()
	})
}

func TestEntriesAddedBeforeStartArePlacedUnderTheFileSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrbook.json")
	if err := os.WriteFile(path, validFile(t, 20), 0o600); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(33, 33))
	book := NewAddrBook(path, WithBookKey([]byte("not the file's key")))
	early, good := randAddr(t, r, nil), randAddr(t, r, nil)
	for _, a := range []*NetAddress{early, good} {
		if err := book.AddAddress(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	book.MarkGood(good)
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	if !bytes.Equal(bookKey(book), testKey) {
		t.Fatal("the file's secret was not taken")
	}
	if !book.HasAddress(early) || !isOld(book, good) {
		t.Error("entries added before Start were lost")
	}
	if ka := entry(book, early); ka == nil || !slices.Contains(ka.Buckets, book.calcNewBucket(early, early)) {
		t.Errorf("early entry not in its bucket under the file's secret: %+v", ka)
	}
	checkInvariants(t, book)
}

func FuzzAddrBookLoad(f *testing.F) {
	f.Add([]byte(`{"version": 1, "key": "00", "addrs": [{"addr": "8.8.8.8:1", "bucket_type": "new", "buckets": [3]}]}`))
	f.Add([]byte(`{"version": 1, "key": "00", "addrs": [{"addr": "8.8.8.8:1", "bucket_type": "old", "buckets": [3]}], "bans": [{"key": "1.1.1.1:1", "until": "2999-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version": 2}`))
	f.Add([]byte(``))
	now := newFakeClock().now()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, strict := range []bool{true, false} {
			book := NewAddrBook("", WithBookKey(testKey), WithBookRandSeed(1), WithBookRoutabilityStrict(strict), WithBookClock(func() time.Time { return now }))
			invalid, err := book.restoreData(data)
			if err != nil {
				if !errors.Is(err, ErrAddrBookCorrupt) && !errors.Is(err, ErrAddrBookVersion) {
					t.Fatalf("error %v wraps neither ErrAddrBookCorrupt nor ErrAddrBookVersion", err)
				}
				if book.Size() != 0 {
					t.Fatalf("a rejected file loaded %d entries", book.Size())
				}
				continue
			}
			if invalid != nil && !errors.Is(invalid, ErrAddrBookInvalidEntry) {
				t.Fatalf("invalid %v does not wrap ErrAddrBookInvalidEntry", invalid)
			}
			if err := invariantErr(book); err != nil {
				t.Fatal(err)
			}
			_ = book.PickAddress(50)
			_ = book.GetSelection()
			// What was loaded saves and loads again, whole.
			book.mtx.Lock()
			snap, _ := book.snapshot()
			book.mtx.Unlock()
			out, err := json.Marshal(snap)
			if err != nil {
				t.Fatalf("cannot save what was loaded: %v", err)
			}
			again := NewAddrBook("", WithBookRoutabilityStrict(strict), WithBookClock(func() time.Time { return now }))
			invalid, err = again.restoreData(out)
			if err != nil || invalid != nil || again.Size() != book.Size() {
				t.Fatalf("reloading the saved book: %v, %v, size %d, want %d", err, invalid, again.Size(), book.Size())
			}
		}
	})
}
