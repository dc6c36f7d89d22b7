package conntrack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// NATKind says which address of a connection is translated.
type NATKind uint8

const (
	NATNone        NATKind = iota
	NATSource              // SNAT: the original source becomes the pool address:port
	NATDestination         // DNAT: the original destination becomes the target address:port
)

// NATRequest asks for a NAT mapping when a connection is created: Kind and
// the index of the SNAT pool or DNAT rule in Config. The zero value asks
// for none. The engine's policy picks it (MatchDNAT helps for DNAT).
type NATRequest struct {
	Kind  NATKind
	Index uint8
}

// RewriteOp says which address and port of a packet the engine rewrites.
type RewriteOp uint8

const (
	RewriteNone RewriteOp = iota
	RewriteSrc
	RewriteDst
)

// Rewrite is the NAT rewrite for one packet: set the source or destination
// address and port to Addr:Port (IPv4 in the first 4 bytes), then fix the
// checksums incrementally.
type Rewrite struct {
	Op   RewriteOp
	Port uint16
	Addr [16]byte
}

// natPool is a compiled SNAT pool or DNAT target set: addresses as key
// words, per family, and a port range (min 0: keep the packet's port).
type natPool struct {
	v4, v6     [][2]uint64
	pmin, pmax uint16
	preserve   bool
}

type dnatRule struct {
	proto   uint8
	family  uint8
	addr    [2]uint64
	port    uint16
	targets natPool
}

func addrWords(a netip.Addr) ([2]uint64, uint8) {
	var b [16]byte
	fam := uint8(FamilyIPv6)
	if a.Is4() || a.Is4In6() {
		fam = FamilyIPv4
		v := a.Unmap().As4()
		copy(b[:4], v[:])
	} else {
		b = a.As16()
	}
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}, fam
}

func compilePool(addrs []netip.Addr, pmin, pmax uint16, preserve bool) natPool {
	p := natPool{pmin: pmin, pmax: pmax, preserve: preserve}
	for _, a := range addrs {
		w, fam := addrWords(a)
		if fam == FamilyIPv4 {
			p.v4 = append(p.v4, w)
		} else {
			p.v6 = append(p.v6, w)
		}
	}
	return p
}

func (t *Table) compileNAT() error {
	for _, p := range t.cfg.SNAT {
		t.snat = append(t.snat, compilePool(p.Addrs, p.PortMin, p.PortMax, p.PreservePort))
	}
	for i, r := range t.cfg.DNAT {
		w, fam := addrWords(r.Addr)
		pool := compilePool(r.To, r.ToPortMin, r.ToPortMax, false)
		if (fam == FamilyIPv4 && len(pool.v4) == 0) || (fam == FamilyIPv6 && len(pool.v6) == 0) {
			return fmt.Errorf("dnat rule %d: no target of the match address's family: %w", i, ErrConfig)
		}
		t.dnat = append(t.dnat, dnatRule{proto: r.Proto, family: fam, addr: w, port: r.Port, targets: pool})
	}
	return nil
}

// MatchDNAT returns the first DNAT rule matching k's protocol and
// destination address and port.
func (t *Table) MatchDNAT(k Key) (NATRequest, bool) {
	var kw kwords
	kw.fromKey(&k)
	for i := range t.dnat {
		r := &t.dnat[i]
		if r.proto == k.Proto && r.family == k.Family && r.port == k.DstPort && r.addr == [2]uint64{kw[2], kw[3]} {
			return NATRequest{Kind: NATDestination, Index: uint8(i)}, true
		}
	}
	return NATRequest{}, false
}

// setNAT copies a request into nc, reporting false for an unknown pool.
func (t *Table) setNAT(nc *newConn, r NATRequest) bool {
	switch r.Kind {
	case NATNone:
		return true
	case NATSource:
		if int(r.Index) >= len(t.snat) {
			return false
		}
	case NATDestination:
		if int(r.Index) >= len(t.dnat) {
			return false
		}
	default:
		return false
	}
	nc.nat, nc.natIdx = r.Kind, r.Index
	return true
}

func (t *Table) pool(nc *newConn) *natPool {
	if nc.nat == NATSource {
		return &t.snat[nc.natIdx]
	}
	return &t.dnat[nc.natIdx].targets
}

func (p *natPool) addrs(fam uint8) [][2]uint64 {
	if fam == FamilyIPv4 {
		return p.v4
	}
	return p.v6
}

func (p *natPool) ports() uint64 {
	if p.pmin == 0 {
		return 1
	}
	return uint64(p.pmax-p.pmin) + 1
}

// natSpace is the number of (address, port) candidates for kw.
func (t *Table) natSpace(kw *kwords, nc *newConn) uint64 {
	p := t.pool(nc)
	return uint64(len(p.addrs(uint8(kw[4]>>40)))) * p.ports()
}

// natPreserve reports whether the first candidate is the client's port.
func (t *Table) natPreserve(kw *kwords, nc *newConn) bool {
	p := t.pool(nc)
	sp := kw.sport()
	return nc.nat == NATSource && p.preserve && sp >= p.pmin && sp <= p.pmax
}

// natCandidate sets nc's NAT address and port to candidate i of space,
// starting from a keyed hash of the connection (base): the port does not
// reveal the client's, and different connections start far apart. With
// PreservePort the client's own port comes first.
func (t *Table) natCandidate(kw *kwords, nc *newConn, i int, base, space uint64) {
	p := t.pool(nc)
	addrs := p.addrs(uint8(kw[4] >> 40))
	nports := p.ports()
	if t.natPreserve(kw, nc) {
		if i == 0 {
			nc.natAddr = addrs[base%uint64(len(addrs))]
			nc.natPort = kw.sport()
			return
		}
		i--
	}
	pos := (base + uint64(i)) % space
	nc.natAddr = addrs[pos/nports]
	if p.pmin == 0 {
		nc.natPort = kw.dport() // DNAT keeping the port
	} else {
		nc.natPort = p.pmin + uint16(pos%nports)
	}
}

// rewrite returns the packet rewrite for direction d of an entry.
func rewrite(ow *kwords, m uint64, nat [2]uint64, d Dir) Rewrite {
	var r Rewrite
	var a [2]uint64
	switch {
	case metaNAT(m) == NATSource && d == DirOriginal:
		r.Op, a, r.Port = RewriteSrc, nat, metaPort(m)
	case metaNAT(m) == NATSource:
		r.Op, a, r.Port = RewriteDst, [2]uint64{ow[0], ow[1]}, ow.sport()
	case metaNAT(m) == NATDestination && d == DirOriginal:
		r.Op, a, r.Port = RewriteDst, nat, metaPort(m)
	case metaNAT(m) == NATDestination:
		r.Op, a, r.Port = RewriteSrc, [2]uint64{ow[2], ow[3]}, ow.dport()
	default:
		return r
	}
	binary.LittleEndian.PutUint64(r.Addr[:8], a[0])
	binary.LittleEndian.PutUint64(r.Addr[8:], a[1])
	return r
}
