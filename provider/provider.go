// Package provider is the Mount pipeline: parsed request -> pod identity ->
// the objects in batches, each read by its type's backend (backends.go)
// through provider/fetch -> files. It is all or nothing: any failing object
// fails the whole Mount and no file is returned.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/tokens"
)

// Provider serves Mounts. Build it with New (the binary) or NewFromAPIs
// (tests, with fakes at the edges).
type Provider struct {
	tokenAudience string
	// tokens verifies every Mount's token before anything is read or
	// served for it.
	tokens *tokens.Verifier
	// defaultRegion is used when the SecretProviderClass sets none
	// (AWS_REGION); the node's region label is the last resort.
	defaultRegion string
	kube          *identity.Kube
	credentials   *identity.Credentials
	// fetchers read each object type's objects (backends.go), with
	// retries, caching, stale-if-error and failover.
	fetchers map[params.ObjectType]*fetch.Fetcher
	// retryBudget bounds a whole Mount, all objects and retries included,
	// so it ends well before the kubelet's 2-minute deadline.
	retryBudget time.Duration

	// catalogChecked are the secret versions checked against the PMP
	// catalog (unknownkeys.go). Holds nothing identity-specific: keyed by
	// secret version, it only stops a log line (which names no reader and
	// says the same of a version whoever reads it) being said again;
	// nothing in it reaches a Mount.
	catalogChecked versionSet
	// podIdentityShared keeps EKS Pod Identity credentials and reads per
	// service account, not per pod (--pod-identity-share-by-service-account).
	podIdentityShared bool
}

const (
	// MaxResponseBytes bounds a Mount's answer, well under the 4 MiB the
	// driver receives (it logs a warning over 1 MiB): every file's path
	// (twice: the file and its object version), contents and version.
	MaxResponseBytes = 3 << 20
	// fileOverheadBytes is a file's and its version's protobuf framing,
	// generously.
	fileOverheadBytes = 32
)

// Version is the version of one returned file, from non-secret data.
type Version struct {
	ID      string
	Version string
}

// Result is a successful Mount.
type Result struct {
	Files []files.File
	// Versions are the files' versions; nil when Memo is done: the
	// response built from them is kept there.
	Versions []Version
	// Identity is who the secrets were read as, for logs.
	Identity identity.Identity
	// Memo, when not nil, is the slot of the cached selection these files
	// and versions are exactly (a Mount of one object, not decoded): the
	// server keeps the response it builds from them there. Every Mount
	// with the same Memo returns the same files and versions.
	Memo *object.Memo
	// Skipped are the optional objects and jmesPath entries left out
	// because they do not exist, in the order of the objects parameter.
	Skipped []Skip
}

// Skip is an optional object, or an optional jmesPath entry of an object,
// that a Mount left out because it does not exist: the secret, parameter
// or version in the object's region, or a value at the entry's path. It
// names them, never a value.
type Skip struct {
	// Object is the objects entry's objectName, Noun what it names
	// ("secret", "parameter").
	Object, Noun string
	// JMESPath is the index of the jmesPath entry left out, and Alias its
	// objectAlias; -1 when the whole object was.
	JMESPath int
	Alias    string
}

func (s Skip) String() string {
	if s.JMESPath < 0 {
		return s.Noun + " " + s.Object
	}
	return fmt.Sprintf("jmesPath[%d] (objectAlias %s) of %s %s", s.JMESPath, s.Alias, s.Noun, s.Object)
}

// Mount resolves the pod's identity, fetches every object and builds the
// volume's files. On failure the result, when not nil, holds no file: only
// the identity as far as it was resolved, for the log line.
func (p *Provider) Mount(ctx context.Context, req *params.Request) (*Result, error) {
	mctx, cancel := context.WithTimeout(ctx, p.retryBudget)
	defer cancel()
	res, err := p.mount(mctx, req)
	if err != nil && mounterr.KindOf(err) == mounterr.Internal && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// The budget ran out while a call was still waiting, before its
		// retries could say what failed.
		err = &mounterr.Error{Kind: mounterr.Transient, Err: err, Msg: fmt.Sprintf(
			"no answer in time from AWS or the Kubernetes API within the Mount's %s (--retry-budget; each AWS call gets --aws-call-timeout); this is transient: the kubelet retries the mount",
			p.retryBudget)}
	}
	if err != nil && res != nil {
		res.Files, res.Versions, res.Memo, res.Skipped = nil, nil, nil, nil
	}
	return res, err
}

