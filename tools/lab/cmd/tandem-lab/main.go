// Command tandem-lab brings Tandem's network-namespace lab up and down.
//
//	tandem-lab up [-prefix tdm] [-queues 2] [-sync-mtu 1500]
//	tandem-lab pair [-prefix tdm] [-queues 1]
//	tandem-lab chain [-prefix tdm] [-queues 1]
//	tandem-lab down [-prefix tdm]
//	tandem-lab status [-prefix tdm]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tandem-gw/tandem/tools/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	prefix := fs.String("prefix", "tdm", "namespace name prefix (1-16 of [a-z0-9])")
	queues := fs.Int("queues", 2, "queues per gateway veth (pair: per end)")
	syncQueues := fs.Int("sync-queues", 1, "queues of the sync link")
	syncMTU := fs.Int("sync-mtu", 1500, "MTU of the sync link (9000 for jumbo frames)")
	_ = fs.Parse(os.Args[2:])
	cfg := lab.Config{Prefix: *prefix, Queues: *queues, SyncQueues: *syncQueues, SyncMTU: *syncMTU}

	var err error
	switch os.Args[1] {
	case "up":
		var l *lab.Lab
		if l, err = lab.Up(cfg); err == nil {
			fmt.Printf("lab %s up: %s\n", l.Prefix, strings.Join(l.Namespaces(), " "))
		}
	case "pair":
		var l *lab.Lab
		if l, err = lab.UpPair(cfg); err == nil {
			fmt.Printf("pair lab %s up: %s\n", l.Prefix, strings.Join(l.Namespaces(), " "))
		}
	case "chain":
		var l *lab.Lab
		if l, err = lab.UpChain(cfg); err == nil {
			fmt.Printf("chain lab %s up: %s\n", l.Prefix, strings.Join(l.Namespaces(), " "))
		}
	case "down":
		if err = lab.Down(*prefix); err == nil {
			fmt.Printf("lab %s down\n", *prefix)
		}
	case "status":
		for _, host := range []string{"client", "lan", "gw1", "gw2", "wan", "server", "a", "b", "src", "gw", "dst"} {
			ns := *prefix + "-" + host
			if lab.Exists(ns) {
				fmt.Println(ns)
			}
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem-lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tandem-lab up|pair|chain|down|status [-prefix P] [-queues N] [-sync-queues N] [-sync-mtu M]")
	os.Exit(2)
}
