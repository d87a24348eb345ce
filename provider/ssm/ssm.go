// Package ssm fetches parameters from AWS Systems Manager Parameter Store
// with a pod identity's credentials, ten to a GetParameters call (the most
// it takes), SecureString parameters decrypted. It keeps them as
// provider/secrets keeps secrets: per (identity, region, batch of
// parameters) for the freshness window, in the same kind of bounded,
// coalescing cache, so many pods of one SecretProviderClass cost one call
// per batch per window. The unit is the batch because every pod of a
// SecretProviderClass asks for the same one.
package ssm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/failover"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
)

// API is the one Parameter Store call the provider makes; the role needs
// ssm:GetParameters (and kms:Decrypt for SecureString parameters under a
// customer managed key).
type API interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

var _ API = (*ssm.Client)(nil)

// BatchSize is the most names one GetParameters call takes.
const BatchSize = 10

// Ref names a parameter version to fetch.
type Ref struct {
	// Name is the parameter's name or ARN.
	Name string
	// Version (a number) or Label selects a version; both empty is the
	// latest.
	Version, Label string
}

// selector is the name GetParameters is asked for: name, name:version or
// name:label.
func (r Ref) selector() string {
	switch {
	case r.Version != "":
		return r.Name + ":" + r.Version
	case r.Label != "":
		return r.Name + ":" + r.Label
	}
	return r.Name
}

func (r Ref) String() string {
	switch {
	case r.Version != "":
		return r.Name + " (version " + r.Version + ")"
	case r.Label != "":
		return r.Name + " (label " + r.Label + ")"
	}
	return r.Name
}

// Config tunes a Fetcher: the same settings as secrets.Config.
type Config = secrets.Config

// Fetcher fetches parameters, through the cache.
type Fetcher struct {
	api API
	cfg Config
	// cache, its negative entries and coalesced loads: keyed by identity
	// (batchKey holds the reader's identity.Key).
	cache *cache.Cache[batchKey, batch]
	// regions are the outages of the primary regions of parameters that
	// have a failover region (GetFailover): keyed by identity (region and
	// Read.Reader, the identity.Key), see failover.Regions.
	regions *failover.Regions[batchKey]
}

// batch is the answer to one GetParameters call, by member.
type batch map[member]*secrets.Secret

// member is a parameter of a batch: its selector, and, in a batch read with
// a failover region (GetFailover), its replica's (one name may have two
// replicas).
type member struct {
	selector, failover string
}

// NewFetcher returns a fetcher over api.
func NewFetcher(api API, cfg Config) *Fetcher {
	f := &Fetcher{api: api, cfg: cfg, regions: failover.New[batchKey]("SSM", secrets.Stale, cfg.Clock)}
	if cfg.Cache {
		// As secrets: jittered freshness, and the last good answer of a
		// batch served to the same identity through an outage.
		f.cache = cache.NewWithOptions[batchKey, batch](cfg.CacheSize, cache.Options[batchKey]{
			Jitter:       cfg.Jitter,
			StaleIfError: cfg.StaleIfError,
			StaleIf:      secrets.Stale,
			Throttled:    awsretry.Throttled,
			StaleRetry:   secrets.StaleRetry(cfg.SecretTTL),
			// Once per outage and batch: which parameters, as whom,
			// since when and why.
			OnStale: cache.StaleLog[batchKey]("serving the last good values of parameters: fetching them again failed transiently (--stale-if-error)"),
			Now:     cfg.Clock,
		})
	}
	return f
}

// Stats returns the cache counters (zero when caching is off).
func (f *Fetcher) Stats() cache.Stats {
	if f.cache == nil {
		return cache.Stats{}
	}
	return f.cache.Stats()
}

