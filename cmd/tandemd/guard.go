package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// The kernel guard. A member holds its SNAT addresses on the kernel's
// interfaces so that the kernel answers ARP and neighbour discovery for
// them; the connections' packets never reach the kernel while the steering
// program runs. If tandemd dies (SIGKILL, a crash) the program goes with
// it but the addresses stay, and until the backup's announcements move the
// neighbours' caches, packets of translated connections reach the dead
// member's kernel, which answers them with TCP resets: the backup would
// take over connections their peers had just reset. The guard, an nftables
// table tandemd installs at start and removes at a clean stop, makes the
// kernel drop them instead; it outlives the process on purpose.

const guardTable = "tandem_guard"

// guardRules returns the nft script that (re)creates the guard table for
// addrs.
func guardRules(addrs []netip.Addr) string {
	var v4, v6 []string
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", guardTable, guardTable, guardTable)
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority -300; policy accept;\n")
	if len(v4) > 0 {
		fmt.Fprintf(&b, "\t\tip daddr { %s } drop\n", strings.Join(v4, ", "))
	}
	if len(v6) > 0 {
		fmt.Fprintf(&b, "\t\tip6 daddr { %s } drop\n", strings.Join(v6, ", "))
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// installGuard installs the guard for addrs with nft(8).
func installGuard(addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return nil
	}
	return nft(guardRules(addrs))
}

// removeGuard removes the guard table (nothing if it is absent).
func removeGuard() error {
	return nft(fmt.Sprintf("table inet %s\ndelete table inet %s\n", guardTable, guardTable))
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kernel guard (nft): %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
