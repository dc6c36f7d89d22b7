// Command tandemd is the Tandem gateway daemon.
//
//	tandemd -config FILE      run the gateway the file describes, in the current network namespace
//	tandemd -check FILE       validate FILE against this machine and exit
//	tandemd -demo             the namespace lab with tandemd as gw1, real traffic, the gateway's counters
//
// tandemd stops cleanly on SIGTERM or SIGINT: workers stopped, sockets
// closed, XDP programs detached, claimed addresses released (the active
// member of a pair hands over to its peer first). SIGUSR1 asks the active
// member of a pair for a planned failover, as tandemctl failover does.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandem-gw/tandem/control/config"
)

func main() {
	configPath := flag.String("config", "", "run the gateway described by this config file")
	checkPath := flag.String("check", "", "validate this config file against the machine and exit")
	demo := flag.Bool("demo", false, "run the lab demo on the embedded default config")
	prefix := flag.String("prefix", "tdmdemo", "lab namespace prefix for -demo")
	transfer := flag.Int64("transfer", 256<<20, "bytes the demo's TCP transfer moves through the gateway")
	keep := flag.Bool("keep", false, "leave the demo lab up afterwards (remove it with tandem-lab down -prefix P)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	switch {
	case *checkPath != "":
		m, err := config.HostMachine()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tandemd:", err)
			os.Exit(2)
		}
		if err := config.Check(*checkPath, m, os.Stdout); err != nil {
			os.Exit(1)
		}
	case *demo:
		if err := runDemo(demoConfig{prefix: *prefix, transfer: *transfer, keep: *keep}); err != nil {
			log.Error("demo failed", "err", err)
			os.Exit(1)
		}
	case *configPath != "":
		if err := runFromFile(*configPath, log); err != nil {
			log.Error("tandemd", "err", err)
			os.Exit(1)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func runFromFile(path string, log *slog.Logger) error {
	cfg, warnings, err := config.Load(path)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn("config", "key", w.Key, "value", w.Value, "reason", w.Reason)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	m, err := startMember(cfg, log)
	if err != nil {
		return err
	}
	handover := make(chan os.Signal, 1)
	signal.Notify(handover, syscall.SIGUSR1)
	for {
		select {
		case <-handover:
			// A planned failover (what tandemctl failover asks for).
			go func() {
				if err := m.failover(); err != nil {
					log.Error("planned failover refused", "err", err)
					return
				}
				log.Info("planned failover: handed the active role to the peer")
			}()
			continue
		case sig := <-sigs:
			log.Info("stopping", "signal", sig.String())
		}
		break
	}
	if err := m.shutdown(); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}
