// Package awsfake holds fakes of the AWS APIs the provider calls (STS,
// Secrets Manager), for tests of faults the AWS emulator cannot produce
// and of exactly what was asked (both record every call), and of the
// credentials a read is made with (Creds).
package awsfake

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// STS exchanges any web identity token for credentials that expire in an
// hour, and lets any caller assume any role, unless told to fail.
//
// Access keys are numbered unless NamedKeys is set: ASIATEST<n> for the
// n-th AssumeRoleWithWebIdentity, ASIACHAIN<n>-<caller's key> for the n-th
// AssumeRole. With NamedKeys they are key-of-<session name> and
// key-of-<role>-as-<caller's key>.
type STS struct {
	// Err fails every AssumeRoleWithWebIdentity.
	Err error
	// NoCredentials answers AssumeRoleWithWebIdentity without credentials.
	NoCredentials bool
	// RoleErrs fails both operations for the role ARNs it holds.
	RoleErrs map[string]error
	// AssumeErr fails every AssumeRole; AssumeErrs the next ones, one per
	// call, before it (nil: succeed).
	AssumeErr  error
	AssumeErrs []error
	// NamedKeys names access keys after the session and role.
	NamedKeys bool

	mu        sync.Mutex
	calls     []STSCall
	exchanges []*sts.AssumeRoleWithWebIdentityInput
	assumed   []Assumed
}

// STSCall is one call STS answered.
type STSCall struct {
	Op                           string // "" for AssumeRoleWithWebIdentity
	Role, Session, Token, Region string // Token: the caller's access key for AssumeRole
	ExternalID                   string
	Duration                     int32
}

// Assumed is one AssumeRole call: its input, the caller's access key and
// the region it went to.
type Assumed struct {
	In             *sts.AssumeRoleInput
	Caller, Region string
}

// AssumeRoleWithWebIdentity records the call, then fails with Err or
// RoleErrs[role], or answers.
func (f *STS) AssumeRoleWithWebIdentity(_ context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	var o sts.Options
	for _, fn := range optFns {
		fn(&o)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	role := aws.ToString(in.RoleArn)
	f.calls = append(f.calls, STSCall{Role: role, Session: aws.ToString(in.RoleSessionName), Token: aws.ToString(in.WebIdentityToken), Region: o.Region})
	f.exchanges = append(f.exchanges, in)
	if f.Err != nil {
		return nil, f.Err
	}
	if err := f.RoleErrs[role]; err != nil {
		return nil, err
	}
	if f.NoCredentials {
		return &sts.AssumeRoleWithWebIdentityOutput{}, nil
	}
	key := fmt.Sprintf("ASIATEST%d", len(f.exchanges))
	if f.NamedKeys {
		key = "key-of-" + aws.ToString(in.RoleSessionName)
	}
	return &sts.AssumeRoleWithWebIdentityOutput{Credentials: credentials(key)}, nil
}

// AssumeRole records the call with the caller's access key, then fails
// with the next of AssumeErrs, AssumeErr or RoleErrs[role], or answers.
func (f *STS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	var o sts.Options
	for _, fn := range optFns {
		fn(&o)
	}
	caller, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	role := aws.ToString(in.RoleArn)
	f.calls = append(f.calls, STSCall{Op: "AssumeRole", Role: role, Session: aws.ToString(in.RoleSessionName), Token: caller.AccessKeyID, Region: o.Region,
		ExternalID: aws.ToString(in.ExternalId), Duration: aws.ToInt32(in.DurationSeconds)})
	f.assumed = append(f.assumed, Assumed{In: in, Caller: caller.AccessKeyID, Region: o.Region})
	if len(f.AssumeErrs) > 0 {
		err := f.AssumeErrs[0]
		f.AssumeErrs = f.AssumeErrs[1:]
		if err != nil {
			return nil, err
		}
	} else if f.AssumeErr != nil {
		return nil, f.AssumeErr
	}
	if err := f.RoleErrs[role]; err != nil {
		return nil, err
	}
	key := fmt.Sprintf("ASIACHAIN%d-%s", len(f.assumed), caller.AccessKeyID)
	if f.NamedKeys {
		key = "key-of-" + role + "-as-" + caller.AccessKeyID
	}
	return &sts.AssumeRoleOutput{Credentials: credentials(key)}, nil
}

func credentials(key string) *ststypes.Credentials {
	return &ststypes.Credentials{AccessKeyId: aws.String(key), SecretAccessKey: aws.String("secret"), SessionToken: aws.String("session"),
		Expiration: aws.Time(time.Now().Add(time.Hour))}
}

// Calls are both operations' calls, in order.
func (f *STS) Calls() []STSCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Exchanges is how many AssumeRoleWithWebIdentity calls there were.
func (f *STS) Exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.exchanges)
}

// LastExchange is the last AssumeRoleWithWebIdentity input (nil: none).
func (f *STS) LastExchange() *sts.AssumeRoleWithWebIdentityInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.exchanges) == 0 {
		return nil
	}
	return f.exchanges[len(f.exchanges)-1]
}

// ExchangeRegions are the regions the AssumeRoleWithWebIdentity calls went to.
func (f *STS) ExchangeRegions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var regions []string
	for _, c := range f.calls {
		if c.Op == "" {
			regions = append(regions, c.Region)
		}
	}
	return regions
}

// Assumed are the AssumeRole calls, in order.
func (f *STS) Assumed() []Assumed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.assumed)
}
