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

// Listen listens on the unix socket path, which only its owner (root,
// like the driver) may use: the socket is 0600, and its directory, made
// 0700 when missing, must not let other users replace the socket (writable
// by group or others without the sticky bit is refused). A stale socket
// left by a killed provider is removed; anything else at path is left
// alone and refused: the provider writes nothing but its socket.
//
// The newest instance owns the socket: a second provider of the same name
// on the node (a DaemonSet's surge during a rolling update, two releases
// with one --provider-name) replaces the first one's socket, and the
// first, when it stops, leaves the path alone instead of removing the
// second one's socket (see socketListener.Close).
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("socket directory %s is not a directory (--provider-dir)", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return nil, fmt.Errorf("socket directory %s is writable by other users (mode %#o), who could replace the provider's socket: make it 0755 or 0700 (--provider-dir)", dir, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket (%s): remove it or choose another --provider-name", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	old := syscall.Umask(0o177) // the socket is made 0600
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // Close removes the path only while it is ours
	fi, err = os.Lstat(path)
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: ul, path: path, socket: fi}, nil
}

// socketListener is the provider's listener on its socket file.
type socketListener struct {
	*net.UnixListener
	path   string
	socket fs.FileInfo // the file Listen made, to tell it from a successor's
}

// Close stops listening and removes the socket file if it is still the one
// Listen made. When another instance has replaced it (Listen removes the
// old socket and makes its own), the path is left to that instance, whose
// socket the driver dials from then on: removing it would leave the node
// without a provider until one restarts.
//
// A successor that replaces the socket between the check and the removal
// (a window of microseconds, once per stop) still loses its path; unix
// sockets offer no remove-if-same-file.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.socket) {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
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
