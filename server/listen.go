package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// SocketPath is where the driver looks for a provider named name.
func SocketPath(dir, name string) string {
	return filepath.Join(dir, name+".sock")
}

// Listen removes a stale socket at path and listens there with umask 0077,
// so only the socket's owner (root, like the driver) can connect.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return ln, nil
}

// Serve serves s and the gRPC health service on ln until ctx ends, then
// stops gracefully: in-flight Mounts get up to grace to finish, new ones
// are refused.
func Serve(ctx context.Context, ln net.Listener, s *Server, grace time.Duration) error {
	g := grpc.NewServer(serverOptions()...)
	g.RegisterService(guardedService(), s)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(v1alpha1.CSIDriverProvider_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)

	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	klog.InfoS("serving", "socket", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	klog.InfoS("stopping: finishing in-flight mounts")
	hs.Shutdown()
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		klog.InfoS("grace period over: stopping with mounts in flight", "grace", grace)
		g.Stop()
	}
	return nil
}
