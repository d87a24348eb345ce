package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// driver serves CSI's Identity Probe on a unix socket, answering with err.
func driver(t *testing.T, sock string, err error) {
	t.Helper()
	l, lerr := net.Listen("unix", sock)
	if lerr != nil {
		t.Fatal(lerr)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "csi.v1.Identity",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Probe",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if derr := dec(&emptypb.Empty{}); derr != nil {
					return nil, derr
				}
				return &emptypb.Empty{}, err
			},
		}},
	}, struct{}{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
}

// probe answers a kubelet's GET /healthz through csiprobe's handler for the
// driver's socket.
func probe(t *testing.T, sock string) (int, string) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := httptest.NewRecorder()
	healthz(conn, sock, 2*time.Second).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return rec.Code, rec.Body.String()
}

func TestHealthyWhenTheDriverAnswersItsProbe(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	driver(t, sock, nil)
	if code, body := probe(t, sock); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
	}
}

func TestUnhealthyWhenTheDriverFailsItsProbe(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	driver(t, sock, status.Error(codes.FailedPrecondition, "plugin not ready"))
	code, body := probe(t, sock)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "plugin not ready") {
		t.Fatalf("GET /healthz = %d %q, want 503 naming the driver's error", code, body)
	}
}

func TestUnhealthyWhenNoDriverListens(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	if code, _ := probe(t, sock); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /healthz with no driver = %d, want 503", code)
	}
}