// Get returns the parameters refs name in region, as the identity with key
// identityKey, each as a *secrets.Secret (VersionID is the parameter's
// version number) shared between Mounts and not to be modified. The refs
// are fetched in sorted batches of BatchSize; all or nothing: any missing
// parameter fails the whole Get, naming every one that is missing. ttl is
// the batches' freshness window (the objects' secretTTL); zero is
// Config.SecretTTL.
func (f *Fetcher) Get(ctx context.Context, identityKey identity.Key, region string, ttl time.Duration, refs []Ref, creds secrets.Credentials) (map[Ref]*secrets.Secret, error) {
	ttl = f.cfg.Window(ttl) // the objects' secretTTL within --max-secret-ttl
	sels := make([]string, 0, len(refs))
	for _, r := range refs {
		sels = append(sels, r.selector())
	}
	slices.Sort(sels)
	sels = slices.Compact(sels)
	got := make(batch, len(sels))
	for start := 0; start < len(sels); start += BatchSize {
		names := sels[start:min(start+BatchSize, len(sels))]
		var b batch
		var err error
		if f.cache == nil {
			b, _, err = f.fetch(ctx, region, names, ttl, creds)
		} else {
			k := batchKey{Identity: identityKey, Region: region, TTL: ttl, Names: strings.Join(names, ",")}
			b, err = f.cache.Get(ctx, k, func(ctx context.Context) (batch, time.Duration, error) {
				return f.fetch(ctx, region, names, ttl, creds)
			})
		}
		if err != nil {
			return nil, err
		}
		for k, v := range b {
			got[k] = v
		}
	}
	out := make(map[Ref]*secrets.Secret, len(refs))
	for _, r := range refs {
		out[r] = got[member{selector: r.selector()}]
	}
	return out, nil
}

// Pair is a parameter and its replica in a failover region (ASCP's
// failoverRegion, with its failoverObject's name, version and label).
type Pair struct {
	Primary, Failover Ref
}

// Replicas are where GetFailover reads parameters when their region is
// out: the failover region, and the identity's credentials there (from
// its own STS).
type Replicas struct {
	Region      string
	Credentials secrets.Credentials
}

// GetFailover is Get for parameters that have a failover region: each
// batch of (at most BatchSize) pairs is read from region, and, when region
// is out (failover.Do), its replicas from the failover region. Each
// parameter's VersionID names the region that served it
// (failover.Version). Batches are kept per (identity, region, pairs); a
// batch the failover region served only for secrets.StaleRetry.
func (f *Fetcher) GetFailover(ctx context.Context, identityKey identity.Key, region string, ttl time.Duration, pairs []Pair, creds secrets.Credentials, replicas Replicas) (map[Pair]*secrets.Secret, error) {
	ttl = f.cfg.Window(ttl) // the objects' secretTTL within --max-secret-ttl
	sels := make([]member, 0, len(pairs))
	for _, p := range pairs {
		sels = append(sels, member{p.Primary.selector(), p.Failover.selector()})
	}
	slices.SortFunc(sels, func(a, b member) int {
		return cmp.Or(strings.Compare(a.selector, b.selector), strings.Compare(a.failover, b.failover))
	})
	sels = slices.Compact(sels)
	window := ttl
	if window <= 0 {
		window = f.cfg.SecretTTL
	}
	window = secrets.StaleRetry(window)
	got := make(batch, len(sels))
	for start := 0; start < len(sels); start += BatchSize {
		part := sels[start:min(start+BatchSize, len(sels))]
		var names, replicaNames []string
		for _, s := range part {
			names, replicaNames = append(names, s.selector), append(replicaNames, s.failover)
		}
		// A batch is keyed by pair: one name may have two replicas.
		in := func(reg string, names []string, c secrets.Credentials) func(context.Context) (batch, time.Duration, error) {
			return func(ctx context.Context) (batch, time.Duration, error) {
				b, ttl, err := f.fetch(ctx, reg, slices.Compact(slices.Sorted(slices.Values(names))), ttl, c)
				if err != nil {
					return nil, ttl, err
				}
				// b is this fetch's own: its parameters (each under its
				// name and ARN) are renamed once.
				renamed := make(map[*secrets.Secret]bool, len(b))
				for _, p := range b {
					if !renamed[p] {
						p.VersionID, renamed[p] = failover.Version(reg, p.VersionID), true
					}
				}
				out := make(batch, len(part))
				for i, s := range part {
					out[s] = b[member{selector: names[i]}]
				}
				return out, ttl, nil
			}
		}
		k := batchKey{Identity: identityKey, Region: region, TTL: ttl, Names: strings.Join(names, ","),
			FailoverRegion: replicas.Region, FailoverNames: strings.Join(replicaNames, ",")}
		load := func(ctx context.Context) (batch, time.Duration, error) {
			return failover.Do(ctx, f.regions, failover.Read[batchKey, batch]{
				Key: k, Reader: identityKey, What: parameters(names),
				Primary:  failover.Source[batch]{Region: region, Load: in(region, names, creds)},
				Failover: failover.Source[batch]{Region: replicas.Region, Load: in(replicas.Region, replicaNames, replicas.Credentials)},
				Window:   window,
			})
		}
		var b batch
		var err error
		if f.cache == nil {
			b, _, err = load(ctx)
		} else {
			b, err = f.cache.Get(ctx, k, load)
		}
		if err != nil {
			return nil, err
		}
		for _, s := range part {
			got[s] = b[s]
		}
	}
	out := make(map[Pair]*secrets.Secret, len(pairs))
	for _, p := range pairs {
		out[p] = got[member{p.Primary.selector(), p.Failover.selector()}]
	}
	return out, nil
}

