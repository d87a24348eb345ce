package parameterstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/parameterstore"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// The tests read parameters as the provider does: through fetch, in
// batches of parameterstore.BatchSize (fetch.Split).

type (
	Ref    = backend.Ref
	Config = fetch.Config
)

// Pair is a parameter and its replica in a failover region.
type Pair struct{ Primary, Failover Ref }

// Replicas are where GetFailover reads parameters when their region is
// out, and the identity's credentials there.
type Replicas struct {
	Region      string
	Credentials identity.PodCredentials
}

type Fetcher struct{ *fetch.Fetcher }

func NewFetcher(api parameterstore.API, cfg Config) *Fetcher {
	return &Fetcher{fetch.New(&parameterstore.Info, parameterstore.New(api), cfg)}
}

// get reads items in batches: each item's version.
func (f *Fetcher) get(ctx context.Context, id identity.Key, b fetch.Batch, items []fetch.Item) (map[fetch.Item]*object.Version, error) {
	out := map[fetch.Item]*object.Version{}
	for _, part := range fetch.Split(items, parameterstore.Info.Batch) {
		b.Items = part
		got, err := f.Fetch(ctx, id, b)
		if err != nil {
			return nil, err
		}
		for i, it := range part {
			out[it] = got[i]
		}
	}
	return out, nil
}

func (f *Fetcher) Get(ctx context.Context, id identity.Key, region string, ttl time.Duration, refs []Ref, creds identity.PodCredentials) (map[Ref]*object.Version, error) {
	items := make([]fetch.Item, len(refs))
	for i, r := range refs {
		items[i] = fetch.Item{Ref: r}
	}
	got, err := f.get(ctx, id, fetch.Batch{Region: region, TTL: ttl, Credentials: creds}, items)
	if err != nil {
		return nil, err
	}
	out := make(map[Ref]*object.Version, len(refs))
	for _, r := range refs {
		out[r] = got[fetch.Item{Ref: r}]
	}
	return out, nil
}

func (f *Fetcher) GetFailover(ctx context.Context, id identity.Key, region string, ttl time.Duration, pairs []Pair, creds identity.PodCredentials, replicas Replicas) (map[Pair]*object.Version, error) {
	items := make([]fetch.Item, len(pairs))
	for i, p := range pairs {
		items[i] = fetch.Item{Ref: p.Primary, Replica: p.Failover}
	}
	got, err := f.get(ctx, id, fetch.Batch{Region: region, TTL: ttl, Credentials: creds, FailoverRegion: replicas.Region, FailoverCredentials: replicas.Credentials}, items)
	if err != nil {
		return nil, err
	}
	out := make(map[Pair]*object.Version, len(pairs))
	for _, p := range pairs {
		out[p] = got[fetch.Item{Ref: p.Primary, Replica: p.Failover}]
	}
	return out, nil
}

// These tests run against the kumo emulator through the awsemu front,
// which counts the calls and stands in for what kumo lacks: versions,
// labels and GetParameters' limit of ten names.

const region = "us-east-1"

// staticCreds are one identity's credentials; Renew counts renewals.
type staticCreds struct {
	mu    sync.Mutex
	gets  int
	renew int
}

var _ identity.PodCredentials = (*staticCreds)(nil)

func (c *staticCreds) Get(context.Context) (aws.Credentials, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	return aws.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "s", SessionToken: "t"}, c.gets == 1, nil
}

func (c *staticCreds) Renew(context.Context, aws.Credentials) (aws.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renew++
	return aws.Credentials{AccessKeyID: "ASIATEST2", SecretAccessKey: "s", SessionToken: "t"}, nil
}

