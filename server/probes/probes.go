// Package probes answers the kubelet's liveness and readiness probes from
// what the driver would see: a gRPC health check on the provider's unix
// socket, and whether the AWS configuration has loaded.
package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Timeout bounds one health check of the socket; the kubelet's default
// probe timeout is 1s.
const Timeout = 900 * time.Millisecond

// Health answers the probes from what the driver would see: the provider
// is live when its unix socket answers a gRPC health check for the
// driver's service with SERVING, and ready when it is live and its AWS
// configuration has loaded.
type Health struct {
	socket     string
	configured atomic.Bool
}

// NewHealth returns the probes of the provider serving on socket.
func NewHealth(socket string) *Health { return &Health{socket: socket} }

// ConfigLoaded records that the AWS configuration has loaded.
func (h *Health) ConfigLoaded() { h.configured.Store(true) }

// Live dials the socket, as the driver does, and asks the gRPC health
// service whether the provider's service is SERVING. It fails before the
// socket is up and once shutdown has begun.
func (h *Health) Live(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+h.socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("localhost"))
	if err != nil {
		return fmt.Errorf("socket %s: %w", h.socket, err)
	}
	defer conn.Close()
	service := v1alpha1.CSIDriverProvider_ServiceDesc.ServiceName
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("socket %s does not answer a health check: %w", h.socket, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("socket %s: %s is %s", h.socket, service, st)
	}
	return nil
}

// Ready is Live, once the AWS configuration has loaded.
func (h *Health) Ready(ctx context.Context) error {
	if !h.configured.Load() {
		return errors.New("AWS configuration not loaded yet")
	}
	return h.Live(ctx)
}

// LiveHandler serves /healthz: Live as an HTTP probe.
func (h *Health) LiveHandler() http.Handler { return probe(h.Live) }

// ReadyHandler serves /readyz: Ready as an HTTP probe.
func (h *Health) ReadyHandler() http.Handler { return probe(h.Ready) }

// probe answers 200 "ok" when check passes, 503 with its error otherwise.
func probe(check func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		if err := check(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}
}
