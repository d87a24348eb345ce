// Package server adapts the provider to the Secrets Store CSI Driver's gRPC
// API (provider/v1alpha1): it decodes requests, calls the Mount pipeline,
// maps failures to status codes, logs one line per Mount, and owns the
// unix socket's lifecycle.
package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// RuntimeName is reported by Version.
const RuntimeName = "pmp-secrets-provider"

// Mounter is the Mount pipeline.
type Mounter interface {
	Mount(ctx context.Context, req *params.Request) (*provider.Result, error)
}

var _ Mounter = (*provider.Provider)(nil)

// Server implements v1alpha1.CSIDriverProviderServer.
type Server struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	Mounter Mounter
	// RuntimeVersion is the provider's version, reported by Version.
	RuntimeVersion string
	// Metrics counts and times Mounts; nil: not counted.
	Metrics *metrics.Mounts
	// MaxConcurrentMounts bounds the Mounts answered at once; more wait
	// for a slot, their requests unread (see acquire). 0: no bound.
	MaxConcurrentMounts int

	slotsOnce sync.Once
	slots     chan struct{}

	// parser keeps the parsed objects parameter of each
	// SecretProviderClass, parsed again on every republish otherwise.
	// Holds nothing identity-specific: keyed by the parameter's text, it
	// holds that text's objects and errors, which depend on nothing else.
	parser params.Parser
}

// Version answers the driver's version probe.
func (s *Server) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: s.RuntimeVersion}, nil
}

// acquire waits for one of the MaxConcurrentMounts slots, and returns its
// release. A Mount that gets none in time fails with Unknown, saying the
// provider is busy and that this is transient: never ResourceExhausted or
// DeadlineExceeded, which on a pod's first mount leave it an empty volume
// (see codeFor). It stops waiting a little before the Mount's deadline
// (busyMargin), so that this answer reaches the driver before the
// driver's own call gives up with DeadlineExceeded.
func (s *Server) acquire(ctx context.Context) (release func(), err error) {
	s.slotsOnce.Do(func() {
		if s.MaxConcurrentMounts > 0 {
			s.slots = make(chan struct{}, s.MaxConcurrentMounts)
		}
	})
	if s.slots == nil {
		return func() {}, nil
	}
	release = func() { <-s.slots }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	start := time.Now()
	s.Metrics.StartWaiting()
	defer s.Metrics.EndWaiting()
	wctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(-busyMargin(deadline.Sub(start))))
		defer cancel()
	}
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-wctx.Done():
	}
	err = &mounterr.Error{Kind: mounterr.Transient, Err: wctx.Err(), Msg: fmt.Sprintf(
		"the provider on this node is busy: all %d Mount slots (--max-concurrent-mounts) stayed taken for the %s this Mount could wait; this is transient: the kubelet retries the mount",
		s.MaxConcurrentMounts, time.Since(start).Round(time.Millisecond))}
	return nil, s.fail(start, nil, nil, err)
}

// busyMargin is how long before its deadline a Mount waiting for a slot
// stops waiting: a tenth of the time it had, at most 2s (the kubelet gives
// a Mount about 2 minutes).
func busyMargin(left time.Duration) time.Duration {
	return min(left/10, 2*time.Second)
}

