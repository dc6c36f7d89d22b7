package wireshark

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// tshark returns tshark's path: missing, the test is skipped, or fails
// under CI=true (tools/deps.sh installs it).
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed (CI=true): run tools/deps.sh")
		}
		t.Skip("tshark is not installed: apt-get install tshark (tools/deps.sh)")
	}
	return p
}

// writePcap writes each frame as the UDP payload of an Ethernet/IPv4/UDP
// packet from 10.77.9.1:8116 to 10.77.9.2:8116, in a classic pcap file.
func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	for i, f := range frames {
		pkt := make([]byte, 14+20+8, 14+20+8+len(f))
		copy(pkt[0:6], []byte{2, 0, 0, 0, 0, 2})
		copy(pkt[6:12], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(pkt[12:], 0x0800)
		ip := pkt[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(f)))
		copy(ip[12:16], []byte{10, 77, 9, 1})
		copy(ip[16:20], []byte{10, 77, 9, 2})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := pkt[34:42]
		binary.BigEndian.PutUint16(udp[0:], 8116)
		binary.BigEndian.PutUint16(udp[2:], 8116)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(f)))
		pkt = append(pkt, f...)
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(1_790_000_000+i))
		le.PutUint32(rec[8:], uint32(len(pkt)))
		le.PutUint32(rec[12:], uint32(len(pkt)))
		b.Write(rec)
		b.Write(pkt)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fieldNames are the fields the test reads, in tshark's column order.
var fieldNames = []string{
	"frame.number", "tccp.opcode", "tccp.flags.ack", "tccp.key_id", "tccp.cluster", "tccp.sender", "tccp.target", "tccp.count",
	"tccp.length", "tccp.epoch", "tccp.seq", "tccp.data_seq", "tccp.ack", "tccp.decrypted",
	"tccp.hb.role", "tccp.hb.priority", "tccp.hb.conns", "tccp.nack.first", "tccp.nack.last",
	"tccp.fullsync.session", "tccp.fullsync.reason", "tccp.fullsync.chunks", "tccp.fullsync.records", "tccp.role.action", "tccp.role.term",
	"tccp.rec.op", "tccp.rec.state", "tccp.rec.proto", "tccp.rec.owner", "tccp.rec.src", "tccp.rec.dst", "tccp.rec.src6", "tccp.rec.dst6",
	"tccp.rec.sport", "tccp.rec.dport", "tccp.rec.nat", "tccp.rec.nat_addr", "tccp.rec.nat_addr6", "tccp.rec.nat_port",
	"tccp.rec.version", "tccp.rec.timeout", "_ws.expert.message",
}

// dissect runs tshark with the dissector on the capture and returns one
// map of field to value (several occurrences joined by ",") per packet.
func dissect(t *testing.T, pcap string, opts ...string) []map[string]string {
	t.Helper()
	lua, err := filepath.Abs("ccp.lua")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", "-r", pcap, "-X", "lua_script:" + lua, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	for _, f := range fieldNames {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "could be dangerous") {
			t.Errorf("tshark stderr: %s", l)
		}
	}
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != len(fieldNames) {
			t.Fatalf("tshark line has %d fields, want %d: %q", len(cols), len(fieldNames), line)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[fieldNames[i]] = c
		}
		rows = append(rows, row)
	}
	return rows
}

// golden reads a vector of syncpath/ccp/testdata: its sealed frame.
func golden(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "syncpath", "ccp", "testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		switch line {
		case "plain:":
			in = false
			continue
		case "sealed:":
			in = true
			continue
		}
		if in && line != "" {
			b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, b...)
		}
	}
	return sealed
}

// goldenKey is the key of the golden vectors: id 1, aes-256-gcm 000102…1f.
func goldenKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func ring(t *testing.T, id uint8, key []byte) *ccp.Keyring {
	t.Helper()
	r := ccp.NewKeyring()
	if err := r.Add(id, ccp.AlgAES256GCM, key); err != nil {
		t.Fatal(err)
	}
	return r
}