func (p *Provider) mount(ctx context.Context, req *params.Request) (*Result, error) {
	audience := p.tokenAudience
	if req.PodIdentity {
		audience = identity.PodIdentityAudience
	}
	token, ok := req.Tokens[audience]
	if !ok {
		return nil, mounterr.New(mounterr.Unauthenticated,
			"the driver passed no service account token for audience %q: set tokenRequests: [{audience: %q}] on the CSIDriver secrets-store.csi.k8s.io (helm: --set tokenRequests[0].audience=%s)",
			audience, audience, audience)
	}
	// Before any cache or AWS call: a cached secret is served only to a
	// Mount whose token proves it is the pod it names.
	bound, err := p.tokens.VerifyBound(ctx, token.Value, audience, tokens.Pod(req.Pod))
	if err != nil {
		return nil, err
	}
	own := identity.Identity{Namespace: req.Pod.Namespace, ServiceAccount: req.Pod.ServiceAccount}
	if req.PodIdentity {
		// The association decides the role; an IRSA annotation is not read.
		own.Source, own.Address = identity.PodIdentity, req.AddressType
		if bound && !p.podIdentityShared {
			// The agent tags the session with the pod the token names (and
			// the token is proven to name this one): kept per pod.
			own.PodUID = req.Pod.UID
		}
	} else {
		role, err := p.kube.RoleARN(ctx, req.Pod.Namespace, req.Pod.ServiceAccount)
		if err != nil {
			return nil, err
		}
		own.RoleARN = role
	}
	res := &Result{Identity: own}
	if res.Identity.Region, err = p.region(ctx, req); err != nil {
		return res, err
	}

	var pl plan
	planOf(req, res.Identity, &pl)
	room := files.PathRoom(req.TargetPath)
	size := 0
	for i, obj := range req.Objects {
		at := pl.at[i]
		b := &pl.batches[at.batch]
		if b.versions == nil {
			if err := p.read(ctx, req, &obj, res.Identity, token.Value, b); err != nil {
				return res, err
			}
		}
		fetched := b.versions[at.item]
		if fetched == nil { // optional, and it does not exist
			res.Skipped = append(res.Skipped, Skip{Object: obj.Name, Noun: noun(obj), JMESPath: -1})
			continue
		}
		mode := req.Mode
		if obj.Mode != 0 {
			mode = obj.Mode
		}
		out, memo, err := objectFiles(obj, fetched, mode, req.PathTranslation)
		if err != nil {
			return res, err
		}
		selected, err := jmesPathFiles(obj, fetched, mode, &res.Skipped)
		if err != nil {
			return res, err
		}
		if len(selected) > 0 {
			out = append(slices.Clip(out), selected...) // out may be shared by the version's selections
			memo = nil                                  // the selection's response lacks the jmesPath files
		}
		p.warnUnknownKeys(obj, fetched)
		for _, f := range out {
			if len(f.Path) > room {
				return res, mounterr.New(mounterr.Invalid,
					"objects entry %s: the file %s is %d bytes long; under the volume's directory and the driver's ..<timestamp>/ directory it would pass Linux's %d-byte path limit, which leaves room for %d: use a shorter objectAlias, select fewer keys, or layout: dotted",
					obj.Name, mounterr.Quote(f.Path), len(f.Path), files.MaxPathBytes, room)
			}
			// The response holds each path twice: the file and its version.
			size += 2*len(f.Path) + len(f.Contents) + len(fetched.VersionID) + fileOverheadBytes
		}
		if size > MaxResponseBytes {
			return res, mounterr.New(mounterr.Invalid,
				"objects entry %s: with it the volume's files would be over %d bytes, too close to the driver's 4 MiB message limit: select fewer keys, or mount the objects in several volumes",
				obj.Name, MaxResponseBytes)
		}
		if len(req.Objects) == 1 {
			// The usual Mount: its files as the selection keeps them (read
			// only, shared), not copied.
			res.Files, res.Memo = out, memo
			if memo != nil && memo.Done() {
				continue // the response for these files is built: no versions needed
			}
		} else {
			res.Files = append(res.Files, out...)
		}
		res.Versions = slices.Grow(res.Versions, len(out))
		for _, f := range out {
			res.Versions = append(res.Versions, Version{ID: f.Path, Version: fetched.VersionID})
		}
	}
	if err := files.CheckVolume(res.Files); err != nil {
		return res, mounterr.New(mounterr.Invalid, "SecretProviderClass %q: %v", req.SecretProviderClass, err)
	}
	if len(res.Files) == 0 {
		return res, noFiles(req, res.Skipped)
	}
	// One object's files come sorted (object.Version.Select); several objects'
	// are sorted here.
	if !slices.IsSortedFunc(res.Files, func(a, b files.File) int { return strings.Compare(a.Path, b.Path) }) {
		slices.SortFunc(res.Files, func(a, b files.File) int { return strings.Compare(a.Path, b.Path) })
		slices.SortFunc(res.Versions, func(a, b Version) int { return strings.Compare(a.ID, b.ID) })
	}
	return res, nil
}

