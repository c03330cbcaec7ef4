package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func mustKey(t *testing.T, typ int) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateKeyPair(typ, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyFileRoundTripsEveryKeyType(t *testing.T) {
	for name, typ := range map[string]int{"ed25519": crypto.Ed25519, "secp256k1": crypto.Secp256k1, "ecdsa": crypto.ECDSA, "rsa": crypto.RSA} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			key := mustKey(t, typ)
			if err := SaveKey(path, key); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equals(key) {
				t.Fatal("loaded key differs from the saved one")
			}
		})
	}
}

func TestSavedKeyFileIsPrivateAndRecognisable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	if err := SaveKey(path, mustKey(t, crypto.Ed25519)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("permissions %v, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "-----BEGIN "+KeyFileType+"-----\nVersion: "+KeyFileVersion+"\n") {
		t.Errorf("file does not start with the recognisable header:\n%s", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}
}

func TestSaveKeyReplacesAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	first, second := mustKey(t, crypto.Ed25519), mustKey(t, crypto.Ed25519)
	if err := SaveKey(path, first); err != nil {
		t.Fatal(err)
	}
	if err := SaveKey(path, second); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(path)
	if err != nil || !got.Equals(second) {
		t.Fatalf("after a second save: %v, equal=%v", err, err == nil && got.Equals(second))
	}
}

func TestSaveKeyErrors(t *testing.T) {
	if err := SaveKey(filepath.Join(t.TempDir(), "k"), nil); err == nil {
		t.Error("saving a nil key succeeded")
	}
	if err := SaveKey(filepath.Join(t.TempDir(), "no", "such", "dir", "k"), mustKey(t, crypto.Ed25519)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("saving into a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadOrCreateKeyCreatesOnceThenLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Type() != crypto.Ed25519 {
		t.Errorf("created a %v key, want Ed25519", k1.Type())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v, %v", fi, err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k2.Equals(k1) {
		t.Fatalf("second call: %v; same key: %v", err, err == nil && k2.Equals(k1))
	}
}

func TestLoadOrCreateKeyConcurrentCallersAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	const n = 8
	keys := make([]crypto.PrivKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(path) })
	}
	wg.Wait()
	onDisk, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !keys[i].Equals(onDisk) {
			t.Errorf("caller %d got a key that is not the one on disk", i)
		}
	}
}

// keyFileWith renders a key file with the given PEM type, headers and bytes.
func keyFileWith(typ string, headers map[string]string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: b})
}

func TestBadKeyFilesAreReportedAndNeverReplaced(t *testing.T) {
	good, err := encodeKeyFile(mustKey(t, crypto.Ed25519))
	if err != nil {
		t.Fatal(err)
	}
	edRaw, _ := crypto.MarshalPrivateKey(mustKey(t, crypto.Ed25519))
	_, std, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(std)
	v1 := map[string]string{"Version": KeyFileVersion}
	// libp2p's protobuf: field 1 (key type) = 99, field 2 (data) = 64 bytes.
	unknownType := append([]byte{0x08, 99, 0x12, 64}, make([]byte, 64)...)
	// An Ed25519 key whose public half (last 32 bytes) is not its own.
	mismatched := bytes.Clone(edRaw)
	mismatched[len(mismatched)-1] ^= 0xff

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"whitespace only", []byte("\n \n")},
		{"truncated", good[:len(good)/2]},
		{"truncated to the header", good[:40]},
		{"garbage", bytes.Repeat([]byte{0x9c, 0x01}, 100)},
		{"text before the block", append([]byte("hello\n"), good...)},
		{"trailing data after the block", append(bytes.Clone(good), "more"...)},
		{"two blocks", append(bytes.Clone(good), good...)},
		{"foreign PEM (PKCS#8)", keyFileWith("PRIVATE KEY", nil, pkcs8)},
		{"foreign PEM (certificate)", keyFileWith("CERTIFICATE", nil, []byte{1, 2, 3})},
		{"wrong version", keyFileWith(KeyFileType, map[string]string{"Version": "2"}, edRaw)},
		{"missing version", keyFileWith(KeyFileType, nil, edRaw)},
		{"unsupported key type", keyFileWith(KeyFileType, v1, unknownType)},
		{"key bytes not protobuf", keyFileWith(KeyFileType, v1, []byte{0xff, 0xff, 0xff})},
		{"ed25519 key of the wrong length", keyFileWith(KeyFileType, v1, []byte{0x08, 1, 0x12, 3, 1, 2, 3})},
		{"public half does not match", keyFileWith(KeyFileType, v1, mismatched)},
		{"too large", append(bytes.Clone(good), bytes.Repeat([]byte(" "), maxKeyFileSize)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadKey(path); !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("LoadKey: %v, want ErrBadKeyFile", err)
			}
			_, err := LoadOrCreateKey(path)
			if !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("LoadOrCreateKey: %v, want ErrBadKeyFile", err)
			}
			t.Logf("error: %v", err)
			if _, err := New(WithKeyFile(path), WithListenAddrs("127.0.0.1:0")); !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("New: %v, want ErrBadKeyFile", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tc.data) {
				t.Fatal("the bad key file was modified")
			}
		})
	}
}

