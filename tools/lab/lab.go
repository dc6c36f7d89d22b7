package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config shapes a lab.
type Config struct {
	Prefix     string // namespace name prefix; default "tdm"
	Queues     int    // queues of each gateway's inside and outside veth; default 2
	SyncQueues int    // queues of the sync link; default 1
	SyncMTU    int    // MTU of the sync link; default 1500 (9000 for jumbo frames)
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "tdm"
	}
	if c.Queues <= 0 {
		c.Queues = 2
	}
	if c.SyncQueues <= 0 {
		c.SyncQueues = 1
	}
	if c.SyncMTU <= 0 {
		c.SyncMTU = 1500
	}
}

func (c Config) validate() error {
	if !validPrefix(c.Prefix) {
		return fmt.Errorf("lab prefix %q: use 1 to 16 of [a-z0-9]", c.Prefix)
	}
	if c.Queues > 64 || c.SyncQueues > 64 {
		return fmt.Errorf("lab queues %d/%d: at most 64", c.Queues, c.SyncQueues)
	}
	if c.SyncMTU < 1280 || c.SyncMTU > 9000 {
		return fmt.Errorf("lab sync MTU %d: want 1280..9000", c.SyncMTU)
	}
	return nil
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 16 {
		return false
	}
	for _, r := range p {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Lab is a running lab: the namespaces it made, by role.
type Lab struct {
	Config
	Client, GW1, GW2, Server string // host namespaces
	LAN, WAN                 string // bridge namespaces
	// For a pair lab (UpPair), A and B are its two namespaces and the
	// others are empty.
	A, B string
}

// Namespaces lists every namespace of the lab.
func (l *Lab) Namespaces() []string {
	var out []string
	for _, n := range []string{l.Client, l.LAN, l.GW1, l.GW2, l.WAN, l.Server, l.A, l.B} { // a chain lab: A, GW1, B
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

func nsName(prefix, host string) string { return prefix + "-" + host }

// Up builds the full lab, after removing what an earlier run left under the
// same prefix.
func Up(cfg Config) (*Lab, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Down(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("clearing an earlier lab %q: %w", cfg.Prefix, err)
	}
	l := &Lab{
		Config: cfg,
		Client: nsName(cfg.Prefix, "client"), GW1: nsName(cfg.Prefix, "gw1"), GW2: nsName(cfg.Prefix, "gw2"),
		Server: nsName(cfg.Prefix, "server"), LAN: nsName(cfg.Prefix, "lan"), WAN: nsName(cfg.Prefix, "wan"),
	}
	if err := l.build(); err != nil {
		_ = Down(cfg.Prefix)
		return nil, fmt.Errorf("building lab %q: %w", cfg.Prefix, err)
	}
	return l, nil
}

// UpPair builds two namespaces, <prefix>-a and <prefix>-b, joined by one veth
// pair (IfPair at both ends) with cfg.Queues queues, addressed PairAddrA and
// PairAddrB.
func UpPair(cfg Config) (*Lab, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Down(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("clearing an earlier lab %q: %w", cfg.Prefix, err)
	}
	l := &Lab{Config: cfg, A: nsName(cfg.Prefix, "a"), B: nsName(cfg.Prefix, "b")}
	err := func() error {
		b := newBuilder()
		defer b.close()
		for _, n := range []string{l.A, l.B} {
			if err := b.addNS(n); err != nil {
				return err
			}
		}
		if err := b.veth(l.A, IfPair, l.B, IfPair, cfg.Queues, 1500); err != nil {
			return err
		}
		for _, e := range []struct {
			ns   string
			addr netip.Addr
		}{{l.A, PairAddrA}, {l.B, PairAddrB}} {
			if err := b.addr(e.ns, IfPair, e.addr, prefixLen4); err != nil {
				return err
			}
			if err := b.up(e.ns, IfPair, "lo"); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		_ = Down(cfg.Prefix)
		return nil, fmt.Errorf("building pair lab %q: %w", cfg.Prefix, err)
	}
	return l, nil
}

func (l *Lab) build() error {
	b := newBuilder()
	defer b.close()
	for _, n := range l.Namespaces() {
		if err := b.addNS(n); err != nil {
			return err
		}
	}
	q := l.Queues
	links := []struct {
		ns, ifname, peerNS, peerIf string
		queues, mtu                int
	}{
		{l.Client, IfClient, l.LAN, "client", 1, 1500},
		{l.GW1, IfInside, l.LAN, "gw1", q, 1500},
		{l.GW2, IfInside, l.LAN, "gw2", q, 1500},
		{l.Server, IfClient, l.WAN, "server", 1, 1500},
		{l.GW1, IfOutside, l.WAN, "gw1", q, 1500},
		{l.GW2, IfOutside, l.WAN, "gw2", q, 1500},
		{l.GW1, IfSync, l.GW2, IfSync, l.SyncQueues, l.SyncMTU},
	}
	for _, k := range links {
		if err := b.veth(k.ns, k.ifname, k.peerNS, k.peerIf, k.queues, k.mtu); err != nil {
			return err
		}
	}
	for _, sw := range []struct {
		ns    string
		ports []string
	}{{l.LAN, []string{"client", "gw1", "gw2"}}, {l.WAN, []string{"server", "gw1", "gw2"}}} {
		if err := b.bridge(sw.ns, IfBridge, sw.ports); err != nil {
			return err
		}
		// Bridged frames must not traverse the bridge namespace's netfilter.
		if err := b.sysctl(sw.ns, "net/bridge/bridge-nf-call-iptables", "0", true); err != nil {
			return err
		}
		if err := b.sysctl(sw.ns, "net/bridge/bridge-nf-call-ip6tables", "0", true); err != nil {
			return err
		}
	}
	addrs := []struct {
		ns, ifname string
		a          netip.Addr
	}{
		{l.Client, IfClient, ClientAddr}, {l.Client, IfClient, ClientAddr6},
		{l.Server, IfClient, ServerAddr}, {l.Server, IfClient, ServerAddr6},
		{l.GW1, IfInside, GW1Inside}, {l.GW1, IfInside, GW1Inside6},
		{l.GW2, IfInside, GW2Inside}, {l.GW2, IfInside, GW2Inside6},
		{l.GW1, IfOutside, GW1Outside}, {l.GW1, IfOutside, GW1Outside6},
		{l.GW2, IfOutside, GW2Outside}, {l.GW2, IfOutside, GW2Outside6},
		{l.GW1, IfSync, GW1Sync}, {l.GW1, IfSync, GW1Sync6},
		{l.GW2, IfSync, GW2Sync}, {l.GW2, IfSync, GW2Sync6},
	}
	for _, a := range addrs {
		bits := prefixLen4
		if a.a.Is6() {
			bits = prefixLen6
		}
		if err := b.addr(a.ns, a.ifname, a.a, bits); err != nil {
			return err
		}
	}
	ups := map[string][]string{
		l.Client: {IfClient}, l.Server: {IfClient},
		l.GW1: {IfInside, IfOutside, IfSync}, l.GW2: {IfInside, IfOutside, IfSync},
		l.LAN: {"client", "gw1", "gw2", IfBridge}, l.WAN: {"server", "gw1", "gw2", IfBridge},
	}
	for ns, ifs := range ups {
		if err := b.up(ns, append(ifs, "lo")...); err != nil {
			return err
		}
	}
	// Checksums complete on every veth end that sends traffic, as on a
	// real wire (see txChecksumOff).
	offload := map[string][]string{
		l.Client: {IfClient}, l.Server: {IfClient},
		l.GW1: {IfInside, IfOutside, IfSync}, l.GW2: {IfInside, IfOutside, IfSync},
		l.LAN: {"client", "gw1", "gw2"}, l.WAN: {"server", "gw1", "gw2"},
	}
	for ns, ifs := range offload {
		err := Do(ns, func() error {
			for _, ifname := range ifs {
				if err := txChecksumOff(ifname); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("in %s: %w", ns, err)
		}
	}
	routes := []struct {
		ns       string
		via      netip.Addr
		default6 bool
	}{
		{l.Client, InsideVIP, false}, {l.Client, InsideVIP6, true},
		{l.Server, OutsideVIP, false}, {l.Server, OutsideVIP6, true},
	}
	for _, r := range routes {
		if err := b.defaultRoute(r.ns, IfClient, r.via); err != nil {
			return err
		}
	}
	return nil
}

// Down removes every namespace named <prefix>-*, first killing the processes
// inside them. It is safe to call when nothing exists.
func Down(prefix string) error {
	if !validPrefix(prefix) {
		return fmt.Errorf("lab prefix %q: use 1 to 16 of [a-z0-9]", prefix)
	}
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix+"-") || strings.Contains(name[len(prefix)+1:], "-") {
			continue
		}
		killInside(name)
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Down removes the lab.
func (l *Lab) Down() error { return Down(l.Prefix) }

const netnsDir = "/var/run/netns"

// killInside sends SIGKILL to every process whose network namespace is the
// named one (other than this process), and waits briefly for them to go.
func killInside(name string) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(netnsDir, name), &st); err != nil {
		return
	}
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		var pst unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &pst) != nil {
			continue
		}
		if pst.Ino == st.Ino && pst.Dev == st.Dev {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Exists reports whether the namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// Do runs fn on an OS thread that has entered the namespace ns. Goroutines
// that fn starts do not inherit the namespace. The thread is never returned
// to the Go scheduler: it ends with fn, so no other goroutine can ever run in
// the foreign namespace by accident.
func Do(ns string, fn func() error) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread exits with this goroutine
		returned := false
		defer func() {
			// fn called runtime.Goexit (t.FailNow does): report it rather
			// than leave the caller waiting.
			if !returned {
				errc <- fmt.Errorf("function run in namespace %s exited without returning (runtime.Goexit)", ns)
			}
		}()
		if err := netns.Set(h); err != nil {
			returned = true
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		err := fn()
		returned = true
		errc <- err
	}()
	return <-errc
}

// Command returns a command that runs name with args inside namespace ns.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// HardwareAddr returns the MAC address of ifname in namespace ns.
func HardwareAddr(ns, ifname string) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := Do(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		mac = l.Attrs().HardwareAddr
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading MAC of %s in %s: %w", ifname, ns, err)
	}
	return mac, nil
}

// AddAddr adds addr to ifname in namespace ns (for example a VIP on the
// active gateway).
func AddAddr(ns, ifname string, addr netip.Addr) error {
	b := newBuilder()
	defer b.close()
	bits := prefixLen4
	if addr.Is6() {
		bits = prefixLen6
	}
	return b.addr(ns, ifname, addr, bits)
}
