package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

const (
	// MaxRequestBytes is the largest Mount request the server reads: the
	// driver's own default message limit. A SecretProviderClass is an API
	// object of at most about 1.5 MiB, so a real request is far smaller.
	MaxRequestBytes = 4 << 20
	// transportRequestBytes is gRPC's own receive limit, far above any
	// request a driver can build from API objects. gRPC refuses a larger
	// message with ResourceExhausted, a code the kubelet takes for
	// transient, and writes that status itself before any code of ours
	// runs; so MaxRequestBytes is enforced by requestCodec instead, whose
	// refusal gRPC reports as Internal, a final code.
	transportRequestBytes = 64 << 20
)

// requestCodec is gRPC's proto codec refusing messages over
// MaxRequestBytes with a message that says what to shorten.
type requestCodec struct{ encoding.CodecV2 }

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if n := data.Len(); n > MaxRequestBytes {
		return fmt.Errorf("the Mount request is %d bytes, over the %d bytes the provider reads: the SecretProviderClass parameters are too long; split its objects over several SecretProviderClasses", n, MaxRequestBytes)
	}
	return c.CodecV2.Unmarshal(data, v)
}

// serverOptions are the gRPC server's limits and codec.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(transportRequestBytes),
		grpc.ForceServerCodecV2(requestCodec{encoding.GetCodecV2(proto.Name)}),
	}
}

// internalMessage is what a Mount that hit a bug answers: the log line
// (with the stack) has the details.
const internalMessage = "the provider failed with an internal error (a bug; its log has the details): the kubelet retries the mount"

// guardedService is the driver's service with every method guarded: a
// panic, in decoding or in the handler, ends that call as Internal, logged
// with its stack, never as a crash that takes every pod's Mounts down with
// it. (A panic in a cache load's goroutine is the cache's to recover: see
// package cache.)
func guardedService() *grpc.ServiceDesc {
	desc := v1alpha1.CSIDriverProvider_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		handler, method := desc.Methods[i].Handler, desc.Methods[i].MethodName
		desc.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (resp any, err error) {
			defer func() {
				if r := recover(); r != nil {
					klog.ErrorS(fmt.Errorf("panic: %v", r), "internal error serving the driver", "method", method, "stack", string(debug.Stack()))
					resp, err = nil, status.Error(codes.Internal, internalMessage)
				}
			}()
			return handler(srv, ctx, dec, interceptor)
		}
	}
	return &desc
}
