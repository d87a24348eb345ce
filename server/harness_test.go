package server_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mountenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awscalls"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

const (
	testRegion = mountenv.Region
	testRole   = mountenv.Role
)

// testIssuer is the cluster's service-account issuer: it signs the pods'
// tokens as the kubelet does, and the provider verifies them with its
// keys. None of its tokens may show up in a log or an error
// (testIssuer.Issued lists them).
var testIssuer = issuer.New()

// testForger signs tokens that look like testIssuer's (same issuer, same
// key id) with a key of its own.
var testForger = testIssuer.Forger()

// env is one provider serving on a real unix socket, the real emulator
// behind a counting, fault-injecting front, and a fake Kubernetes API.
type env struct {
	t      *testing.T
	aws    *awsemu.AWS
	kube   *apifake.Server
	client v1alpha1.CSIDriverProviderClient
	p      *provider.Provider
	// reg holds the provider's metrics.
	reg *prometheus.Registry
	// sock is the provider's socket; shutdown ends Serve as SIGTERM does
	// (run's context), served its result.
	sock     string
	shutdown context.CancelFunc
	served   <-chan error
}

type envOption = mountenv.Option

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	a := awsemu.Start(t)
	a.UseFrom(t, testRegion)
	return startProvider(t, a, opts...)
}

// startProvider serves a provider configured from this process's AWS
// environment variables, as the binary is, counting in a registry of the
// test's own as run() wires it.
func startProvider(t *testing.T, a *awsemu.AWS, opts ...envOption) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	calls, err := awscalls.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	me := mountenv.Start(t, a, mountenv.Config{Issuer: testIssuer, Instrument: calls.Instrument}, opts...)
	p := me.P
	mounts, err := metrics.NewMounts(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterCaches(reg, p.CacheStats); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterFailover(reg, p.FailoverServed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())

	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	sock := server.SocketPath(dir, "pmp")
	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, ln, &server.Server{Mounter: p, RuntimeVersion: "test", Metrics: mounts}, time.Second)
	}()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		os.RemoveAll(dir)
	})
	go func() { err := <-done; served <- err; close(served) }()
	return &env{t: t, aws: a, kube: me.Kube, client: v1alpha1.NewCSIDriverProviderClient(conn), p: p, reg: reg,
		sock: sock, shutdown: cancel, served: served}
}

// putSecret creates or rotates a secret in the emulator and returns the
// new version id.
func (e *env) putSecret(name, value string) string {
	e.t.Helper()
	return awsemu.PutSecret(e.t, e.aws.Admin, name, value)
}

// putBinary creates or rotates a secret whose value is SecretBinary.
func (e *env) putBinary(name string, value []byte) {
	e.t.Helper()
	awsemu.PutBinary(e.t, e.aws.Admin, name, value)
}

// mountReq is what the driver sends for one pod.
type mountReq = driverreq.Request

func pmpReq(objects string) mountReq {
	return mountReq{
		PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001",
		ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
		Parameters: map[string]string{"objects": objects}, Issuer: testIssuer,
	}
}

func (e *env) mount(r mountReq) (*v1alpha1.MountResponse, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.client.Mount(ctx, r.Build())
}

// filesOf returns path -> contents.
func filesOf(resp *v1alpha1.MountResponse) map[string]string {
	out := map[string]string{}
	for _, f := range resp.GetFiles() {
		out[f.GetPath()] = string(f.GetContents())
	}
	return out
}

// pmpTemplate is the PMP template with every credential set by fill.
func pmpTemplate(fill func(name string) string) (string, map[string]string) {
	return pmp.Document(fill)
}

func secretValue(name string) string { return fmt.Sprintf("VALUE-SENTINEL-%s-7c1d", name) }
