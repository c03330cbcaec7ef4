package transport

import (
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// Key files.
//
// A key file is a single PEM block of type KeyFileType with a "Version"
// header equal to KeyFileVersion, whose bytes are the private key in
// libp2p's protobuf encoding (crypto.MarshalPrivateKey: key type + key
// bytes), the same encoding go-libp2p and kubo use for identities:
//
//	-----BEGIN SWITCHYARD LIBP2P PRIVATE KEY-----
//	Version: 1
//
//	CAESQO7v...
//	-----END SWITCHYARD LIBP2P PRIVATE KEY-----
//
// It is text, so a person can tell what it is; the type line says whose it
// is, and the version leaves room for a later format.
const (
	KeyFileType    = "SWITCHYARD LIBP2P PRIVATE KEY"
	KeyFileVersion = "1"
	// maxKeyFileSize bounds what LoadKey reads: a 4096-bit RSA key file is
	// under 4 KiB, so anything this large is not ours.
	maxKeyFileSize = 64 << 10
)

// ErrBadKeyFile is returned (wrapped) by LoadKey, LoadOrCreateKey and New for
// a key file that exists but cannot be used: empty, truncated, corrupt, of
// another format or version, holding an unsupported key type, too large, or
// not a regular file. Such a file is reported, never replaced.
var ErrBadKeyFile = errors.New("transport: bad key file")

// LoadKey reads the private key in the key file at path (see KeyFileType for
// the format). A missing file is an error satisfying errors.Is(err,
// fs.ErrNotExist); an unreadable one wraps the os error; one whose contents
// are not a valid key file wraps ErrBadKeyFile. A file readable by group or
// others is loaded, with a warning in the log.
func LoadKey(path string) (crypto.PrivKey, error) {
	// Stat before opening: opening a FIFO would block.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("transport: load key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: not a regular file (%v)", ErrBadKeyFile, path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transport: load key %s: %w", path, err)
	}
	defer f.Close()
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warnw("key file is readable by others", "path", path, "mode", fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("transport: load key %s: %w", path, err)
	}
	key, err := decodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKeyFile, path, err)
	}
	return key, nil
}

// decodeKeyFile parses and checks the contents of a key file.
func decodeKeyFile(data []byte) (crypto.PrivKey, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty")
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")) {
		return nil, errors.New("not a PEM file (no BEGIN line at the start)")
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block (truncated, corrupt or not a key file)")
	}
	if block.Type != KeyFileType {
		return nil, fmt.Errorf("foreign format %q (want %q)", block.Type, KeyFileType)
	}
	if v := block.Headers["Version"]; v != KeyFileVersion {
		return nil, fmt.Errorf("unsupported version %q (want %q)", v, KeyFileVersion)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the key")
	}
	key, err := crypto.UnmarshalPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if err := checkKeyPair(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkKeyPair signs and verifies a message, which catches a key whose
// private and public halves do not belong together (Ed25519 keys store both).
func checkKeyPair(key crypto.PrivKey) error {
	msg := []byte("switchyard key check")
	sig, err := key.Sign(msg)
	if err != nil {
		return fmt.Errorf("key cannot sign: %w", err)
	}
	if ok, err := key.GetPublic().Verify(msg, sig); err != nil || !ok {
		return errors.New("key is corrupt: its public half does not verify its own signature")
	}
	return nil
}

// encodeKeyFile renders key in the key-file format.
func encodeKeyFile(key crypto.PrivKey) ([]byte, error) {
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{
		Type:    KeyFileType,
		Headers: map[string]string{"Version": KeyFileVersion},
		Bytes:   raw,
	}), nil
}

// SaveKey writes key to path with permissions 0600, replacing any file there
// atomically: the key goes to a temporary file in the same directory, which
// is synced and then renamed over path, and the directory is synced, so a
// crash leaves either the old file or the new one, never a torn one. Any
// libp2p key type (Ed25519, Secp256k1, ECDSA, RSA) can be saved.
func SaveKey(path string, key crypto.PrivKey) error {
	if key == nil {
		return fmt.Errorf("transport: save key %s: nil key", path)
	}
	tmp, err := writeTempKey(path, key)
	if err != nil {
		return fmt.Errorf("transport: save key %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("transport: save key %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("transport: save key %s: %w", path, err)
	}
	return nil
}

// LoadOrCreateKey loads the key file at path, or, if nothing exists at path,
// creates a new Ed25519 key and saves it there (0600, crash-safe). A file
// that exists but is bad is an error wrapping ErrBadKeyFile and is left
// untouched. Creation never overwrites: if another process creates the file
// at the same moment, its key is loaded and returned instead. Creation needs
// a filesystem with hard links (it links the synced temporary file into
// place, which fails if path exists).
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	// Lstat, not Stat: a dangling symlink exists, and must not be replaced.
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return LoadKey(path)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: create key %s: %w", path, err)
	}
	tmp, err := writeTempKey(path, key)
	if err != nil {
		return nil, fmt.Errorf("transport: create key %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(path)
		}
		return nil, fmt.Errorf("transport: create key %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("transport: create key %s: %w", path, err)
	}
	log.Infow("created a new identity key", "path", path)
	return key, nil
}

// writeTempKey writes key to a synced 0600 temporary file next to path and
// returns its name.
func writeTempKey(path string, key crypto.PrivKey) (string, error) {
	data, err := encodeKeyFile(key)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
