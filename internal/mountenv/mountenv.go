// Package mountenv is a provider built as the binary builds it, before the
// real AWS emulator (behind the counting, fault-injecting front of
// internal/awsemu) and the Kubernetes API of internal/apifake, for tests
// of the Mount pipeline's features: the request goes through the driver's
// encoding (internal/driverreq) and the parameter parser, then
// provider.Mount. The server's tests add the gRPC socket on top of it.
package mountenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/logcapture"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// The set-up every Env starts with: the PMP service account annotated
// with Role, a second namespace's service account with the same role, one
// with none, and node-1 labelled with NodeRegion. The emulator's own
// region is Region.
const (
	Region     = "eu-west-1"
	NodeRegion = "eu-central-1"
	Role       = "arn:aws:iam::123456789012:role/PMP-SecretsManager-Role"
	PodUID     = "0b0e3c1e-0000-4000-8000-000000000001"
)

// Env is one provider before the emulator and a Kubernetes API.
type Env struct {
	t    testing.TB
	AWS  *awsemu.AWS
	Kube *apifake.Server
	// Issuer signs the pods' tokens; none may appear in a log or error.
	Issuer *issuer.Issuer
	P      *provider.Provider
}

// Option changes the provider's options before it is built.
type Option func(*provider.Options)

// Config is how Start builds the provider, beyond Options.
type Config struct {
	// Issuer is the cluster's service-account issuer; nil: a new one.
	Issuer *issuer.Issuer
	// Instrument, when not nil, changes the AWS configuration before the
	// provider is built (the server's tests count calls there, as run
	// does).
	Instrument func(*aws.Config)
}

// New starts the emulator, in Region, and a provider before it.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	a := awsemu.Start(t)
	a.UseFrom(t, Region)
	return Start(t, a, Config{}, opts...)
}

// Start builds a provider configured from this process's AWS environment
// variables (a.UseFrom), as the binary is, before a and a new Kubernetes
// API.
func Start(t testing.TB, a *awsemu.AWS, cfg Config, opts ...Option) *Env {
	t.Helper()
	if cfg.Issuer == nil {
		cfg.Issuer = issuer.New()
	}
	kube := apifake.StartWith(t, cfg.Issuer)
	kube.PutServiceAccount("pmp", "pmp-secrets-access", Role)
	kube.PutServiceAccount("other", "copycat", Role)
	kube.PutServiceAccount("pmp", "no-role", "")
	kube.PutNode("node-1", map[string]string{identity.RegionLabel: NodeRegion})
	o := provider.Options{
		TokenAudience: "sts.amazonaws.com", NodeName: "node-1", Cache: true,
		SecretTTL: time.Minute, NegativeTTL: 5 * time.Second, CacheSize: 64, RetryBudget: 3 * time.Second,
	}
	for _, fn := range opts {
		fn(&o)
	}
	awsCfg, err := provider.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Instrument != nil {
		cfg.Instrument(&awsCfg)
	}
	return &Env{t: t, AWS: a, Kube: kube, Issuer: cfg.Issuer, P: provider.New(awsCfg, kube.Client(), o)}
}

// Req is the driver's Mount of pod pmp/pmp-0 (service account
// pmp-secrets-access, class pmp-credentials) for the objects parameter,
// its token signed by e's issuer.
func (e *Env) Req(objects string) driverreq.Request {
	return driverreq.Request{
		PodName: "pmp-0", Namespace: "pmp", PodUID: PodUID,
		ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
		Parameters: map[string]string{"objects": objects}, Issuer: e.Issuer,
	}
}

// Mount sends r through the driver's encoding and the parameter parser,
// as the server does, then to the provider.
func (e *Env) Mount(r driverreq.Request) (*provider.Result, error) {
	e.t.Helper()
	in := r.Build()
	req, err := params.Parse(in.GetAttributes(), in.GetSecrets(), in.GetPermission())
	if err != nil {
		return nil, err
	}
	req.TargetPath = in.GetTargetPath()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.P.Mount(ctx, req)
}

// PutSecret creates or rotates a secret in the emulator's own region and
// returns the new version id.
func (e *Env) PutSecret(name, value string) string {
	e.t.Helper()
	return awsemu.PutSecret(e.t, e.AWS.Admin, name, value)
}

// Files are a result's files, path -> contents.
func Files(res *provider.Result) map[string]string {
	out := map[string]string{}
	if res == nil {
		return out
	}
	for _, f := range res.Files {
		out[f.Path] = string(f.Contents)
	}
	return out
}

// Versions are a result's object versions, by file.
func Versions(res *provider.Result) map[string]string {
	out := map[string]string{}
	if res == nil {
		return out
	}
	for _, v := range res.Versions {
		out[v.ID] = v.Version
	}
	return out
}

// Leaks reports whether s holds a token e's issuer signed, or the
// signature of one (the part only the token's holder can know), or a
// value the tests mark VALUE-SENTINEL.
func (e *Env) Leaks(s string) bool {
	if strings.Contains(s, "VALUE-SENTINEL") {
		return true
	}
	for _, tok := range e.Issuer.Issued() {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(s, tok) || strings.Contains(s, sig) {
			return true
		}
	}
	return false
}

// LoggedOnce checks that logs say line exactly once, with each of fields,
// and hold no secret value or token.
func (e *Env) LoggedOnce(logs *logcapture.Buffer, line string, fields ...string) {
	e.t.Helper()
	out := logs.Flushed()
	if n := strings.Count(out, line); n != 1 {
		e.t.Errorf("%q is logged %d times, want once:\n%s", line, n, out)
	}
	for _, w := range fields {
		if !strings.Contains(out, w) {
			e.t.Errorf("the log line %q does not say %s:\n%s", line, w, out)
		}
	}
	if e.Leaks(out) {
		e.t.Error("the log holds a secret value or a token")
	}
}
