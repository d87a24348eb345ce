package server_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// resultMounter answers every Mount with one precomputed result, so the
// benchmark measures the server's own work: decoding and validating the
// request, building the response, logging.
type resultMounter struct{ res *provider.Result }

var _ server.Mounter = resultMounter{}

func (m resultMounter) Mount(context.Context, *params.Request) (*provider.Result, error) {
	return m.res, nil
}

// pmpResult is the result of a Mount of the 30-credential PMP document.
func pmpResult() *provider.Result {
	_, want := pmpTemplate(secretValue)
	res := &provider.Result{Identity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: testRegion}}
	for name, v := range want {
		res.Files = append(res.Files, files.File{Path: name, Mode: 0o440, Contents: []byte(v)})
		res.Versions = append(res.Versions, provider.Version{ID: name, Version: "a1b2c3d4-0000-4000-8000-000000000001"})
	}
	return res
}

// benchRequest is the request the driver sends for one pod of the PMP
// SecretProviderClass.
func benchRequest(b *testing.B) *v1alpha1.MountRequest {
	b.Helper()
	return driverreq.Request{
		PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001",
		ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
		Parameters: map[string]string{"region": testRegion, "objects": "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n"},
		Issuer:     testIssuer,
	}.Build()
}

// BenchmarkServerMount is the server's share of every Mount: request
// parsing and response building, and counting it in the metrics, without
// the pipeline behind it.
func BenchmarkServerMount(b *testing.B) {
	mounts, err := metrics.NewMounts(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := &server.Server{Mounter: resultMounter{pmpResult()}, RuntimeVersion: "bench", Metrics: mounts}
	req := benchRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Mount(ctx, req)
		if err != nil || len(resp.GetFiles()) != 30 {
			b.Fatalf("Mount: %d files, %v", len(resp.GetFiles()), err)
		}
	}
}

// BenchmarkServerMountMemo is BenchmarkServerMount for the usual Mount,
// one object not decoded: the pipeline's result names its cached
// selection's Memo, and the response built for it once is answered again.
func BenchmarkServerMountMemo(b *testing.B) {
	mounts, err := metrics.NewMounts(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	res := pmpResult()
	res.Memo = &object.Memo{}
	s := &server.Server{Mounter: resultMounter{res}, RuntimeVersion: "bench", Metrics: mounts}
	req := benchRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Mount(ctx, req)
		if err != nil || len(resp.GetFiles()) != 30 {
			b.Fatalf("Mount: %d files, %v", len(resp.GetFiles()), err)
		}
	}
}

// BenchmarkResponseMarshal is the gRPC encoding of the 30-file response,
// which every provider pays, the null one included.
func BenchmarkResponseMarshal(b *testing.B) {
	s := &server.Server{Mounter: resultMounter{pmpResult()}, RuntimeVersion: "bench"}
	resp, err := s.Mount(context.Background(), benchRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}
