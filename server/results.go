package server

import (
	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// resultFor is the result label of a failed Mount of kind that was
// answered with code: the failed stage, or "canceled" when the kubelet
// gave up first (fail's one departure from codeFor).
func resultFor(kind mounterr.Kind, code codes.Code) string {
	switch kind {
	case mounterr.Invalid:
		return metrics.ResultInvalid
	case mounterr.Unauthenticated:
		return metrics.ResultUnauthenticated
	case mounterr.Denied:
		return metrics.ResultDenied
	case mounterr.NotFound:
		return metrics.ResultNotFound
	case mounterr.Transient:
		return metrics.ResultTransient
	}
	if code == codes.Unknown {
		return metrics.ResultCanceled
	}
	return metrics.ResultInternal
}