// FailoverServed is how many batches a failover region served.
func (f *Fetcher) FailoverServed() int64 { return f.regions.Served() }

// batchKey is the cache key of a batch: the identity reading it, its
// region, freshness window and parameters, and, read with a failover
// region (GetFailover), the replicas'.
type batchKey struct {
	Identity identity.Key
	Region   string
	TTL      time.Duration
	// Names are the batch's selectors, sorted, joined by commas (no name
	// or selector holds one): data compared and logged whole, never split
	// back. FailoverNames are their replicas', in the same order.
	Names string
	// FailoverRegion is empty for a batch read without a failover region
	// (Get); GetFailover's always names one.
	FailoverRegion, FailoverNames string
}

// LogFields are the log key/values of k: the parameters, their region,
// the failover region if any, and the identity.
func (k batchKey) LogFields() []any {
	kv := []any{"parameters", k.Names, "region", k.Region}
	if k.FailoverRegion != "" {
		kv = append(kv, "failoverRegion", k.FailoverRegion)
	}
	return append(kv, k.Identity.LogFields()...)
}

// call is what one GetParameters call was about, for its error messages.
type call struct {
	region string
	names  []string
}

func (f *Fetcher) fetch(ctx context.Context, region string, names []string, ttl time.Duration, credentials secrets.Credentials) (batch, time.Duration, error) {
	in := &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)}
	var out *ssm.GetParametersOutput
	err := awsretry.DoAs(ctx, f.cfg.Retry, credentials, func(ctx context.Context, creds aws.Credentials) error {
		var err error
		out, err = f.api.GetParameters(ctx, in, func(o *ssm.Options) {
			o.Region = region
			o.Credentials = awscreds.StaticCredentialsProvider{Value: creds}
		})
		return err
	})
	var credErr *awsretry.CredentialsError
	if errors.As(err, &credErr) {
		// Kept a *CredentialsError (its text is the identity stage's own),
		// so failover.Do tells it from the region's outage; never cached
		// here: the credential cache keeps its own negative entries.
		return nil, 0, err
	}
	c := call{region: region, names: names}
	if err != nil {
		merr := getErrors.Error(c, err)
		return nil, merr.Kind.NegativeTTL(f.cfg.NegativeTTL), merr
	}
	if len(out.InvalidParameters) > 0 {
		missing := slices.Clone(out.InvalidParameters)
		slices.Sort(missing)
		merr := mounterr.New(mounterr.NotFound, "%s %s not found in region %s: check objectName, objectVersion and objectVersionLabel and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label); a parameter the role may not read fails with AccessDeniedException instead",
			parameters(missing), wasWere(missing), region)
		return nil, merr.Kind.NegativeTTL(f.cfg.NegativeTTL), merr
	}
	b := make(batch, len(names))
	for _, p := range out.Parameters {
		s, err := secret(p)
		if err != nil {
			return nil, err.Kind.NegativeTTL(f.cfg.NegativeTTL), err
		}
		sel := aws.ToString(p.Selector)
		b[member{selector: aws.ToString(p.Name) + sel}] = s
		if arn := aws.ToString(p.ARN); arn != "" {
			b[member{selector: arn + sel}] = s // a parameter asked for by ARN
		}
	}
	var unanswered []string
	for _, n := range names {
		if b[member{selector: n}] == nil {
			unanswered = append(unanswered, n)
		}
	}
	if len(unanswered) > 0 {
		return nil, 0, mounterr.New(mounterr.Internal, "Parameter Store answered GetParameters in %s without %s and without listing it as invalid", region, parameters(unanswered))
	}
	if ttl > 0 {
		return b, ttl, nil // the objects' secretTTL
	}
	return b, f.cfg.SecretTTL, nil
}