var fastRetry = retry.Policy{Budget: 300 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

type env struct {
	aws *awsemu.AWS
	f   *Fetcher
}

func start(t *testing.T, cache bool) *env {
	t.Helper()
	a := awsemu.Start(t)
	client := awsssm.New(awsssm.Options{Region: region, BaseEndpoint: aws.String(a.Endpoint), Retryer: aws.NopRetryer{}})
	f := NewFetcher(client, Config{Retry: fastRetry, Cache: cache, SecretTTL: time.Minute, NegativeTTL: 10 * time.Second, CacheSize: 64})
	return &env{aws: a, f: f}
}

func (e *env) put(t *testing.T, name string, typ types.ParameterType, value string) {
	t.Helper()
	_, err := e.aws.SSM.PutParameter(context.Background(), &awsssm.PutParameterInput{Name: aws.String(name), Type: typ, Value: aws.String(value), Overwrite: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGetBatchesOfTen(t *testing.T) {
	e := start(t, true)
	var refs []Ref
	for i := range 23 {
		name := fmt.Sprintf("/app/p%02d", i)
		e.put(t, name, types.ParameterTypeString, "value-"+name)
		refs = append(refs, Ref{Name: name})
	}
	creds := &staticCreds{}
	got, err := e.f.Get(context.Background(), identityA, region, 0, refs, creds)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if s := got[r]; s == nil || string(s.Value) != "value-"+r.Name || s.VersionID != "1" {
			t.Errorf("parameter %s = %+v, want value-%s at version 1", r.Name, s, r.Name)
		}
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 3 {
		t.Errorf("23 parameters took %d GetParameters calls, want 3 (batches of 10)", n)
	}

	// Cached per identity: the same identity costs nothing, another pays.
	if _, err := e.f.Get(context.Background(), identityA, region, 0, refs, creds); err != nil {
		t.Fatal(err)
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 3 {
		t.Errorf("a second Get of the same identity made calls: %d in all, want 3", n)
	}
	if _, err := e.f.Get(context.Background(), identityB, region, 0, refs, creds); err != nil {
		t.Fatal(err)
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 6 {
		t.Errorf("another identity was served from the first's cache: %d calls in all, want 6", n)
	}
}

func TestGetCoalesces(t *testing.T) {
	e := start(t, true)
	e.put(t, "/app/db", types.ParameterTypeString, "x")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.f.Get(context.Background(), identityA, region, 0, []Ref{{Name: "/app/db"}}, &staticCreds{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 1 {
		t.Errorf("20 concurrent Gets made %d calls, want 1", n)
	}
	if st := e.f.Stats(); st.Misses != 1 || st.Hits+st.Coalesced != 19 {
		t.Errorf("stats = %+v, want 1 miss and 19 hits or coalesced waits", st)
	}
}

func TestGetTypesAndVersions(t *testing.T) {
	e := start(t, false)
	e.put(t, "/app/password", types.ParameterTypeSecureString, "s3cret")
	e.put(t, "/app/hosts", types.ParameterTypeStringList, "a.example,b.example")
	e.put(t, "/app/json", types.ParameterTypeString, `{"db":{"user":"app"}}`)
	e.put(t, "/app/rotated", types.ParameterTypeString, "v1")
	e.put(t, "/app/rotated", types.ParameterTypeString, "v2")
	// kumo keeps the latest value only: the front serves the history.
	e.aws.Front.AddParameterVersion(awsemu.ParameterVersion{Name: "/app/rotated", Version: 1, Type: "String", Value: "v1", Labels: []string{"previous"}})
	e.aws.Front.AddParameterVersion(awsemu.ParameterVersion{Name: "/app/rotated", Version: 2, Type: "String", Value: "v2", Labels: []string{"prod"}})

	refs := []Ref{
		{Name: "/app/password"}, {Name: "/app/hosts"}, {Name: "/app/json"}, {Name: "/app/rotated"},
		{Name: "/app/rotated", Version: "1"}, {Name: "/app/rotated", Label: "prod"}, {Name: "/app/rotated", Label: "previous"},
	}
	got, err := e.f.Get(context.Background(), identityA, region, 0, refs, &staticCreds{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[Ref][2]string{
		refs[0]: {"s3cret", "1"},                // SecureString, decrypted
		refs[1]: {"a.example,b.example", "1"},   // StringList as stored
		refs[2]: {`{"db":{"user":"app"}}`, "1"}, // JSON: flattened by the files stage
		refs[3]: {"v2", "2"},
		refs[4]: {"v1", "1"},
		refs[5]: {"v2", "2"},
		refs[6]: {"v1", "1"},
	}
	for r, w := range want {
		s := got[r]
		if s == nil || string(s.Value) != w[0] || s.VersionID != w[1] {
			t.Errorf("%s = %+v, want %q at version %s", r, s, w[0], w[1])
		}
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 1 {
		t.Errorf("7 parameters took %d calls, want 1", n)
	}
}

func TestGetErrors(t *testing.T) {
	e := start(t, true)
	e.put(t, "/app/db", types.ParameterTypeString, "x")

	t.Run("missing parameters are named", func(t *testing.T) {
		_, err := e.f.Get(context.Background(), identityA, region, 0, []Ref{{Name: "/app/db"}, {Name: "/app/nope"}, {Name: "/app/db", Version: "7"}}, &staticCreds{})
		var merr *mounterr.Error
		if !errors.As(err, &merr) || merr.Kind != mounterr.NotFound {
			t.Fatalf("error = %v, want NotFound", err)
		}
		for _, want := range []string{"parameters /app/db:7, /app/nope were not found in region us-east-1", "objectVersion"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		// Exactly the missing ones, as refs: what optional objects may be
		// left out for.
		var missing *backend.MissingError
		if !errors.As(err, &missing) || missing.Region != region || !slices.Equal(missing.Refs, []Ref{{Name: "/app/db", Version: "7"}, {Name: "/app/nope"}}) {
			t.Errorf("missing = %+v, want /app/db:7 and /app/nope in %s", missing, region)
		}
	})
	t.Run("a parameter not found names it, in a read of one", func(t *testing.T) {
		e.aws.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 400, Code: "ParameterNotFound", Message: "not found", Times: 2})
		defer e.aws.Front.Clear()
		_, err := e.f.Get(context.Background(), identityC, region, 0, []Ref{{Name: "/app/one"}}, &staticCreds{})
		var missing *backend.MissingError
		if mounterr.KindOf(err) != mounterr.NotFound || !errors.As(err, &missing) || !slices.Equal(missing.Refs, []Ref{{Name: "/app/one"}}) {
			t.Errorf("error = %v, missing = %+v, want NotFound naming /app/one", err, missing)
		}
		_, err = e.f.Get(context.Background(), identityC, region, 0, []Ref{{Name: "/app/one"}, {Name: "/app/two"}}, &staticCreds{})
		if mounterr.KindOf(err) != mounterr.NotFound || errors.As(err, &missing) {
			t.Errorf("error = %v: a ParameterNotFound of a read of two names neither", err)
		}
	})
	t.Run("access denied names the parameter and the IAM action", func(t *testing.T) {
		e.aws.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 400, Code: "AccessDeniedException",
			Message: "User: arn:aws:sts::111122223333:assumed-role/app/x is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:111122223333:parameter/app/secret"})
		defer e.aws.Front.Clear()
		creds := &staticCreds{}
		_, err := e.f.Get(context.Background(), identityB, region, 0, []Ref{{Name: "/app/secret", Label: "prod"}}, creds)
		var merr *mounterr.Error
		if !errors.As(err, &merr) || merr.Kind != mounterr.Denied {
			t.Fatalf("error = %v, want Denied", err)
		}
		for _, want := range []string{"access to parameter /app/secret:prod in us-east-1 was denied", "must allow ssm:GetParameters on arn:aws:ssm:us-east-1:ACCOUNT_ID:parameter/app/secret", "kms:Decrypt"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
	t.Run("a refusal is remembered for the negative window", func(t *testing.T) {
		before := e.aws.Front.Count(awsemu.OpGetParameters)
		_, err := e.f.Get(context.Background(), identityB, region, 0, []Ref{{Name: "/app/secret", Label: "prod"}}, &staticCreds{})
		if err == nil || e.aws.Front.Count(awsemu.OpGetParameters) != before {
			t.Errorf("a remembered refusal: error %v, %d new calls", err, e.aws.Front.Count(awsemu.OpGetParameters)-before)
		}
	})
	t.Run("throttling beyond the budget is transient", func(t *testing.T) {
		e.aws.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})
		defer e.aws.Front.Clear()
		_, err := e.f.Get(context.Background(), identityC, region, 0, []Ref{{Name: "/app/db"}}, &staticCreds{})
		var merr *mounterr.Error
		if !errors.As(err, &merr) || merr.Kind != mounterr.Transient || !strings.Contains(err.Error(), "Parameter Store GetParameters for /app/db in us-east-1 kept failing") {
			t.Fatalf("error = %v, want Transient naming the call", err)
		}
	})
	t.Run("the front refuses more than ten names, as AWS does", func(t *testing.T) {
		names := make([]string, 11)
		for i := range names {
			names[i] = fmt.Sprintf("/x/%d", i)
		}
		client := awsssm.New(awsssm.Options{Region: region, BaseEndpoint: aws.String(e.aws.Endpoint), Retryer: aws.NopRetryer{}})
		_, err := client.GetParameters(context.Background(), &awsssm.GetParametersInput{Names: names})
		if err == nil || !strings.Contains(err.Error(), "ValidationException") {
			t.Fatalf("11 names: error = %v, want ValidationException", err)
		}
	})
}

func TestGetRenewsRevokedCredentials(t *testing.T) {
	e := start(t, false)
	e.put(t, "/app/db", types.ParameterTypeString, "x")
	creds := &staticCreds{gets: 1} // cached credentials: the next Get is not fresh
	e.aws.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 400, Code: "ExpiredTokenException", Message: "The security token included in the request is expired", Times: 1})
	got, err := e.f.Get(context.Background(), identityA, region, 0, []Ref{{Name: "/app/db"}}, creds)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[Ref{Name: "/app/db"}].Value) != "x" || creds.renew != 1 {
		t.Errorf("value %q after %d renewals, want x after 1", got[Ref{Name: "/app/db"}].Value, creds.renew)
	}
}

// TestStaleIfError: past their window, parameters are served to the same
// identity while Parameter Store fails with an outage, as secrets are;
// another identity, and a refusal, get the failure.
func TestStaleIfError(t *testing.T) {
	a := awsemu.Start(t)
	client := awsssm.New(awsssm.Options{Region: region, BaseEndpoint: aws.String(a.Endpoint), Retryer: aws.NopRetryer{}})
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := NewFetcher(client, Config{Retry: fastRetry, Cache: true, SecretTTL: time.Minute, NegativeTTL: 10 * time.Second,
		CacheSize: 64, StaleIfError: time.Hour, Clock: clock})
	e := &env{aws: a, f: f}
	e.put(t, "/app/db", types.ParameterTypeSecureString, "value-1")
	refs := []Ref{{Name: "/app/db"}}
	if _, err := f.Get(context.Background(), identityA, region, 0, refs, &staticCreds{}); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Minute)
	a.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 503, Code: "ServiceUnavailable", Message: "down"})
	got, err := f.Get(context.Background(), identityA, region, 0, refs, &staticCreds{})
	if err != nil || string(got[refs[0]].Value) != "value-1" {
		t.Fatalf("during the outage: %v; want the last good value", err)
	}
	if _, err := f.Get(context.Background(), identityB, region, 0, refs, &staticCreds{}); err == nil {
		t.Error("another identity got the stale value")
	}
	if st := f.Stats(); st.Stale == 0 {
		t.Errorf("Stats().Stale = %d, want the stale answer counted", st.Stale)
	}
	a.Front.Clear()
	advance(time.Minute)
	a.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Status: 400, Code: "AccessDeniedException", Message: "no"})
	// While the outage was on, a lookup answers at once and the load runs
	// in the background: the refusal it gets drops the stale value.
	refused := false
	for i := 0; i < 100 && !refused; i++ {
		_, err := f.Get(context.Background(), identityA, region, 0, refs, &staticCreds{})
		refused = err != nil
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Error("a refusal did not end the stale answers")
	}
}

// TestGetFailoverBatchesPairs: parameters with a failover region go in
// batches of ten pairs; one name with two replicas is two pairs, each
// served its own replica when the region is out.
func TestGetFailoverBatchesPairs(t *testing.T) {
	e := start(t, true)
	west := e.aws.AddRegion(t, "us-west-2")
	var pairs []Pair
	for i := range 12 {
		name := fmt.Sprintf("/app/p%02d", i)
		e.put(t, name, types.ParameterTypeString, "east")
		if _, err := west.SSM.PutParameter(context.Background(), &awsssm.PutParameterInput{Name: aws.String(name + "-dr"), Type: types.ParameterTypeString, Value: aws.String("west-" + name)}); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, Pair{Primary: Ref{Name: name}, Failover: Ref{Name: name + "-dr"}})
	}
	// /app/p00 a second time, with another replica.
	pairs = append(pairs, Pair{Primary: Ref{Name: "/app/p00"}, Failover: Ref{Name: "/app/p01-dr"}})
	e.aws.Front.Inject(awsemu.Fault{Operation: awsemu.OpGetParameters, Region: region, Status: 503, Code: "ServiceUnavailable"})
	got, err := e.f.GetFailover(context.Background(), identityA, region, 0, pairs, &staticCreds{}, Replicas{Region: "us-west-2", Credentials: &staticCreds{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		s := got[p]
		if s == nil || string(s.Value) != "west-"+strings.TrimSuffix(p.Failover.Name, "-dr") || !strings.HasPrefix(s.VersionID, "us-west-2/") {
			t.Errorf("%+v: %+v, want its own replica's value, its version naming us-west-2", p, s)
		}
	}
	if n := e.aws.Front.CountIn("us-west-2", awsemu.OpGetParameters); n != 2 {
		t.Errorf("%d GetParameters in the failover region for 13 pairs, want 2", n)
	}
	if n := e.f.FailoverServed(); n != 2 {
		t.Errorf("FailoverServed() = %d, want 2 batches", n)
	}
}

// identityA, identityB and identityC are three readers of the same parameters.
var (
	identityA = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/a", Namespace: "pmp", ServiceAccount: "a", Region: region}
	identityB = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/b", Namespace: "pmp", ServiceAccount: "b", Region: region}
	identityC = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/c", Namespace: "pmp", ServiceAccount: "c", Region: region}
)
