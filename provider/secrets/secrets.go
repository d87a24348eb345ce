// Package secrets fetches secret values from AWS Secrets Manager with a
// pod identity's credentials, and keeps them per (identity, secret,
// version) for a freshness window, so the driver's republishes of many pods
// cost one GetSecretValue per window instead of one per pod per republish.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/failover"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// API is the one Secrets Manager call the provider makes. The PMP IAM
// policy grants GetSecretValue and DescribeSecret only.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// MaxValueBytes is the most a Secrets Manager secret holds (SecretString or
// SecretBinary). A larger answer is refused: no value the provider keeps,
// flattens or returns is larger.
const MaxValueBytes = 65536

// Ref names a secret version to fetch.
type Ref struct {
	// ID is the secret's name or ARN.
	ID string
	// VersionID and VersionStage select a version; both empty is AWSCURRENT.
	VersionID, VersionStage string
	Region                  string
	// TTL is this secret's freshness window; zero is Config.SecretTTL.
	// Objects that ask for different windows keep separate entries.
	TTL time.Duration
}

// Secret is a fetched secret version. It is shared between Mounts and must
// not be modified.
type Secret struct {
	ARN, Name, VersionID string
	Value                []byte

	// entries, and the selections with their Memos (the server's memoised
	// responses): keyed by identity (a Secret is loaded for one cache key,
	// which holds the reader's identity, and is never shared across keys).
	once    sync.Once
	entries []flatten.Entry
	flatErr error

	selMu      sync.Mutex
	selections map[selectionKey]selected
}

// Entries returns the flattened value, computed once per secret version.
func (s *Secret) Entries() ([]flatten.Entry, error) {
	s.once.Do(func() { s.entries, s.flatErr = flatten.Flatten(s.Value) })
	return s.entries, s.flatErr
}

// Config tunes a Fetcher.
type Config struct {
	Retry awsretry.Policy
	// Cache off means every Get calls Secrets Manager.
	Cache bool
	// SecretTTL is the freshness window.
	SecretTTL time.Duration
	// NegativeTTL is how long a 4xx refusal is remembered.
	NegativeTTL time.Duration
	CacheSize   int
	// StaleIfError is how long past SecretTTL a fetched version is kept to
	// be served, for the same identity, when fetching it again fails with
	// an AWS outage (awsretry.Outage: throttling past the retries, 5xx, no
	// answer), never for a refusal (4xx). Zero: never (strict).
	StaleIfError time.Duration
	// Jitter shortens each version's SecretTTL by a random fraction up to
	// it (0.1: up to 10%), so nodes that fetched one secret together do
	// not all fetch it again in the same second.
	Jitter float64
	// Clock is the cache's clock (tests); nil: time.Now.
	Clock func() time.Time
	// CacheMaxBytes bounds the cached secrets' estimated bytes (Size) as
	// well; zero: entries only.
	CacheMaxBytes int64
	// MaxTTL caps every object's own window (its secretTTL, a tenant's
	// choice): it is the longest a deleted secret, or a permission revoked
	// in IAM, keeps being served from the cache. Zero: no cap.
	MaxTTL time.Duration
}

// Window is ttl, an object's secretTTL, within MaxTTL; zero stays zero
// (SecretTTL, which the provider's flags keep within MaxTTL).
func (c Config) Window(ttl time.Duration) time.Duration {
	if c.MaxTTL > 0 && ttl > c.MaxTTL {
		return c.MaxTTL
	}
	return ttl
}

// staleRetry is how often, while an outage has a stale version served,
// Secrets Manager is tried again for it (in the background: Mounts get the
// stale version at once).
const staleRetry = 10 * time.Second

// Fetcher fetches secrets, through the cache.
type Fetcher struct {
	api API
	cfg Config
	// cache, its negative entries and coalesced loads: keyed by identity
	// (key holds the reader's identity.Key).
	cache *cache.Cache[key, *Secret]
	// regions are the outages of the primary regions of secrets that have
	// a failover region (GetFailover): keyed by identity (region and
	// Read.Reader, the identity.Key), see failover.Regions.
	regions *failover.Regions[key]
}

