package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

// panicMounter panics on a Mount of the SecretProviderClass "boom" and
// answers the PMP result otherwise.
type panicMounter struct{}

func (panicMounter) Mount(_ context.Context, req *params.Request) (*provider.Result, error) {
	if req.SecretProviderClass == "boom" {
		var files []string
		_ = files[len(req.Objects)] // a bug: index out of range
	}
	return pmpResult(), nil
}

// serveMounter serves m on a fresh socket (serveServer) and returns a
// driver's client.
func serveMounter(t *testing.T, m server.Mounter) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	conn, _ := serveServer(t, &server.Server{Mounter: m, RuntimeVersion: "test"})
	return v1alpha1.NewCSIDriverProviderClient(conn)
}

func finalCode(t *testing.T, err error) {
	t.Helper()
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		t.Errorf("code %s makes the kubelet keep a half-made volume on a first mount", status.Code(err))
	}
}

// TestPanicEndsAsInternal: a bug that panics in a Mount fails that Mount
// with Internal; the provider keeps serving every other.
func TestPanicEndsAsInternal(t *testing.T) {
	client := serveMounter(t, panicMounter{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	boom := pmpReq("- objectName: PMP-Production-Credentials")
	boom.SecretProviderClass = "boom"
	_, err := client.Mount(ctx, boom.Build())
	if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "internal error") {
		t.Errorf("Mount that panics = %v, want Internal", err)
	}
	finalCode(t, err)
	resp, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build())
	if err != nil || len(resp.GetFiles()) != 30 {
		t.Errorf("the next Mount = %d files, %v; want the provider still serving", len(resp.GetFiles()), err)
	}
}

// TestOversizedRequestIsFinal: gRPC refuses a request over its receive
// limit with ResourceExhausted, a code the kubelet takes for transient; the
// provider's limit ends as Internal, saying what to shorten.
func TestOversizedRequestIsFinal(t *testing.T) {
	client := serveMounter(t, panicMounter{})
	r := pmpReq("- objectName: PMP-Production-Credentials")
	r.Parameters["padding"] = strings.Repeat("x", server.MaxRequestBytes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Mount(ctx, r.Build())
	if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "SecretProviderClass parameters are too long") {
		t.Errorf("oversized Mount = %v, want Internal naming the parameters", err)
	}
	finalCode(t, err)
	if _, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build()); err != nil {
		t.Errorf("the next Mount: %v", err)
	}
}

// longErrorMounter fails every Mount with a message of n bytes whose end
// says what to do.
type longErrorMounter struct{ n int }

func (m longErrorMounter) Mount(context.Context, *params.Request) (*provider.Result, error) {
	return nil, mounterr.New(mounterr.Invalid, "%s: fix the SecretProviderClass", strings.Repeat("problem; ", m.n/9))
}

// TestErrorTextIsBounded: however long a failure's text (a long key, a
// hundred objects' problems), the pod's event gets at most
// MaxMessageBytes of it, with its end, where the fix is said.
func TestErrorTextIsBounded(t *testing.T) {
	client := serveMounter(t, longErrorMounter{n: 100_000})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build())
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("code = %s", status.Code(err))
	}
	if len(msg) > mounterr.MaxMessageBytes {
		t.Errorf("message is %d bytes, over %d", len(msg), mounterr.MaxMessageBytes)
	}
	if !strings.HasSuffix(msg, "fix the SecretProviderClass") || !strings.Contains(msg, "bytes cut]") {
		t.Errorf("message does not keep its end or say it was cut: ...%s", msg[max(0, len(msg)-200):])
	}
}