// noFiles is the failure of a Mount that selected no file, having left
// out skipped. The driver refuses a Mount with no file (it needs one
// object version at least): a volume whose every object is optional and
// missing fails, as one object that is not optional and missing does.
func noFiles(req *params.Request, skipped []Skip) error {
	names := make([]string, len(skipped))
	objects := 0
	for i, s := range skipped {
		names[i] = s.String()
		if s.JMESPath < 0 {
			objects++
		}
	}
	if objects == len(req.Objects) {
		return mounterr.New(mounterr.NotFound,
			"SecretProviderClass %q mounts nothing: none of its objects exists, and all are optional (%s); a volume needs one file at least: create one of them, or check the names and the region",
			req.SecretProviderClass, strings.Join(names, ", "))
	}
	also := ""
	if len(names) > 0 {
		also = " (optional and missing, left out: " + strings.Join(names, ", ") + ")"
	}
	return mounterr.New(mounterr.NotFound,
		"SecretProviderClass %q selects no credential with a value%s: fill in the secret's values, or set keepEmpty: true to mount empty ones", req.SecretProviderClass, also)
}

// sameRegion refuses an object read in region when region is the
// failoverRegion: a region the Mount found (AWS_REGION, the node's
// label), not one the SecretProviderClass names (params refuses those).
func sameRegion(req *params.Request, obj *params.Object, region string) error {
	if region != req.FailoverRegion {
		return nil
	}
	return mounterr.New(mounterr.Invalid,
		"objects entry %s is read in region %s (the provider's AWS_REGION or the node's topology.kubernetes.io/region label), which is the failoverRegion: set the SecretProviderClass parameter region to the objects' primary region, or name another failoverRegion",
		obj.Name, region)
}

// Target is the role obj is read as, assumed with the pod's own
// credentials: the object's assumeRoleArn, else the SecretProviderClass's.
func Target(req *params.Request, obj params.Object) identity.Target {
	a := obj.AssumeRole
	if a.RoleARN == "" {
		a = req.AssumeRole
	}
	return identity.Target{RoleARN: a.RoleARN, ExternalID: a.ExternalID, Duration: a.Duration}
}

// podCredentials are one identity's credentials, exchanged for the pod's
// token, for the fetch of one object.
type podCredentials struct {
	c     *identity.Credentials
	id    identity.Identity
	token string
}

func (p podCredentials) Get(ctx context.Context) (aws.Credentials, bool, error) {
	return p.c.Get(ctx, p.id, p.token)
}

func (p podCredentials) Renew(ctx context.Context, rejected aws.Credentials) (aws.Credentials, error) {
	return p.c.Renew(ctx, p.id, p.token, rejected)
}

// DefaultRegion is the region used when the SecretProviderClass names none
// (AWS_REGION); empty: the node's region label is read instead.
func (p *Provider) DefaultRegion() string { return p.defaultRegion }

// PodCredentials are id's credentials exchanged for token, as a Mount
// passes them to its reads (for doctor; see Credentials).
func (p *Provider) PodCredentials(id identity.Identity, token string) identity.PodCredentials {
	return podCredentials{c: p.credentials, id: id, token: token}
}

// Credentials is the pipeline's STS stage, for doctor, which runs the
// stages one by one to say which link of the IRSA chain breaks.
func (p *Provider) Credentials() *identity.Credentials { return p.credentials }

// Read reads one object of type t alone, in id's region as id, with the
// pod's token, through the pipeline's own fetch stage and cache (for
// doctor, which reads each object to say which one a role may not read;
// see Credentials).
func (p *Provider) Read(ctx context.Context, t params.ObjectType, id identity.Identity, token string, ref backend.Ref) (*object.Version, error) {
	got, err := p.fetchers[t].Fetch(ctx, id.Key(), fetch.Batch{Region: id.Region, Items: []fetch.Item{{Ref: ref}},
		Credentials: podCredentials{c: p.credentials, id: id, token: token}})
	if err != nil {
		return nil, err
	}
	return got[0], nil
}

// CacheStats returns the counters of the provider's caches, by name: each
// backend's ("secrets", "parameters"), "credentials" and "roles".
func (p *Provider) CacheStats() map[string]cache.Stats {
	out := map[string]cache.Stats{
		"credentials": p.credentials.Stats(),
		"roles":       p.kube.Stats(),
	}
	for _, f := range p.fetchers {
		out[f.Info().Cache] = f.Stats()
	}
	return out
}