// NewFetcher returns a fetcher over api.
func NewFetcher(api API, cfg Config) *Fetcher {
	f := &Fetcher{api: api, cfg: cfg, regions: failover.New[key]("Secrets Manager", Stale, cfg.Clock)}
	if cfg.Cache {
		f.cache = cache.NewWithOptions[key, *Secret](cfg.CacheSize, cache.Options[key]{
			Jitter:       cfg.Jitter,
			StaleIfError: cfg.StaleIfError,
			StaleIf:      Stale,
			Throttled:    awsretry.Throttled,
			StaleRetry:   StaleRetry(cfg.SecretTTL),
			// Once per outage and secret: which secret, as whom, since
			// when and why.
			OnStale: cache.StaleLog[key]("serving the last good version of a secret: fetching it again failed transiently (--stale-if-error)"),
			Now:     cfg.Clock,
		})
		if cfg.CacheMaxBytes > 0 {
			f.cache.LimitBytes(cfg.CacheMaxBytes, key.size, (*Secret).Size)
		}
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

// Credentials gives a fetch the pod identity's credentials, asked for
// only when the secret must be fetched.
type Credentials = awsretry.Credentials

// Get returns the secret for ref, as the identity with key identityKey.
func (f *Fetcher) Get(ctx context.Context, identityKey identity.Key, ref Ref, creds Credentials) (*Secret, error) {
	ref.TTL = f.cfg.Window(ref.TTL)
	if f.cache == nil {
		s, _, err := f.fetch(ctx, ref, creds)
		return s, err
	}
	return f.cache.Get(ctx, key{Identity: identityKey, Ref: ref}, func(ctx context.Context) (*Secret, time.Duration, error) {
		return f.fetch(ctx, ref, creds)
	})
}

// Replica is a secret as it is read in a failover region: ASCP's
// failoverRegion, with its failoverObject's name, version and label.
type Replica struct {
	Region, ID, VersionID, VersionStage string
}

// GetFailover is Get for a secret that has a failover region: read from
// ref's region, and from the replica's, with replicaCreds (the identity's
// credentials in that region, from its own STS), when ref's region is out
// (failover.Do). The secret's VersionID names the region that served it
// (failover.Version). It is kept per (identity, secret, replica); a
// version the replica's region served only for StaleRetry.
func (f *Fetcher) GetFailover(ctx context.Context, identityKey identity.Key, ref Ref, creds Credentials, replica Replica, replicaCreds Credentials) (*Secret, error) {
	ref.TTL = f.cfg.Window(ref.TTL)
	ttl := ref.TTL
	if ttl <= 0 {
		ttl = f.cfg.SecretTTL
	}
	k := key{Identity: identityKey, Ref: ref, Replica: replica}
	replicaRef := Ref{ID: replica.ID, VersionID: replica.VersionID, VersionStage: replica.VersionStage, Region: replica.Region, TTL: ref.TTL}
	load := func(ctx context.Context) (*Secret, time.Duration, error) {
		return failover.Do(ctx, f.regions, failover.Read[key, *Secret]{
			Key: k, Reader: identityKey, What: "secret " + ref.ID,
			Primary:  failover.Source[*Secret]{Region: ref.Region, Load: f.fetchIn(ref, creds)},
			Failover: failover.Source[*Secret]{Region: replica.Region, Load: f.fetchIn(replicaRef, replicaCreds)},
			Window:   StaleRetry(ttl),
		})
	}
	if f.cache == nil {
		s, _, err := load(ctx)
		return s, err
	}
	return f.cache.Get(ctx, k, load)
}

// fetchIn is the fetch of ref, whose version names its region.
func (f *Fetcher) fetchIn(ref Ref, creds Credentials) func(context.Context) (*Secret, time.Duration, error) {
	return func(ctx context.Context) (*Secret, time.Duration, error) {
		s, ttl, err := f.fetch(ctx, ref, creds)
		if s != nil {
			s.VersionID = failover.Version(ref.Region, s.VersionID)
		}
		return s, ttl, err
	}
}

// FailoverServed is how many reads a failover region served.
func (f *Fetcher) FailoverServed() int64 { return f.regions.Served() }

// key is the cache key of a secret read: the version read, the identity
// reading it, and, read with a failover region (GetFailover), the replica.
type key struct {
	Identity identity.Key
	Ref      Ref
	// Replica is zero for a read without a failover region (Get);
	// GetFailover's always names its region.
	Replica Replica
}

// LogFields are the log key/values of k: the secret, its region, the
// failover region if any, and the identity.
func (k key) LogFields() []any {
	kv := []any{"secret", k.Ref.ID, "region", k.Ref.Region}
	if k.Replica.Region != "" {
		kv = append(kv, "failoverRegion", k.Replica.Region)
	}
	return append(kv, k.Identity.LogFields()...)
}

// size estimates the bytes k holds in the cache: the struct, kept in its
// map and its list (unsafe.Sizeof is the struct's own size, headers
// included), and its strings.
func (k key) size() int64 {
	return 2*int64(unsafe.Sizeof(k)) + k.Identity.Bytes() + int64(len(k.Ref.ID)+len(k.Ref.VersionID)+len(k.Ref.VersionStage)+len(k.Ref.Region)+
		len(k.Replica.Region)+len(k.Replica.ID)+len(k.Replica.VersionID)+len(k.Replica.VersionStage))
}

// StaleRetry is how long a stale version answers at once before a load
// tries AWS again, for a freshness window of ttl.
func StaleRetry(ttl time.Duration) time.Duration { return min(staleRetry, ttl) }

// Stale reports whether a failed fetch may be answered with the last good
// version: a transient failure that is AWS failing, not refusing. A bug's
// failure (Internal) is not one. Parameter Store fetches follow the same
// rule.
func Stale(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the Mount's budget ended while a call was still trying
	}
	return mounterr.KindOf(err) == mounterr.Transient && awsretry.Outage(err)
}

func (f *Fetcher) fetch(ctx context.Context, ref Ref, credentials Credentials) (*Secret, time.Duration, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.ID)}
	if ref.VersionID != "" {
		in.VersionId = aws.String(ref.VersionID)
	}
	if ref.VersionStage != "" {
		in.VersionStage = aws.String(ref.VersionStage)
	}
	var out *secretsmanager.GetSecretValueOutput
	err := awsretry.DoAs(ctx, f.cfg.Retry, credentials, func(ctx context.Context, creds aws.Credentials) error {
		var err error
		out, err = f.api.GetSecretValue(ctx, in, func(o *secretsmanager.Options) {
			o.Region = ref.Region
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
	if err != nil {
		merr := getErrors.Error(ref, err)
		return nil, merr.Kind.NegativeTTL(f.cfg.NegativeTTL), merr
	}
	s := &Secret{ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), VersionID: aws.ToString(out.VersionId)}
	switch {
	case out.SecretString != nil:
		s.Value = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		s.Value = out.SecretBinary
	}
	if s.VersionID == "" {
		return nil, 0, mounterr.New(mounterr.Internal, "Secrets Manager answered GetSecretValue for %s without a VersionId", ref.ID)
	}
	if len(s.Value) > MaxValueBytes {
		// Refused before it is kept, flattened or copied into files.
		err := mounterr.New(mounterr.Invalid, "secret %s is %d bytes, over the %d bytes Secrets Manager holds in a secret: check the endpoint the provider calls (AWS_ENDPOINT_URL)",
			ref.ID, len(s.Value), MaxValueBytes)
		return nil, err.Kind.NegativeTTL(f.cfg.NegativeTTL), err
	}
	// Flattened now, outside the cache's lock, so that Size counts it.
	_, _ = s.Entries()
	if ref.TTL > 0 {
		return s, ref.TTL, nil
	}
	return s, f.cfg.SecretTTL, nil
}

// Per-item overheads in Size: a Secret with its maps and locks, an entry
// (string and slice headers), a selected file (its File and headers, and
// its file and version in the response the server keeps in the Memo).
const (
	secretOverhead = 1024
	entryOverhead  = 64
	fileOverhead   = 320
)

// Size estimates the bytes s holds: its value, its flattened entries and
// one selection of files of them (a selection's contents share the
// entries' bytes; its paths are counted again), for the cache's bound in
// bytes. s is flattened if it was not yet.
func (s *Secret) Size() int64 {
	entries, _ := s.Entries()
	n := secretOverhead + len(s.ARN) + len(s.Name) + len(s.VersionID) + len(s.Value)
	for _, e := range entries {
		n += entryOverhead + len(e.Name) + len(e.Value) + fileOverhead + len(e.Name)
	}
	return int64(n)
}

// getErrors is how Secrets Manager failures read in the pod's events:
// what was refused or missing, and which setting or policy to fix.
var getErrors = mounterr.AWSTable[Ref]{
	Call: func(ref Ref) string { return "Secrets Manager GetSecretValue for " + ref.ID + " in " + ref.Region },
	Rules: []mounterr.AWSRule[Ref]{
		{Codes: []string{"AccessDeniedException"}, Kind: mounterr.Denied, Msg: func(ref Ref, _ string) string {
			return fmt.Sprintf("access to secret %s in %s was denied (AccessDeniedException): the role's IAM policy must allow secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on arn:aws:secretsmanager:%s:ACCOUNT_ID:secret:%s*",
				ref.ID, ref.Region, ref.Region, secretPattern(ref.ID))
		}},
		{Codes: []string{"ResourceNotFoundException"}, Kind: mounterr.NotFound, Msg: func(ref Ref, _ string) string {
			what := "secret"
			if ref.VersionID != "" || ref.VersionStage != "" {
				what = "secret version " + ref.VersionID + ref.VersionStage + " of"
			}
			return fmt.Sprintf("%s %s was not found in region %s: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)",
				what, ref.ID, ref.Region)
		}},
		{Codes: []string{"DecryptionFailure"}, Kind: mounterr.Denied, Msg: func(ref Ref, _ string) string {
			return fmt.Sprintf("secret %s could not be decrypted (DecryptionFailure): the role needs kms:Decrypt on the secret's KMS key", ref.ID)
		}},
		{Codes: []string{"InvalidRequestException"}, Kind: mounterr.NotFound, Msg: func(ref Ref, reason string) string {
			return fmt.Sprintf("secret %s cannot be read (%s): it may be scheduled for deletion; restore it or point objectName at another secret", ref.ID, reason)
		}},
		{Codes: []string{"InvalidParameterException"}, Kind: mounterr.Invalid, Msg: func(ref Ref, reason string) string {
			return fmt.Sprintf("Secrets Manager rejected the request for %s (%s): check objectName, objectVersion and objectVersionLabel", ref.ID, reason)
		}},
		{Codes: []string{"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}, Kind: mounterr.Unauthenticated, Msg: func(ref Ref, reason string) string {
			return fmt.Sprintf("Secrets Manager did not accept the role credentials for %s (%s)", ref.ID, reason)
		}},
	},
}

// secretPattern is the resource pattern for a secret name or ARN.
func secretPattern(id string) string {
	if i := strings.Index(id, ":secret:"); i >= 0 {
		return id[i+len(":secret:"):]
	}
	return id
}
