// Command awsfront runs the AWS emulator front as its own process, for the
// e2e suite and the benchmark harness: it forwards to --upstream (and calls
// signed for a region of --route to that region's emulator), counts calls
// and injects faults, enforces per-operation rate quotas (ThrottlingException
// past them, as AWS), and serves its control API on --control.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "awsfront:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address AWS clients call")
	control := flag.String("control", "127.0.0.1:0", "address of the control API")
	upstream := flag.String("upstream", "", "the emulator's URL, e.g. http://127.0.0.1:4566")
	addrFile := flag.String("addr-file", "", "write \"<listen-url> <control-url>\" here once serving")
	var routes []string
	flag.Func("route", "REGION=URL: calls signed for REGION go to the emulator at URL (repeatable; one kumo per region)", func(v string) error {
		routes = append(routes, v)
		return nil
	})
	flag.Parse()
	if *upstream == "" {
		return errors.New("--upstream is required")
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		return fmt.Errorf("--upstream: %w", err)
	}
	front := awsemu.NewFront(up)
	for _, r := range routes {
		region, target, ok := strings.Cut(r, "=")
		u, err := url.Parse(target)
		if !ok || region == "" || err != nil || u.Host == "" {
			return fmt.Errorf("--route %q: want REGION=URL, e.g. us-west-2=http://127.0.0.1:4567", r)
		}
		front.Route(region, u)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	cln, err := net.Listen("tcp", *control)
	if err != nil {
		return err
	}
	urls := fmt.Sprintf("http://%s http://%s\n", ln.Addr(), cln.Addr())
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile+".tmp", []byte(urls), 0o600); err != nil {
			return err
		}
		if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
			return err
		}
	}
	fmt.Print(urls)

	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	csrv := &http.Server{Handler: front.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- csrv.Serve(cln) }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(sctx), csrv.Shutdown(sctx))
}
