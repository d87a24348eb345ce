// Command csiprobe answers a kubelet's liveness probe for a CSI driver: GET
// /healthz calls the driver's Identity Probe on its socket and answers 200
// when the driver answers, 503 otherwise. It takes the arguments the Secrets
// Store CSI Driver's chart passes to its livenessprobe sidecar (which the
// module proxy does not serve), so e2e/kind builds it into the image that
// replaces that sidecar's on a machine without a registry.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// probeMethod is CSI's Identity/Probe. Its request has no fields, so an
// empty message encodes it; the response's one field (ready) is a wrapper
// the driver sets only when it is not ready, which this probe does not read:
// a driver that answers at all is alive, as livenessprobe's default.
const probeMethod = "/csi.v1.Identity/Probe"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "csiprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("csi-address", "/csi/csi.sock", "the CSI driver's socket")
	timeout := flag.Duration("probe-timeout", 3*time.Second, "how long one Probe may take")
	listen := flag.String("http-endpoint", "127.0.0.1:9808", "where to serve /healthz")
	flag.Int("v", 0, "log verbosity, accepted for livenessprobe's arguments")
	flag.Parse()

	conn, err := grpc.NewClient("unix://"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	log.Printf("serving /healthz on %s for %s", *listen, *addr)
	srv := &http.Server{Addr: *listen, Handler: healthz(conn, *addr, *timeout), ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

// healthz serves /healthz: 200 when the driver behind conn answers its
// Identity Probe within timeout, 503 with the reason otherwise.
func healthz(conn *grpc.ClientConn, addr string, timeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if err := conn.Invoke(ctx, probeMethod, &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			log.Printf("probe of %s failed: %v", addr, err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
