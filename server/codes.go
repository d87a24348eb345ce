package server

import (
	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// codeFor maps a failed stage to the gRPC code the driver passes to the
// kubelet. It never returns Unavailable, DeadlineExceeded,
// ResourceExhausted, Aborted or Canceled: on a pod's first mount the
// kubelet treats those as transient, keeps the half-made target directory,
// and the driver then starts the pod with an EMPTY volume (see the driver
// bug in docs/troubleshooting.md). A transient AWS failure that outlived the retries is
// reported as Unknown, with a message that says it is transient.
func codeFor(kind mounterr.Kind) codes.Code {
	switch kind {
	case mounterr.Invalid:
		return codes.InvalidArgument
	case mounterr.Unauthenticated:
		return codes.Unauthenticated
	case mounterr.Denied:
		return codes.PermissionDenied
	case mounterr.NotFound:
		return codes.NotFound
	case mounterr.Transient:
		return codes.Unknown
	default:
		return codes.Internal
	}
}