// FailoverServed returns, by service ("Secrets Manager", "SSM"), how many
// reads of objects with a failoverRegion the failover region served
// because the object's own region was out.
func (p *Provider) FailoverServed() map[string]int64 {
	out := make(map[string]int64, len(p.fetchers))
	for _, f := range p.fetchers {
		out[f.Info().Service] = f.FailoverServed()
	}
	return out
}

func (p *Provider) region(ctx context.Context, req *params.Request) (string, error) {
	if req.Region != "" {
		return req.Region, nil
	}
	if p.defaultRegion != "" {
		return p.defaultRegion, nil
	}
	r, err := p.kube.NodeRegion(ctx)
	var none *identity.NoRegionError
	if errors.As(err, &none) {
		return "", mounterr.New(mounterr.Invalid,
			"no AWS region: set the SecretProviderClass parameter region, or AWS_REGION on the provider (%s)", none.Reason)
	}
	return r, err // a transient API failure stays transient: the kubelet retries
}

// objectFiles builds one object's files from its secret, with the Memo of
// the cached selection when the files are exactly its files.
func objectFiles(obj params.Object, s *object.Version, mode fs.FileMode, translation string) ([]files.File, *object.Memo, error) {
	if obj.Flatten == params.FlattenOff {
		out, err := whole(obj, s, mode, translation)
		return out, nil, err
	}
	entries, err := s.Entries()
	if errors.Is(err, flatten.ErrNotObject) {
		if obj.Flatten == params.FlattenAuto && len(obj.Keys) == 0 && !obj.StrictKeys {
			out, err := whole(obj, s, mode, translation)
			return out, nil, err
		}
		return nil, nil, mounterr.New(mounterr.Invalid,
			"objects entry %s splits %s %s into keys (flatten: true, keys or strictKeys), but %v: store a JSON object such as the PMP template, or set flatten: false and remove keys and strictKeys",
			obj.Name, noun(obj), s.Name, err)
	}
	if errors.Is(err, flatten.ErrInvalidJSON) {
		return nil, nil, mounterr.New(mounterr.Invalid, "%s %s: %v: fix the JSON, or set flatten: false to mount the value as one file", noun(obj), s.Name, err)
	}
	if err != nil {
		return nil, nil, mounterr.New(mounterr.Invalid, "%s %s cannot be split into files: %v", noun(obj), s.Name, err)
	}
	if err := strictKeys(obj, s, entries); err != nil {
		return nil, nil, err
	}
	out, memo, err := s.SelectMemo(files.Selection{Dir: obj.Alias, Keys: obj.Keys, Layout: obj.Layout, KeepEmpty: obj.KeepEmpty, Mode: mode})
	var noMatch *files.NoMatchError
	switch {
	case errors.As(err, &noMatch):
		return nil, nil, mounterr.New(mounterr.NotFound, "%s %s: %v (empty values count as missing unless keepEmpty: true)", noun(obj), s.Name, err)
	case err != nil:
		return nil, nil, mounterr.New(mounterr.Invalid, "%s %s: %v", noun(obj), s.Name, err)
	}
	if obj.Decode != params.DecodeNone {
		out, err := decodeFiles(obj, s, out)
		return out, nil, err
	}
	return out, memo, nil
}

func whole(obj params.Object, s *object.Version, mode fs.FileMode, translation string) ([]files.File, error) {
	if len(s.Value) == 0 && !obj.KeepEmpty {
		return nil, mounterr.New(mounterr.NotFound, "%s %s has an empty value: store a value, or set keepEmpty: true", noun(obj), s.Name)
	}
	value, ok := decodeValue(obj.Decode, s.Value)
	if !ok {
		return nil, mounterr.New(mounterr.Invalid,
			"objects entry %s: the value of %s %s is not valid %s (decode: %s): store it %s-encoded, or remove decode",
			obj.Name, noun(obj), s.Name, decodeName(obj.Decode), decodeName(obj.Decode), decodeName(obj.Decode))
	}
	f, err := files.Whole(obj.FileName(translation), value, mode)
	if err != nil {
		return nil, mounterr.New(mounterr.Invalid, "objects entry %s: %v", obj.Name, err)
	}
	return []files.File{f}, nil
}

// noun is what an object is read from, for messages.
func noun(obj params.Object) string { return Backend(obj.Type).Noun }

// backendRef is the ref of an object's name, version and label.
func backendRef(name, version, label string) backend.Ref {
	return backend.Ref{Name: name, Version: version, Label: label}
}
