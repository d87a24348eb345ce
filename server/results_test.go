package server

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

func TestResultFor(t *testing.T) {
	tests := []struct {
		kind mounterr.Kind
		code codes.Code
		want string
	}{
		{mounterr.Invalid, codes.InvalidArgument, metrics.ResultInvalid},
		{mounterr.Unauthenticated, codes.Unauthenticated, metrics.ResultUnauthenticated},
		{mounterr.Denied, codes.PermissionDenied, metrics.ResultDenied},
		{mounterr.NotFound, codes.NotFound, metrics.ResultNotFound},
		{mounterr.Transient, codes.Unknown, metrics.ResultTransient},
		{mounterr.Internal, codes.Internal, metrics.ResultInternal},
		{mounterr.Internal, codes.Unknown, metrics.ResultCanceled}, // the kubelet gave up first
		{mounterr.Kind(1000), codes.Internal, metrics.ResultInternal},
	}
	for _, tt := range tests {
		if got := resultFor(tt.kind, tt.code); got != tt.want {
			t.Errorf("resultFor(%v, %v) = %q, want %q", tt.kind, tt.code, got, tt.want)
		}
	}
}
