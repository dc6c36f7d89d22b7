package ccp

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxKeys is how many keys a Keyring holds: enough for the current key,
// the one being rotated in, and the one being retired.
const MaxKeys = 8

// Algorithm names in a key file.
const (
	AlgAES256GCM = "aes-256-gcm" // 32-byte key
	AlgAES128GCM = "aes-128-gcm" // 16-byte key
)

// Key-file errors.
var (
	ErrKeyID      = errors.New("key id must be 1 to 255")
	ErrKeyExists  = errors.New("key id already in the ring")
	ErrKeyMissing = errors.New("key id not in the ring")
	ErrKeyCurrent = errors.New("key is the current sending key")
	ErrRingFull   = errors.New("key ring full")
)

// keySet is an immutable snapshot of a Keyring: a Keyring swaps whole sets,
// so Seal and Open read one with a single atomic load.
type keySet struct {
	aead    [256]cipher.AEAD // by key id; nil: not in the ring
	ids     []uint8          // ascending
	current uint8            // sealing key; 0: none
}

// Keyring holds the cluster keys by id (up to MaxKeys) and which one seals
// outgoing frames. A receiver accepts a frame sealed by any key in the
// ring, so keys rotate without dropping a session:
//
//  1. add the new key on every member (Add, or reload the key file);
//  2. make it current on every member (SetCurrent);
//  3. once no frame under the old key can be in flight, remove it.
//
// Its methods are safe for concurrent use: changes copy the set and
// publish it atomically; Sealer and Opener see it on their next frame.
type Keyring struct {
	mu  sync.Mutex // serialises changes; readers only load set
	set atomic.Pointer[keySet]
}

// NewKeyring returns an empty ring: a Sealer on it fails with ErrNoKey and
// an Opener rejects every frame with ErrUnknownKey until keys are added.
func NewKeyring() *Keyring {
	r := &Keyring{}
	r.set.Store(&keySet{})
	return r
}

func (r *Keyring) load() *keySet { return r.set.Load() }

// newAEAD returns the AEAD of alg for key.
func newAEAD(alg string, key []byte) (cipher.AEAD, error) {
	want := 32
	if alg == AlgAES128GCM {
		want = 16
	} else if alg != AlgAES256GCM {
		return nil, fmt.Errorf("unknown algorithm %q (want %s or %s)", alg, AlgAES256GCM, AlgAES128GCM)
	}
	if len(key) != want {
		return nil, fmt.Errorf("%s needs a %d-byte key, got %d bytes", alg, want, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// update applies fn to a copy of the current set and publishes it.
func (r *Keyring) update(fn func(s *keySet) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := *r.set.Load()
	s.ids = slices.Clone(s.ids)
	if err := fn(&s); err != nil {
		return err
	}
	r.set.Store(&s)
	return nil
}

// Add puts key id into the ring. The first key added becomes current.
func (r *Keyring) Add(id uint8, alg string, key []byte) error {
	if id == 0 {
		return ErrKeyID
	}
	a, err := newAEAD(alg, key)
	if err != nil {
		return fmt.Errorf("adding key %d: %w", id, err)
	}
	return r.update(func(s *keySet) error {
		if s.aead[id] != nil {
			return fmt.Errorf("adding key %d: %w", id, ErrKeyExists)
		}
		if len(s.ids) >= MaxKeys {
			return fmt.Errorf("adding key %d: %w (%d keys)", id, ErrRingFull, MaxKeys)
		}
		s.aead[id] = a
		s.ids = append(s.ids, id)
		slices.Sort(s.ids)
		if s.current == 0 {
			s.current = id
		}
		return nil
	})
}

// SetCurrent makes key id the one Sealers use from their next frame.
func (r *Keyring) SetCurrent(id uint8) error {
	return r.update(func(s *keySet) error {
		if id == 0 || s.aead[id] == nil {
			return fmt.Errorf("setting current key %d: %w", id, ErrKeyMissing)
		}
		s.current = id
		return nil
	})
}

// Remove takes key id out of the ring; frames sealed with it are rejected
// from then on (ErrUnknownKey). The current key cannot be removed.
func (r *Keyring) Remove(id uint8) error {
	return r.update(func(s *keySet) error {
		if id == 0 || s.aead[id] == nil {
			return fmt.Errorf("removing key %d: %w", id, ErrKeyMissing)
		}
		if id == s.current {
			return fmt.Errorf("removing key %d: %w", id, ErrKeyCurrent)
		}
		s.aead[id] = nil
		s.ids = slices.DeleteFunc(s.ids, func(x uint8) bool { return x == id })
		return nil
	})
}

// Current returns the id of the sealing key, 0 if the ring is empty.
func (r *Keyring) Current() uint8 { return r.load().current }

// IDs returns the ids in the ring, ascending.
func (r *Keyring) IDs() []uint8 { return slices.Clone(r.load().ids) }

// Replace makes r hold exactly the keys and current key of from (a key
// file just re-read), in one atomic step: frames in flight under a key in
// both keep opening.
func (r *Keyring) Replace(from *Keyring) {
	s := *from.load()
	s.ids = slices.Clone(s.ids)
	r.mu.Lock()
	r.set.Store(&s)
	r.mu.Unlock()
}

// LoadKeyFile reads a key file (format in docs/ccp.md and ParseKeys). If
// the file is readable by its group or others, warn (when not nil) is
// called with a message saying so; the keys are loaded anyway.
func LoadKeyFile(path string, warn func(msg string)) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && warn != nil {
		warn(fmt.Sprintf("key file %s is readable by group or others (mode %04o): chmod 600 it", path, perm))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return ParseKeys(data, path)
}

// ParseKeys parses the text of a key file; name is used in errors. The
// format, one key a line:
//
//	# comment; blank lines are ignored
//	<id> <algorithm> <key in hex> [current]
//
// id is 1..255, algorithm aes-256-gcm (64 hex digits) or aes-128-gcm (32).
// At most one line says current; without one, a file of a single key
// makes it current and a file of several is an error.
func ParseKeys(data []byte, name string) (*Keyring, error) {
	r := NewKeyring()
	var current uint8
	line := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want \"<id> <algorithm> <hex key> [current]\", got %d fields", name, line, len(f))
		}
		id, err := strconv.ParseUint(f[0], 10, 8)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%s:%d: key id %q: %w", name, line, f[0], ErrKeyID)
		}
		key, err := hex.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %d is not hex: %w", name, line, id, err)
		}
		if err := r.Add(uint8(id), f[1], key); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		clear(key)
		if len(f) == 4 {
			if f[3] != "current" {
				return nil, fmt.Errorf("%s:%d: fourth field %q: only \"current\" is allowed", name, line, f[3])
			}
			if current != 0 {
				return nil, fmt.Errorf("%s:%d: key %d is marked current, but key %d already is", name, line, id, current)
			}
			current = uint8(id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ids := r.load().ids
	switch {
	case len(ids) == 0:
		return nil, fmt.Errorf("%s: no keys", name)
	case current != 0:
		if err := r.SetCurrent(current); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	case len(ids) > 1:
		return nil, fmt.Errorf("%s: %d keys and none marked current", name, len(ids))
	}
	return r, nil
}
