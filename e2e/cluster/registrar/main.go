// Command registrar registers a CSI driver with the kubelet's plugin watcher,
// the part of node-driver-registrar the e2e cluster needs (which the module
// proxy does not serve). It listens on --registration-socket, answers GetInfo
// with the driver's name and endpoint, and logs the kubelet's verdict.
//
// It also takes node-driver-registrar's own arguments, as the Secrets Store
// CSI Driver's chart passes them to its sidecar (e2e/kind builds it into the
// image that replaces that sidecar's): --kubelet-registration-path is then the
// endpoint the kubelet dials, the socket is /registration/<driver>-reg.sock
// (the chart mounts the kubelet's plugins_registry there) and --v is accepted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type registrar struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
}

func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.name,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		log.Printf("kubelet refused %s: %s", r.name, s.Error)
	} else {
		log.Printf("kubelet registered %s at %s", r.name, r.endpoint)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(1)
	}
}

func run() error {
	r, sock, err := parseArgs(os.Args[1:])
	if err != nil {
		return err
	}
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		return err
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, r)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); srv.Stop() }()
	log.Printf("serving registration for %s on %s", r.name, sock)
	return srv.Serve(ln)
}

// parseArgs reads the registrar's arguments, this cluster's own or
// node-driver-registrar's as the driver's chart passes them: the registrar
// that answers the kubelet, and the socket it listens on.
func parseArgs(args []string) (*registrar, string, error) {
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	name := fs.String("driver-name", "secrets-store.csi.k8s.io", "CSI driver name")
	endpoint := fs.String("csi-address", "", "driver's socket path, as the kubelet dials it")
	sock := fs.String("registration-socket", "", "<kubelet-root>/plugins_registry/<driver>-reg.sock")
	kubeletPath := fs.String("kubelet-registration-path", "", "node-driver-registrar's name for the endpoint the kubelet dials (then the socket defaults to /registration/<driver>-reg.sock)")
	fs.Int("v", 0, "log verbosity, accepted for node-driver-registrar's arguments (logs are always the same)")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if *kubeletPath != "" {
		*endpoint = *kubeletPath
		if *sock == "" {
			*sock = "/registration/" + *name + "-reg.sock"
		}
	}
	if *endpoint == "" || *sock == "" {
		return nil, "", fmt.Errorf("--csi-address and --registration-socket are required")
	}
	return &registrar{name: *name, endpoint: *endpoint}, *sock, nil
}