// Mount serves one NodePublishVolume of one pod, first mount or republish.
func (s *Server) Mount(ctx context.Context, in *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	start := time.Now()
	s.Metrics.Start()
	defer s.Metrics.End()
	req, err := s.parser.Parse(in.GetAttributes(), in.GetSecrets(), in.GetPermission())
	if err != nil {
		return nil, s.fail(start, nil, nil, err)
	}
	req.TargetPath = in.GetTargetPath()
	res, err := s.Mounter.Mount(ctx, req)
	if err != nil {
		return nil, s.fail(start, req, res, err)
	}
	var out *v1alpha1.MountResponse
	if res.Memo != nil {
		// The same files as every Mount of this cached selection: one
		// response built for all of them (gRPC only reads it).
		out = object.Derive(res.Memo, func() *v1alpha1.MountResponse { return response(res) })
	} else {
		out = response(res)
	}
	elapsed := time.Since(start)
	s.Metrics.Done(elapsed, metrics.ResultOK, codes.OK)
	if len(res.Skipped) > 0 {
		s.skipped(req, res)
	}
	if klogV := klog.V(2); klogV.Enabled() {
		klogV.InfoS("mount",
			"pod", klog.KRef(req.Pod.Namespace, req.Pod.Name), "serviceAccount", req.Pod.ServiceAccount,
			"identity", res.Identity.Source.String(), "role", res.Identity.RoleARN, "region", res.Identity.Region, "objects", req.ObjectNames(),
			"files", len(out.Files), "duration", elapsed.Round(time.Microsecond), "result", "ok")
	}
	return out, nil
}

// skipped logs, once for the Mount, the optional objects and jmesPath
// entries res left out because they do not exist, and counts them. Level
// 0: a missing optional object is a choice of the class's author, and
// an operator who reads why a file is not there finds it said. It names
// them and the identity that read them, never a value.
func (s *Server) skipped(req *params.Request, res *provider.Result) {
	s.Metrics.Skipped(metrics.SkipNotFound, len(res.Skipped))
	names := make([]string, len(res.Skipped))
	for i, sk := range res.Skipped {
		names[i] = sk.String()
	}
	klog.InfoS("mount left out optional objects that do not exist",
		"pod", klog.KRef(req.Pod.Namespace, req.Pod.Name), "serviceAccount", req.Pod.ServiceAccount,
		"identity", res.Identity.Source.String(), "role", res.Identity.RoleARN, "region", res.Identity.Region,
		"secretProviderClass", req.SecretProviderClass, "skipped", names, "reason", metrics.SkipNotFound)
}

// fail logs the failed Mount and returns its status. Failures are logged at
// level 0: on republishes the driver hides them from the pod.
func (s *Server) fail(start time.Time, req *params.Request, res *provider.Result, err error) error {
	kind := mounterr.KindOf(err)
	code := codeFor(kind)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if kind == mounterr.Internal { // the kubelet gave up before we did
			code = codes.Unknown
		}
	}
	kv := []any{}
	if req != nil {
		kv = append(kv, "pod", klog.KRef(req.Pod.Namespace, req.Pod.Name), "serviceAccount", req.Pod.ServiceAccount, "objects", req.ObjectNames())
	}
	if res != nil && res.Identity.RoleARN != "" {
		kv = append(kv, "role", res.Identity.RoleARN)
	}
	elapsed := time.Since(start)
	s.Metrics.Done(elapsed, resultFor(kind, code), code)
	kv = append(kv, "duration", elapsed.Round(time.Microsecond), "result", code.String())
	msg := mounterr.Bound(err.Error())
	klog.ErrorS(errors.New(msg), "mount failed", kv...)
	return status.Error(code, msg)
}

// response is the driver's answer for res.
func response(res *provider.Result) *v1alpha1.MountResponse {
	out := &v1alpha1.MountResponse{
		Files:         make([]*v1alpha1.File, len(res.Files)),
		ObjectVersion: make([]*v1alpha1.ObjectVersion, len(res.Versions)),
	}
	// One allocation for all files and one for all versions, not one each.
	files := make([]v1alpha1.File, len(res.Files))
	for i, f := range res.Files {
		files[i].Path, files[i].Mode, files[i].Contents = f.Path, int32(f.Mode.Perm()), f.Contents
		out.Files[i] = &files[i]
	}
	versions := make([]v1alpha1.ObjectVersion, len(res.Versions))
	for i, v := range res.Versions {
		versions[i].Id, versions[i].Version = v.ID, v.Version
		out.ObjectVersion[i] = &versions[i]
	}
	return out
}
