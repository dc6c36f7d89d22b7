package ccp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	hex32 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hex16 = "00112233445566778899aabbccddeeff"
)

func TestParseKeys(t *testing.T) {
	r, err := ParseKeys([]byte("# cluster keys\n\n1 aes-256-gcm "+hex32+"\n  7 aes-128-gcm "+hex16+" current\n"), "k")
	if err != nil {
		t.Fatal(err)
	}
	if r.Current() != 7 || len(r.IDs()) != 2 || r.IDs()[0] != 1 {
		t.Fatalf("current %d ids %v", r.Current(), r.IDs())
	}
	one, err := ParseKeys([]byte("3 aes-256-gcm "+hex32), "k")
	if err != nil || one.Current() != 3 {
		t.Fatalf("single key: %v current %d", err, one.Current())
	}
	for _, tc := range []struct{ text, want string }{
		{"", "k: no keys"},
		{"# only a comment\n", "k: no keys"},
		{"1 aes-256-gcm", "k:1: want"},
		{"\n0 aes-256-gcm " + hex32, "k:2: key id \"0\""},
		{"256 aes-256-gcm " + hex32, "k:1: key id \"256\""},
		{"x aes-256-gcm " + hex32, "k:1: key id \"x\""},
		{"1 aes-256-gcm zz" + hex32[2:], "k:1: key 1 is not hex"},
		{"1 aes-256-gcm " + hex16, "k:1: adding key 1: aes-256-gcm needs a 32-byte key, got 16 bytes"},
		{"1 chacha20-poly1305 " + hex32, "k:1: adding key 1: unknown algorithm"},
		{"1 aes-256-gcm " + hex32 + "\n1 aes-256-gcm " + hex32, "k:2: adding key 1: key id already in the ring"},
		{"1 aes-256-gcm " + hex32 + " now", "k:1: fourth field \"now\""},
		{"1 aes-256-gcm " + hex32 + " current\n2 aes-256-gcm " + hex32 + " current", "k:2: key 2 is marked current, but key 1 already is"},
		{"1 aes-256-gcm " + hex32 + "\n2 aes-256-gcm " + hex32, "k: 2 keys and none marked current"},
	} {
		_, err := ParseKeys([]byte(tc.text), "k")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q…", tc.text, err, tc.want)
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ccp.keys")
	if err := os.WriteFile(path, []byte("1 aes-256-gcm "+hex32+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	warn := func(m string) { warnings = append(warnings, m) }
	if _, err := LoadKeyFile(path, warn); err != nil || len(warnings) != 0 {
		t.Fatalf("mode 0600: %v, warnings %q", err, warnings)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path, warn); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "mode 0644") {
		t.Fatalf("mode 0644: %v, warnings %q", err, warnings)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := LoadKeyFile(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}

func TestKeyringChanges(t *testing.T) {
	r := NewKeyring()
	if r.Current() != 0 {
		t.Fatal("empty ring has a current key")
	}
	for id := 1; id <= MaxKeys; id++ {
		if err := r.Add(uint8(id), AlgAES256GCM, testKey()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(100, AlgAES256GCM, testKey()); !errors.Is(err, ErrRingFull) {
		t.Fatalf("ring full: %v", err)
	}
	if err := r.Add(0, AlgAES256GCM, testKey()); !errors.Is(err, ErrKeyID) {
		t.Fatalf("id 0: %v", err)
	}
	if err := r.Remove(1); !errors.Is(err, ErrKeyCurrent) {
		t.Fatalf("remove current: %v", err)
	}
	if err := r.Remove(50); !errors.Is(err, ErrKeyMissing) {
		t.Fatalf("remove missing: %v", err)
	}
	if err := r.SetCurrent(50); !errors.Is(err, ErrKeyMissing) {
		t.Fatalf("current missing: %v", err)
	}
	if err := r.SetCurrent(2); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(1); err != nil || len(r.IDs()) != MaxKeys-1 || r.Current() != 2 {
		t.Fatalf("remove: %v ids %v", err, r.IDs())
	}
}

// TestRotation: a session continues across a key rotation with no frame
// rejected, including frames sealed under the old key and delivered after
// the switch; after the old key is removed, a frame under it is rejected.
func TestRotation(t *testing.T) {
	ringA, ringB := testRing(t), testRing(t) // the two members' rings, loaded from their own key files
	s, _ := NewSealer(ringA, testCluster, memberA, testEpoch)
	o := NewOpener(ringB, testCluster, memberB)
	send := func(n int) [][]byte {
		var fs [][]byte
		for i := 0; i < n; i++ {
			fs = append(fs, heartbeatFrame(t, s))
		}
		return fs
	}
	deliver := func(fs [][]byte) {
		t.Helper()
		for _, f := range fs {
			if _, err := o.Open(f); err != nil {
				t.Fatalf("frame: %v", err)
			}
		}
	}
	deliver(send(10))
	newKey := []byte(hex32[:32]) // any 32 bytes
	// 1. Every member adds key 2 (the receiver first, then the sender).
	if err := ringB.Add(2, AlgAES256GCM, newKey); err != nil {
		t.Fatal(err)
	}
	deliver(send(10))
	if err := ringA.Add(2, AlgAES256GCM, newKey); err != nil {
		t.Fatal(err)
	}
	inFlight := send(5) // still under key 1
	// 2. The sender switches to key 2.
	if err := ringA.SetCurrent(2); err != nil {
		t.Fatal(err)
	}
	next := send(10)
	deliver(next[:5])
	deliver(inFlight) // old-key frames arrive late: still accepted
	deliver(next[5:])
	// 3. Key 1 is retired everywhere.
	if err := ringB.SetCurrent(2); err != nil {
		t.Fatal(err)
	}
	if err := ringB.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := ringA.Remove(1); err != nil {
		t.Fatal(err)
	}
	deliver(send(10))
	if c := o.Counters(); c.Opened != 45 || c.Rejected() != 0 {
		t.Fatalf("counters %+v", c)
	}
	// A frame under the retired key is now refused.
	old := testRing(t)
	s1, _ := NewSealer(old, testCluster, memberA, testEpoch)
	s1.SetSeq(s.Seq() + 1)
	if _, err := o.Open(heartbeatFrame(t, s1)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: %v", err)
	}
	// A reloaded key file replaces the ring in one step.
	reloaded, err := ParseKeys([]byte("2 aes-256-gcm "+strings.Repeat("00", 32)+"\n3 aes-256-gcm "+hex32+" current"), "reload")
	if err != nil {
		t.Fatal(err)
	}
	ringA.Replace(reloaded)
	if ringA.Current() != 3 || len(ringA.IDs()) != 2 {
		t.Fatalf("after Replace: current %d ids %v", ringA.Current(), ringA.IDs())
	}
}
