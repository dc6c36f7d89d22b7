// Command tandemctl is the operator CLI of Tandem: it talks to a running
// tandemd over its API (control/api), on the unix socket by default.
//
//	tandemctl status                     the member, its role, interfaces, table size
//	tandemctl members                    this member and its peers
//	tandemctl syncstat [--reset]         sync figures per peer (cphaprob syncstat)
//	tandemctl conns [filters]            the connection table, filtered and paged
//	tandemctl top                        live view, refreshed every second (cpview)
//	tandemctl set PARAM VALUE            change a runtime parameter (vls_set_param)
//	tandemctl failover                   hand the active role to the peer
//	tandemctl config check FILE          validate a config file against this machine
//
// Every command takes --json (machine-readable output) and --socket PATH;
// --tcp HOST:PORT with --token-file FILE reaches a daemon over TCP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tandem-gw/tandem/control/api"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// globals are the flags every command takes.
type globals struct {
	socket    string
	tcp       string
	tokenFile string
	json      bool
}

// register adds the global flags to fs, with their current values as
// defaults: given before the command and again after it, the later wins.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.socket, "socket", g.socket, "tandemd's API socket (env TANDEM_SOCKET)")
	fs.StringVar(&g.tcp, "tcp", g.tcp, "reach tandemd at this `host:port` instead of the socket (needs --token-file)")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "bearer token `file` for --tcp")
	fs.BoolVar(&g.json, "json", g.json, "print JSON instead of text")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) client() (*api.Client, error) {
	if g.tcp == "" {
		return api.NewUnixClient(g.socket), nil
	}
	if g.tokenFile == "" {
		return nil, errors.New("--tcp needs --token-file (the daemon's api.token_file)")
	}
	b, err := os.ReadFile(g.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return api.NewTCPClient(g.tcp, strings.TrimSpace(string(b))), nil
}

// command is one subcommand.
type command struct {
	name    string
	usage   string // arguments
	summary string
	flags   func(fs *flag.FlagSet) any               // registers the command's own flags; returns their holder
	run     func(e *env, args []string, f any) error // runs it
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	g      globals
	c      *api.Client
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
}

// errUsage marks an error in the command line: exit status 2.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e usageError) Error() string   { return e.msg }
func (e usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

var commands []command

func init() {
	commands = []command{
		{name: "status", summary: "the member, its role, interfaces, table size and parameters", run: runStatus},
		{name: "members", summary: "this member and its peers: role, priority, liveness, sync state", run: runMembers},
		{name: "syncstat", usage: "[--reset]", summary: "sync figures per peer: frames, records, bytes, retransmits, rejects, queue, lag, bandwidth", flags: syncstatFlags, run: runSyncstat},
		{name: "conns", usage: "[--addr A] [--port P] [--proto tcp|udp|icmp|icmpv6] [--state S] [--limit N] [--cursor C]", summary: "the connection table, filtered, a page at a time", flags: connsFlags, run: runConns},
		{name: "top", usage: "[--interval D] [-n N]", summary: "live view refreshed every second: traffic per interface and queue, sync, table, drops, cores (q or Ctrl-C quits)", flags: topFlags, run: runTop},
		{name: "set", usage: "PARAM VALUE", summary: "change a runtime parameter: " + strings.Join(api.ParamNames(), ", "), run: runSet},
		{name: "failover", summary: "planned failover: hand the active role to the peer once the sync queue drained", run: runFailover},
		{name: "config", usage: "check FILE", summary: "validate a config file against this machine (no daemon needed)", run: runConfig},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: tandemctl [--socket PATH | --tcp HOST:PORT --token-file FILE] [--json] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
		if c.usage != "" {
			fmt.Fprintf(w, "  %-9s   tandemctl %s %s\n", "", c.name, c.usage)
		}
	}
	fmt.Fprintf(w, "\nparameters for set:\n")
	for _, n := range api.ParamNames() {
		fmt.Fprintf(w, "  %-27s %s\n", n, api.ParamHelp(n))
	}
}

// parse parses flags anywhere among the arguments and returns the others.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	g := globals{socket: envOr("TANDEM_SOCKET", api.DefaultSocket)}
	top := flag.NewFlagSet("tandemctl", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { usage(stderr) }
	g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = top.Args()
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "help" {
		usage(stdout)
		return 0
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "tandemctl: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("tandemctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tandemctl %s %s\n%s\n\nflags:\n", cmd.name, cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	g.register(fs) // the global flags may also follow the command
	var held any
	if cmd.flags != nil {
		held = cmd.flags(fs)
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, g: g, stdin: stdin, stdout: stdout, stderr: stderr}
	if cmd.name != "config" {
		if e.c, err = g.client(); err != nil {
			fmt.Fprintln(stderr, "tandemctl:", err)
			return 2
		}
		defer e.c.Close()
	}
	if err := cmd.run(e, pos, held); err != nil {
		fmt.Fprintf(stderr, "tandemctl %s: %v\n", cmd.name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}
