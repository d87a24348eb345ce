// Command pmp-secrets-provider is a Secrets Store CSI Driver provider that
// mounts Private Mendix Platform credentials from AWS Secrets Manager into
// pods, one file per credential, as the pod's own IAM role (IRSA). With a
// subcommand (template, validate, policy, doctor) it is the PMP tooling of package
// cli; serving the driver is the default, also as "serve".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	args, serve := cli.Serve(os.Args)
	if !serve {
		code := cli.Main(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	cfg, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pmp-secrets-provider:", err)
		os.Exit(2)
	}
	if cfg.ShowVersion {
		fmt.Println(version)
		return
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pmp-secrets-provider:", err)
		os.Exit(1)
	}
}
