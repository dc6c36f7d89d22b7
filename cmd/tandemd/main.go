// Command tandemd is the Tandem gateway daemon.
//
// Until the gateway engine lands, tandemd runs one job: -demo brings up the
// namespace lab on an embedded default, steers traffic into AF_XDP sockets on
// gateway gw1, sends real traffic through them, and prints the socket
// statistics.
//
//	tandemd -demo [-prefix tdmdemo] [-datagrams 100000] [-rate 50000] [-keep]
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
)

func main() {
	demo := flag.Bool("demo", false, "run the lab demo on the embedded default")
	prefix := flag.String("prefix", "tdmdemo", "lab namespace prefix for -demo")
	datagrams := flag.Int("datagrams", 100000, "datagrams the demo client sends to the gateway")
	rate := flag.Int("rate", 50000, "datagrams per second the demo client sends")
	keep := flag.Bool("keep", false, "leave the demo lab up afterwards (remove it with tandem-lab down -prefix P)")
	flag.Parse()

	if !*demo {
		fmt.Fprintln(os.Stderr, "tandemd: the gateway engine is not built yet; run tandemd -demo (make demo)")
		os.Exit(2)
	}
	if err := runDemo(demoConfig{prefix: *prefix, datagrams: *datagrams, rate: *rate, keep: *keep}); err != nil {
		slog.Error("demo failed", "err", err)
		os.Exit(1)
	}
}
