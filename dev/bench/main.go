// Command bench is the benchmark harness behind `make bench`. It starts, as
// separate processes, the kumo AWS emulator, the counting AWS front
// (dev/awsfront) before it, and the provider binary built from this
// repository; it serves a minimal Kubernetes API stand-in on loopback for
// the service-account role annotation, and it drives Mount over the
// provider's unix socket exactly as the Secrets Store CSI Driver does: one
// gRPC connection, N concurrent callers, the pod attributes with the
// service-account token map, permission "420".
//
// The same scenarios run against the provider with caching on, with
// caching off (--cache=false), and against a null provider (this binary
// re-executed with -null-provider) that answers every Mount with a
// precomputed response of the same 30 PMP files: the ceiling any provider
// can reach on this machine with this client. It prints a markdown table,
// the ratios and each target with PASS/FAIL, writes them to -write, and
// exits non-zero when a target fails (unless -no-check).
//
// With -fleet (make fleet) it runs the fleet simulation instead (fleet.go):
// many provider processes against the front's AWS quotas, checked against
// the fleet model (fleetmodel.go), written as its own section of the
// report.
//
// Everything listens on 127.0.0.1 or a unix socket; every loop is bounded
// by a count or a deadline. Secret values and tokens are synthetic and never
// printed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type options struct {
	quick      bool
	write      string
	goBench    string
	noCheck    bool
	duration   time.Duration // per throughput scenario
	longMounts int
	cold       int
	identities int
	pods       int
	rounds     int
	window     time.Duration // freshness window of the republish and rotation scenarios
	providerV  int
	keep       bool
	only       *regexp.Regexp
	baseline   string
	// latencyScale and latencyRotations shape the rotation-latency table.
	latencyScale     int
	latencyRotations int
	// fleet runs the fleet simulation (fleet.go) instead of the
	// scenarios, for fleetNodes nodes, in time compressed by fleetScale,
	// each run fleetMinutes simulated minutes.
	fleet        bool
	fleetNodes   []int
	fleetScale   int
	fleetMinutes int
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-null-provider" {
		if err := runNullProvider(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "null provider:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "short run (about a minute): 1s per throughput scenario, 20,000-mount long run, fewer cold identities")
	fs.StringVar(&o.write, "write", "", "write the report (markdown) to this file, e.g. BENCHMARKS.md")
	fs.StringVar(&o.goBench, "gobench", "", "file holding the output of go test -bench, to include in the report")
	fs.BoolVar(&o.noCheck, "no-check", false, "print the targets but exit 0 even when one fails")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each target serves Mounts in each throughput scenario (1, 8, 32 callers), in turns with the others")
	fs.IntVar(&o.longMounts, "long", 100000, "cached mounts in the long run (RSS and fd check)")
	fs.IntVar(&o.cold, "cold", 200, "distinct identities (namespace/service account) in the cold scenario")
	fs.IntVar(&o.identities, "identities", 1000, "distinct identities (namespace/service account) cached in the identities scenario (RSS per cached identity)")
	fs.IntVar(&o.pods, "pods", 100, "pods of one service account in the republish and rotation scenarios")
	fs.IntVar(&o.rounds, "rounds", 10, "republish rounds")
	fs.DurationVar(&o.window, "window", time.Second, "--secret-ttl (freshness window) of the republish and rotation scenarios; rounds come every half window, as the kubelet's ~1 min sync does against the 2 min default")
	fs.IntVar(&o.providerV, "provider-v", 0, "the provider's -v log level (2 logs one line per Mount)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, logs)")
	fs.StringVar(&o.baseline, "baseline", "", "also run the provider built from this git revision (caching on) in the steady and long scenarios, as \"baseline\": a before/after figure from the same run")
	fs.IntVar(&o.latencyScale, "latency-scale", 50, "the rotation-latency table runs in scaled time: this many real seconds per second")
	fs.IntVar(&o.latencyRotations, "latency-rotations", 4, "rotations per cell of the rotation-latency table (-quick: 2)")
	fs.BoolVar(&o.fleet, "fleet", false, "run the fleet simulation instead of the scenarios (make fleet): -fleet-nodes provider processes against the AWS front's quotas; -write splices its section into the file, keeping the rest")
	fleetNodes := fs.String("fleet-nodes", "10,50,100", "fleet sizes (provider processes) of the fleet simulation, comma-separated")
	fs.IntVar(&o.fleetScale, "fleet-scale", 10, "the fleet simulation's time compression: simulated seconds per real second (the provider's windows are shortened by it)")
	fs.IntVar(&o.fleetMinutes, "fleet-minutes", 8, "simulated minutes of each fleet run (at least 7: the steady span starts at 3, the last rotation at 5.5)")
	only := fs.String("only", "", "run only the scenarios matching this regexp (cold, republish, podidentity, burst, denied, steady1, steady8, steady32, rotation, long, identities, faults, outage, latency); targets of the others are not checked")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -only:", err)
			os.Exit(2)
		}
		o.only = re
	}
	nodes, err := parseNodes(*fleetNodes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -fleet-nodes:", err)
		os.Exit(2)
	}
	o.fleetNodes = nodes
	if o.fleetScale < 1 || o.fleetScale > 100 || o.fleetMinutes < 7 || o.fleetMinutes > 120 {
		fmt.Fprintln(os.Stderr, "bench: -fleet-scale must be 1-100 and -fleet-minutes 7-120")
		os.Exit(2)
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["long"] {
			o.longMounts = 20000
		}
		if !set["cold"] {
			o.cold = 50
		}
		if !set["latency-rotations"] {
			o.latencyRotations = 2
		}
	}
	if o.duration <= 0 || o.duration > 5*time.Minute || o.longMounts < 1 || o.longMounts > 10_000_000 ||
		o.cold < 1 || o.cold > 100_000 || o.identities < 1 || o.identities > 100_000 || o.pods < 1 || o.pods > 100_000 || o.rounds < 1 || o.rounds > 1000 ||
		o.window < 100*time.Millisecond || o.window > time.Minute ||
		o.latencyScale < 1 || o.latencyScale > 1000 || o.latencyRotations < 1 || o.latencyRotations > 100 {
		fmt.Fprintln(os.Stderr, "bench: a flag is out of range (see -h)")
		os.Exit(2)
	}
	command := "go run ./dev/bench"
	if len(os.Args) > 1 {
		command += " " + strings.Join(os.Args[1:], " ")
	}
	run := run
	if o.fleet {
		run = runFleet
	}
	failed, err := run(o, command)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if failed > 0 && !o.noCheck {
		fmt.Fprintf(os.Stderr, "bench: %d target(s) failed\n", failed)
		os.Exit(1)
	}
}

// parseNodes reads -fleet-nodes: fleet sizes of 2 to 500 nodes.
func parseNodes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > 500 {
			return nil, fmt.Errorf("%q: want comma-separated node counts, each 2 to 500", f)
		}
		out = append(out, n)
	}
	return out, nil
}