// secret is a parameter as the files stage reads it.
func secret(p types.Parameter) (*secrets.Secret, *mounterr.Error) {
	name := aws.ToString(p.Name)
	v := aws.ToString(p.Value)
	if len(v) > secrets.MaxValueBytes {
		return nil, mounterr.New(mounterr.Invalid, "parameter %s is %d bytes, over the %d bytes the provider reads: check the endpoint the provider calls (AWS_ENDPOINT_URL)",
			name, len(v), secrets.MaxValueBytes)
	}
	// A StringList is written as Parameter Store holds it: the items
	// joined by commas, as ASCP writes it.
	return &secrets.Secret{ARN: aws.ToString(p.ARN), Name: name, VersionID: strconv.FormatInt(p.Version, 10), Value: []byte(v)}, nil
}

// parameters names one or more parameters: "parameter a", "parameters a, b".
func parameters(names []string) string {
	if len(names) == 1 {
		return "parameter " + names[0]
	}
	return "parameters " + strings.Join(names, ", ")
}

func wasWere(names []string) string {
	if len(names) == 1 {
		return "was"
	}
	return "were"
}

// getErrors is how Parameter Store failures read in the pod's events.
var getErrors = mounterr.AWSTable[call]{
	Call: func(c call) string {
		return "Parameter Store GetParameters for " + strings.Join(c.names, ", ") + " in " + c.region
	},
	Rules: []mounterr.AWSRule[call]{
		{Codes: []string{"AccessDeniedException"}, Kind: mounterr.Denied, Msg: func(c call, reason string) string {
			return fmt.Sprintf("access to %s in %s was denied (%s): the role's IAM policy must allow ssm:GetParameters on %s, and kms:Decrypt on the KMS key of SecureString parameters under a customer managed key",
				parameters(c.names), c.region, reason, resources(c))
		}},
		{Codes: []string{"InvalidKeyId"}, Kind: mounterr.Denied, Msg: func(c call, reason string) string {
			return fmt.Sprintf("a SecureString parameter of %s in %s could not be decrypted (%s): the role needs kms:Decrypt on the parameter's KMS key, and the key must be enabled",
				strings.Join(c.names, ", "), c.region, reason)
		}},
		{Codes: []string{"ParameterNotFound", "ParameterVersionNotFound"}, Kind: mounterr.NotFound, Msg: func(c call, reason string) string {
			return fmt.Sprintf("a parameter of %s was not found in region %s (%s): check objectName, objectVersion and objectVersionLabel and the region",
				strings.Join(c.names, ", "), c.region, reason)
		}},
		{Codes: []string{"ValidationException"}, Kind: mounterr.Invalid, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Parameter Store rejected the request for %s (%s): check objectName, objectVersion and objectVersionLabel",
				strings.Join(c.names, ", "), reason)
		}},
		{Codes: []string{"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}, Kind: mounterr.Unauthenticated, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Parameter Store did not accept the role credentials for %s (%s)", strings.Join(c.names, ", "), reason)
		}},
	},
}

// resources is the IAM resource pattern of the parameters of c: ARNs as
// given, names as arn:aws:ssm:REGION:ACCOUNT_ID:parameter/NAME.
func resources(c call) string {
	out := make([]string, len(c.names))
	for i, n := range c.names {
		if j := strings.LastIndex(n, ":"); j >= 0 && !strings.HasPrefix(n, "arn:") {
			n = n[:j] // name:version or name:label
		} else if strings.HasPrefix(n, "arn:") && strings.Count(n, ":") > 5 {
			n = n[:strings.LastIndex(n, ":")]
		}
		if strings.HasPrefix(n, "arn:") {
			out[i] = n
			continue
		}
		out[i] = "arn:" + identity.Partition(c.region) + ":ssm:" + c.region + ":ACCOUNT_ID:parameter/" + strings.TrimPrefix(n, "/")
	}
	return strings.Join(slices.Compact(out), ", ")
}
