// Package backend is what the Mount pipeline reads objects through: one
// Reader per object type (Secrets Manager secrets, Parameter Store
// parameters), which makes the service's read call for a batch of objects,
// and its Info, which says what the pipeline, the caches, doctor and
// policy need to know of it. provider/fetch gives every Reader its
// retries, caching, coalescing, stale-if-error and failover; a backend
// implements only the call. The backends are registered in one place,
// provider/backends.go.
package backend

import (
	"cmp"
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// Ref names one object version to read.
type Ref struct {
	// Name is the object's name or ARN.
	Name string
	// Version (a version id or number) or Label (a staging label or
	// label) selects a version; both empty: the current one. The parser
	// refuses both set.
	Version, Label string
}

// Selector is r as Parameter Store's GetParameters takes it, and as the
// refs of a batch are ordered: name, name:version or name:label.
func (r Ref) Selector() string {
	switch {
	case r.Version != "":
		return r.Name + ":" + r.Version
	case r.Label != "":
		return r.Name + ":" + r.Label
	}
	return r.Name
}

// Compare orders refs as their selectors sort, without building them: the
// order of the refs of a batch, and so of the batches of many refs.
func Compare(a, b Ref) int {
	if c := compareJoined(a.Name, a.suffix(), b.Name, b.suffix()); c != 0 {
		return c
	}
	// Equal selectors (the parser keeps Version and Label apart): the rest.
	return cmp.Or(strings.Compare(a.Version, b.Version), strings.Compare(a.Label, b.Label))
}

func (r Ref) suffix() string {
	switch {
	case r.Version != "":
		return r.Version
	case r.Label != "":
		return r.Label
	}
	return ""
}

// compareJoined compares a1[:a2] with b1[:b2] (":" and the second part
// when it is not empty), byte by byte.
func compareJoined(a1, a2, b1, b2 string) int {
	at := func(s1, s2 string, i int) (byte, bool) {
		if i < len(s1) {
			return s1[i], true
		}
		if s2 == "" {
			return 0, false
		}
		i -= len(s1)
		if i == 0 {
			return ':', true
		}
		if i-1 < len(s2) {
			return s2[i-1], true
		}
		return 0, false
	}
	for i := 0; ; i++ {
		x, okA := at(a1, a2, i)
		y, okB := at(b1, b2, i)
		switch {
		case !okA && !okB:
			return 0
		case !okA:
			return -1
		case !okB:
			return 1
		case x != y:
			return cmp.Compare(x, y)
		}
	}
}

// MissingError is the cause of a read's NotFound failure when the service
// answered that some of its refs do not exist in Region: a secret that
// does not exist (Secrets Manager's ResourceNotFoundException), a
// parameter, version or label GetParameters lists as invalid. It names
// exactly those refs, so an optional object among them can be left out;
// a NotFound without it (a secret scheduled for deletion, a missing
// parameter the service did not name) is never read as an absence.
type MissingError struct {
	Region string
	// Refs are the refs that do not exist, in the order of the read's refs.
	Refs []Ref
	// Err is the service's answer, when it was an error.
	Err error
}

func (e *MissingError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	names := make([]string, len(e.Refs))
	for i, r := range e.Refs {
		names[i] = r.Selector()
	}
	return strings.Join(names, ", ") + " not found in " + e.Region
}

func (e *MissingError) Unwrap() error { return e.Err }

// Reader reads objects of one type from one service.
type Reader interface {
	// Read reads refs (sorted by Compare, none twice, at most the
	// backend's Info.Batch of them) in region with creds: one call, no
	// retries (the caller retries transient failures, renewing refused
	// credentials). It returns one version per ref, in the order of refs;
	// each new, not shared. All or nothing: a ref that is missing fails
	// the whole read. The error is the service's own, for the caller to
	// retry and Explain, or a *mounterr.Error the backend decided (a
	// missing object, a value over object.MaxValueBytes), returned as it
	// is. Objects that do not exist fail it with a NotFound whose cause
	// is a *MissingError naming them.
	Read(ctx context.Context, region string, refs []Ref, creds aws.Credentials) ([]*object.Version, error)
	// Explain says how err, the service's failure of a Read of refs in
	// region after the caller's retries, reads in the pod's events: what
	// was refused or missing, and which setting or policy to fix. An
	// answer that refs do not exist is a NotFound whose cause is a
	// *MissingError naming them.
	Explain(region string, refs []Ref, err error) *mounterr.Error
}

// Info is what the pipeline and the tools know of a backend. A backend
// keeps one, and provider/backends.go registers it with its Reader.
type Info struct {
	// Service is the service in logs and metrics ("Secrets Manager",
	// "SSM"): failover's log lines and pmp_failover_served_total.
	Service string
	// Name is the service in messages: "Secrets Manager", "Parameter Store".
	Name string
	// Noun is what one object is called in messages: "secret", "parameter".
	Noun string
	// Cache names the backend's cache in the provider's cache stats and
	// pmp_cache_*{cache=...}: "secrets", "parameters".
	Cache string
	// Batch is the most refs one Read takes, at most MaxBatch: 1 for
	// GetSecretValue, 10 for GetParameters.
	Batch int
	// Call is the service call a Mount makes: "GetSecretValue".
	Call string
	// Actions are the IAM actions a role needs on an object of this type,
	// as the permission policy doctor and policy name grants them.
	Actions []string
	// Resource is the IAM resource of the object name (not an ARN) in
	// region of account, in the partition: what policy writes.
	Resource func(partition, region, account, name string) string
	// What names the objects of a read for messages and logs: "secret
	// NAME", "parameters A, B".
	What func(refs []Ref) string
	// LogFields are the log key/values naming the objects of a read:
	// "secret", NAME.
	LogFields func(refs []Ref) []any
	// StaleLog is the line said, once per outage and read, when a read's
	// last good value starts being served past its freshness window.
	StaleLog string
	// Outage reports whether a failed read is the service failing, not
	// refusing: only then may a last good value answer it
	// (--stale-if-error), or the failover region (failoverRegion).
	Outage func(error) bool
}

// MaxBatch is the largest Info.Batch of any backend: the most refs one
// read, and so one cache key, holds.
const MaxBatch = 10

// Outage is the rule every backend of AWS follows: a transient failure
// that is AWS failing, not refusing (retry.Outage), or the Mount's
// budget ending while a call was still trying. A bug's failure (Internal)
// is not one.
func Outage(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return mounterr.KindOf(err) == mounterr.Transient && retry.Outage(err)
}
