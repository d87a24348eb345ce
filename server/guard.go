package server

import (
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
	// transportRequestBytes is gRPC's own receive limit. gRPC refuses a
	// larger message from its 5-byte header, without reading it, but with
	// ResourceExhausted, a code the kubelet takes for transient, and writes
	// that status itself, with no hook for code of ours; so MaxRequestBytes
	// is enforced by requestCodec instead, whose refusal gRPC reports as
	// Internal, a final code. Twice MaxRequestBytes: a request the driver
	// builds from API objects is under it unless JSON's escaping (\u003c
	// for '<') inflates a SecretProviderClass's parameters over 2 MiB more
	// than five times. What one Mount makes the provider read is bounded by
	// it, and what all do by Server.MaxConcurrentMounts times it: a Mount
	// reads its request only once it has a slot.
	transportRequestBytes = 2 * MaxRequestBytes
	// windowBytes is each call's HTTP/2 flow-control window, fixed: what a
	// client may send before the server reads. A Mount waiting for a slot
	// has not read its request, so it holds at most this much of it.
	// (gRPC's default window grows with the measured bandwidth, up to
	// 16 MiB a call.)
	windowBytes = 64 << 10
	// maxHeaderBytes bounds a call's HTTP/2 header list: the driver sends a
	// path, a content type, a user agent and a timeout. (gRPC's default is
	// 16 MiB.)
	maxHeaderBytes = 16 << 10
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
		grpc.InitialWindowSize(windowBytes),
		grpc.MaxHeaderListSize(maxHeaderBytes),
	}
}

// internalMessage is what a Mount that hit a bug answers: the log line
// (with the stack) has the details.
const internalMessage = "the provider failed with an internal error (a bug; its log has the details): the kubelet retries the mount"

// guardedService is the driver's service with every method served by
// serve: a Mount's request is read only once the Mount has its slot
// (Server.MaxConcurrentMounts), and a panic, in
// decoding or in the handler, ends that call as Internal, logged with its
// stack, never as a crash that takes every pod's Mounts down with it. (A
// panic in a cache load's goroutine is the cache's to recover: see package
// cache.)
//
// The methods are unary for the driver; on the wire a unary call is a
// stream of one message each way, so serving them as stream handlers
// changes nothing the driver sees. As unary methods, gRPC would read the
// request before any code of ours runs, so Mounts waiting for a slot would
// hold theirs.
func guardedService() *grpc.ServiceDesc {
	desc := v1alpha1.CSIDriverProvider_ServiceDesc
	desc.Methods = nil
	desc.Streams = slices.Clone(desc.Streams)
	for _, m := range v1alpha1.CSIDriverProvider_ServiceDesc.Methods {
		desc.Streams = append(desc.Streams, grpc.StreamDesc{StreamName: m.MethodName, Handler: serve(m.MethodName, m.Handler)})
	}
	return &desc
}

// serve serves the unary method's handler on a call's stream.
func serve(method string, handler grpc.MethodHandler) grpc.StreamHandler {
	mount := method == "Mount"
	return func(srv any, stream grpc.ServerStream) (err error) {
		defer func() {
			if r := recover(); r != nil {
				klog.ErrorS(fmt.Errorf("panic: %v", r), "internal error serving the driver", "method", method, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, internalMessage)
			}
		}()
		ctx := stream.Context()
		s, _ := srv.(*Server)
		if mount && s != nil {
			release, err := s.acquire(ctx)
			if err != nil {
				return err
			}
			defer release()
		}
		// A request gRPC cannot read or decode has its status already
		// written by RecvMsg (Internal for one over MaxRequestBytes).
		resp, err := handler(srv, ctx, stream.RecvMsg, nil)
		if err != nil {
			return err
		}
		return stream.SendMsg(resp)
	}
}