// records decodes a sealed frame's records with syncpath/ccp, the
// reference the dissector is held to.
func records(t *testing.T, keys *ccp.Keyring, cluster uint16, frame []byte) []conntrack.Record {
	t.Helper()
	f, err := ccp.NewOpener(keys, cluster, 2).Open(append([]byte(nil), frame...))
	if err != nil {
		t.Fatalf("opening a frame: %v", err)
	}
	rr, err := f.Records()
	if err != nil {
		t.Fatal(err)
	}
	var out []conntrack.Record
	for {
		var r conntrack.Record
		ok, err := rr.Next(&r)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func addr(b [16]byte, fam uint8) netip.Addr {
	if fam == conntrack.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// wantRecords is what the dissector's record fields must read for recs.
func wantRecords(recs []conntrack.Record) map[string]string {
	var ops, states, protos, owners, src, dst, src6, dst6, sports, dports, nats, natAddr, natAddr6, natPort, versions, timeouts []string
	for _, r := range recs {
		ops = append(ops, strconv.Itoa(int(r.Op)))
		states = append(states, strconv.Itoa(int(r.State)))
		protos = append(protos, strconv.Itoa(int(r.Key.Proto)))
		owners = append(owners, strconv.Itoa(int(r.Owner)))
		s, d := addr(r.Key.Src, r.Key.Family).String(), addr(r.Key.Dst, r.Key.Family).String()
		if r.Key.Family == conntrack.FamilyIPv4 {
			src, dst = append(src, s), append(dst, d)
		} else {
			src6, dst6 = append(src6, s), append(dst6, d)
		}
		sports = append(sports, strconv.Itoa(int(r.Key.SrcPort)))
		dports = append(dports, strconv.Itoa(int(r.Key.DstPort)))
		nats = append(nats, strconv.Itoa(int(r.NAT)))
		if r.NAT != conntrack.NATNone {
			if r.Key.Family == conntrack.FamilyIPv4 {
				natAddr = append(natAddr, addr(r.NATAddr, r.Key.Family).String())
			} else {
				natAddr6 = append(natAddr6, addr(r.NATAddr, r.Key.Family).String())
			}
			natPort = append(natPort, strconv.Itoa(int(r.NATPort)))
		}
		versions = append(versions, strconv.FormatUint(r.Version, 10))
		if r.Op != conntrack.OpDelete {
			timeouts = append(timeouts, strconv.Itoa(int(r.Timeout)))
		}
	}
	j := func(s []string) string { return strings.Join(s, ",") }
	return map[string]string{
		"tccp.rec.op": j(ops), "tccp.rec.state": j(states), "tccp.rec.proto": j(protos), "tccp.rec.owner": j(owners),
		"tccp.rec.src": j(src), "tccp.rec.dst": j(dst), "tccp.rec.src6": j(src6), "tccp.rec.dst6": j(dst6),
		"tccp.rec.sport": j(sports), "tccp.rec.dport": j(dports), "tccp.rec.nat": j(nats),
		"tccp.rec.nat_addr": j(natAddr), "tccp.rec.nat_addr6": j(natAddr6), "tccp.rec.nat_port": j(natPort),
		"tccp.rec.version": j(versions), "tccp.rec.timeout": j(timeouts),
	}
}

func check(t *testing.T, what string, row map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, row[k], v)
		}
	}
}

