package server

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

func TestCodeFor(t *testing.T) {
	tests := []struct {
		name string
		kind mounterr.Kind
		want codes.Code
	}{
		{name: "invalid parameters", kind: mounterr.Invalid, want: codes.InvalidArgument},
		{name: "missing or refused token", kind: mounterr.Unauthenticated, want: codes.Unauthenticated},
		{name: "denied", kind: mounterr.Denied, want: codes.PermissionDenied},
		{name: "not found", kind: mounterr.NotFound, want: codes.NotFound},
		{name: "transient, retries exhausted", kind: mounterr.Transient, want: codes.Unknown},
		{name: "bug", kind: mounterr.Internal, want: codes.Internal},
		{name: "out of range, negative", kind: mounterr.Kind(-1), want: codes.Internal},
		{name: "out of range, large", kind: mounterr.Kind(1000), want: codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeFor(tt.kind); got != tt.want {
				t.Errorf("codeFor(%v) = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}

// TestCodeForNeverKubeletTransient: with one of these codes on a pod's
// first mount the kubelet keeps the half-made target directory and the
// driver then starts the pod with an empty volume (docs/troubleshooting.md,
// "Why a transient failure is reported as `Unknown`, and the empty-volume bug").
func TestCodeForNeverKubeletTransient(t *testing.T) {
	forbidden := map[codes.Code]bool{
		codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true,
		codes.Aborted: true, codes.Canceled: true,
	}
	for k := mounterr.Kind(-64); k <= 256; k++ {
		if c := codeFor(k); forbidden[c] || c == codes.OK {
			t.Errorf("codeFor(Kind(%d)) = %v: the kubelet would treat the failure as transient or as success", int(k), c)
		}
	}
}