func TestKeyPathsThatAreNotFiles(t *testing.T) {
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := LoadOrCreateKey(dir); !errors.Is(err, ErrBadKeyFile) {
			t.Fatalf("err = %v, want ErrBadKeyFile", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "node.key")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		// Opening a FIFO for reading blocks until a writer appears: a
		// LoadKey that opened it would hang here.
		if _, err := LoadOrCreateKey(path); !errors.Is(err, ErrBadKeyFile) {
			t.Fatalf("err = %v, want ErrBadKeyFile", err)
		}
	})
	t.Run("dangling symlink is not replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "node.key")
		if err := os.Symlink(filepath.Join(dir, "missing"), path); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
		if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatal("the symlink was replaced")
		}
	})
	t.Run("missing file for LoadKey", func(t *testing.T) {
		if _, err := LoadKey(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "node.key")
		if err := SaveKey(path, mustKey(t, crypto.Ed25519)); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0)
		if os.Geteuid() == 0 {
			// Permissions do not stop root; a write-only procfs file does
			// (only ever opened for reading here).
			path = "/proc/sys/vm/drop_caches"
			if _, err := os.Stat(path); err != nil {
				t.Skip("running as root without /proc/sys/vm/drop_caches")
			}
		}
		if _, err := LoadOrCreateKey(path); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("err = %v, want fs.ErrPermission", err)
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		os.WriteFile(file, nil, 0o600)
		if _, err := LoadOrCreateKey(filepath.Join(file, "node.key")); err == nil {
			t.Fatal("a key under a regular file was created")
		}
	})
}

func TestHostKeepsItsPeerIDAcrossRestartsWithAKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	var ids []peer.ID
	for range 2 {
		h, err := New(WithKeyFile(path), WithListenAddrs("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
		h.Close()
	}
	if ids[0] != ids[1] {
		t.Fatalf("peer ID changed across restarts: %s then %s", ids[0], ids[1])
	}
	key, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := peer.IDFromPrivateKey(key); id != ids[0] {
		t.Fatalf("the key file's peer ID %s is not the host's %s", id, ids[0])
	}
}

func TestHostUsesTheGivenIdentity(t *testing.T) {
	key := mustKey(t, crypto.Ed25519)
	h := newTestHost(t, WithIdentity(key))
	if want, _ := peer.IDFromPrivateKey(key); h.ID() != want {
		t.Fatalf("host ID %s, want %s", h.ID(), want)
	}
}

func FuzzDecodeKeyFile(f *testing.F) {
	good, _ := encodeKeyFile(mustKeyF(f))
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:len(good)/2])
	f.Add(keyFileWith(KeyFileType, map[string]string{"Version": "1"}, []byte{0x08, 99, 0x12, 1, 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := decodeKeyFile(data)
		if err == nil && key == nil {
			t.Fatal("nil key without an error")
		}
	})
}

func mustKeyF(f *testing.F) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	return k
}