// TestGoldenVectorsWithTheKeyFile dissects syncpath/ccp's golden frames
// (key id 1, 000102…1f, cluster 7) with that key in a key file: every
// header is decoded, every body decrypted, and each field matches what
// syncpath/ccp decodes.
func TestGoldenVectorsWithTheKeyFile(t *testing.T) {
	tshark(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ccp.keys")
	if err := os.WriteFile(keyFile, []byte("# golden\n1 aes-256-gcm "+hex.EncodeToString(goldenKey())+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{"heartbeat", "delta", "ack", "fullsync-request", "fullsync-chunk", "fullsync-done", "role"}
	var frames [][]byte
	for _, n := range names {
		frames = append(frames, golden(t, n))
	}
	pcap := filepath.Join(dir, "golden.pcap")
	writePcap(t, pcap, frames)
	rows := dissect(t, pcap, "tccp.key_file:"+keyFile)
	if len(rows) != len(names) {
		t.Fatalf("%d packets dissected, want %d", len(rows), len(names))
	}
	keys := ring(t, 1, goldenKey())
	for i, row := range rows {
		fr := frames[i]
		h := map[string]string{
			"tccp.opcode": strconv.Itoa(int(fr[3])), "tccp.key_id": "1", "tccp.cluster": "7", "tccp.sender": "1",
			"tccp.target": strconv.Itoa(int(fr[9])), "tccp.epoch": strconv.Itoa(int(binary.BigEndian.Uint32(fr[14:]))),
			"tccp.seq": strconv.FormatUint(binary.BigEndian.Uint64(fr[18:]), 10), "tccp.data_seq": strconv.FormatUint(binary.BigEndian.Uint64(fr[26:]), 10),
			"tccp.ack": strconv.FormatUint(binary.BigEndian.Uint64(fr[34:]), 10), "tccp.length": strconv.Itoa(len(fr) - 58),
			"tccp.decrypted": "decrypted with key 1 of the key file", "_ws.expert.message": "",
		}
		check(t, names[i], row, h)
	}
	check(t, "heartbeat", rows[0], map[string]string{"tccp.hb.role": "1", "tccp.hb.priority": "100", "tccp.hb.conns": "1234", "tccp.flags.ack": "1"})
	check(t, "ack", rows[2], map[string]string{"tccp.nack.first": "43,47", "tccp.nack.last": "44,47"})
	check(t, "fullsync-request", rows[3], map[string]string{"tccp.fullsync.reason": "1", "tccp.fullsync.session": "0x0badcafe"})
	check(t, "fullsync-done", rows[5], map[string]string{"tccp.fullsync.chunks": "1", "tccp.fullsync.records": "2"})
	check(t, "role", rows[6], map[string]string{"tccp.role.action": "1", "tccp.role.term": "9"})
	check(t, "delta", rows[1], wantRecords(records(t, keys, 7, frames[1])))
	check(t, "fullsync-chunk", rows[4], wantRecords(records(t, keys, 7, frames[4])))
	if rows[1]["tccp.count"] != "4" || rows[4]["tccp.count"] != "2" {
		t.Errorf("record counts %q and %q, want 4 and 2", rows[1]["tccp.count"], rows[4]["tccp.count"])
	}
}

// TestUnauthenticatedClusterAndUnknownKey: frames of a cluster without a
// key file are decrypted with no preference set; a frame sealed with a key
// the dissector lacks shows its header and is marked encrypted.
func TestUnauthenticatedClusterAndUnknownKey(t *testing.T) {
	tshark(t)
	const cluster = 9
	k := sha256.Sum256([]byte("tandem unauthenticated cluster " + strconv.Itoa(cluster)))
	keys := ring(t, 1, k[:])
	s, err := ccp.NewSealer(keys, cluster, 1, 0x6a400000)
	if err != nil {
		t.Fatal(err)
	}
	var recs []conntrack.Record
	v4 := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	for i := range 60 { // more than one AES block and mixed families, NAT and deletes
		r := conntrack.Record{
			Key:     conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoTCP, v4("10.77.1.10"), v4("10.77.3.10"), uint16(40000+i), 443),
			Version: 1_790_000_000_000_000_000 + uint64(i)*37_000, Timeout: uint32(3_600_000 - i), Op: conntrack.OpNew,
			State: conntrack.StateEstablished, Owner: 1, NAT: conntrack.NATSource, NATPort: uint16(20000 + i), WScale: 0x77,
		}
		copy(r.NATAddr[:4], []byte{10, 77, 2, 100})
		if i%3 == 1 {
			r.Key = conntrack.MakeKey(conntrack.FamilyIPv6, conntrack.ProtoUDP, netip.MustParseAddr("fd77:1::10").As16(), netip.MustParseAddr("fd77:3::53").As16(), uint16(5000+i), 53)
			r.NAT, r.NATPort, r.NATAddr, r.WScale, r.State = conntrack.NATNone, 0, [16]byte{}, 0, conntrack.StateUDPReplied
		}
		if i%7 == 6 {
			r.Op, r.Timeout, r.Version = conntrack.OpDelete, 0, r.Version-90_000 // an older version: a negative delta
		}
		recs = append(recs, r)
	}
	w := ccp.NewFrameWriter(s, ccp.MaxFrameSize(9000, false))
	if err := w.Begin(make([]byte, 0, 9000), ccp.Header{Op: ccp.OpDelta, Target: 2, DataSeq: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if ok, err := w.Add(&recs[i]); !ok {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	delta, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	hb, err := s.SealMessage(nil, ccp.Header{Target: 2}, &ccp.Heartbeat{Role: ccp.RoleBackup, Priority: 90, Conns: 60})
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	s2, err := ccp.NewSealer(ring(t, 5, secret), cluster, 2, 0x6a400001)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := s2.SealMessage(nil, ccp.Header{Target: 1}, &ccp.RoleClaim{Action: ccp.RoleClaimActive, Priority: 90, Term: 3})
	if err != nil {
		t.Fatal(err)
	}
	// A corrupted copy of the heartbeat: the tag must fail, not decode garbage.
	bad := append([]byte(nil), hb...)
	bad[len(bad)-20] ^= 1

	pcap := filepath.Join(t.TempDir(), "unauth.pcap")
	if p := os.Getenv("CCP_KEEP_PCAP"); p != "" {
		pcap = p
	}
	writePcap(t, pcap, [][]byte{delta, hb, hidden, bad})
	rows := dissect(t, pcap)
	if len(rows) != 4 {
		t.Fatalf("%d packets, want 4", len(rows))
	}
	check(t, "delta", rows[0], map[string]string{"tccp.decrypted": "decrypted with the unauthenticated key of cluster 9", "tccp.count": "60", "tccp.cluster": "9"})
	check(t, "delta", rows[0], wantRecords(records(t, keys, cluster, delta)))
	check(t, "heartbeat", rows[1], map[string]string{"tccp.hb.role": "2", "tccp.hb.priority": "90", "tccp.hb.conns": "60"})
	check(t, "unknown key", rows[2], map[string]string{
		"tccp.opcode": "7", "tccp.key_id": "5", "tccp.sender": "2", "tccp.target": "1", "tccp.decrypted": "", "tccp.role.term": "",
		"_ws.expert.message": "Body not decrypted: no key verifies the tag",
	})
	check(t, "corrupted", rows[3], map[string]string{"tccp.opcode": "1", "tccp.decrypted": "", "tccp.hb.role": "",
		"_ws.expert.message": "Body not decrypted: no key verifies the tag"})
	if t.Failed() {
		out, _ := exec.Command(tshark(t), "-n", "-r", pcap, "-X", "lua_script:ccp.lua", "-V", "-c", "2").CombinedOutput()
		t.Logf("tshark -V:\n%s", out)
	}
}
