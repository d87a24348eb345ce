package server

import (
	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// answer is how a Mount that failed in one stage is answered: the gRPC
// code the driver passes to the kubelet, and the result label of
// pmp_mounts_total.
type answer struct {
	code   codes.Code
	result string
}

// answers maps every mounterr.Kind to its answer; a kind not in it (out
// of range) is answered as Internal.
//
// No code is Unavailable, DeadlineExceeded, ResourceExhausted, Aborted or
// Canceled: on a pod's first mount the kubelet treats those as transient,
// keeps the half-made target directory, and the driver then starts the pod
// with an EMPTY volume (see the driver bug in docs/troubleshooting.md). A
// transient AWS failure that outlived the retries is reported as Unknown,
// with a message that says it is transient.
var answers = map[mounterr.Kind]answer{
	mounterr.Internal:        {codes.Internal, metrics.ResultInternal},
	mounterr.Invalid:         {codes.InvalidArgument, metrics.ResultInvalid},
	mounterr.Unauthenticated: {codes.Unauthenticated, metrics.ResultUnauthenticated},
	mounterr.Denied:          {codes.PermissionDenied, metrics.ResultDenied},
	mounterr.NotFound:        {codes.NotFound, metrics.ResultNotFound},
	mounterr.Transient:       {codes.Unknown, metrics.ResultTransient},
}

// answerFor is the row of kind in answers, Internal's when it has none.
func answerFor(kind mounterr.Kind) answer {
	if a, ok := answers[kind]; ok {
		return a
	}
	return answers[mounterr.Internal]
}

// codeFor maps a failed stage to the gRPC code the driver passes to the
// kubelet (see answers).
func codeFor(kind mounterr.Kind) codes.Code { return answerFor(kind).code }

// resultFor is the result label of a failed Mount of kind that was
// answered with code: the failed stage, or "canceled" when the kubelet
// gave up first (fail's one departure from codeFor: an Internal failure
// answered Unknown).
func resultFor(kind mounterr.Kind, code codes.Code) string {
	a := answerFor(kind)
	if a.code == codes.Internal && code == codes.Unknown {
		return metrics.ResultCanceled
	}
	return a.result
}
