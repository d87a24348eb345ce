package awsfake

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
)

// SM answers GetSecretValue from Versions (or with Out), unless told to
// fail, and records every call with its region and the caller's access key.
type SM struct {
	// Versions are the secrets' versions GetSecretValue looks up.
	Versions []Version
	// Out, when set, answers every call instead of Versions.
	Out *secretsmanager.GetSecretValueOutput
	// Err fails every call; Errs the calls for the secret IDs it holds;
	// CallErrs call i with CallErrs[i] (nil: go on).
	Err      error
	Errs     map[string]error
	CallErrs []error

	mu     sync.Mutex
	calls  []SMCall
	inputs []*secretsmanager.GetSecretValueInput
}

// Version is one version of a secret in SM.
type Version struct {
	ID        string // name or ARN, as objectName gives it
	VersionID string
	Stages    []string // AWSCURRENT when empty
	Value     string
	Binary    []byte
}

// SMCall is one GetSecretValue call.
type SMCall struct{ ID, VersionID, Stage, Region, AccessKey string }

// GetSecretValue records the call, then fails with CallErrs[i], Err or
// Errs[id], or
// answers with Out, or with the version of Versions the input names (the
// AWSCURRENT one when it names none), or fails with
// ResourceNotFoundException.
func (f *SM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	var o secretsmanager.Options
	for _, fn := range optFns {
		fn(&o)
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	id, version, stage := aws.ToString(in.SecretId), aws.ToString(in.VersionId), aws.ToString(in.VersionStage)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, SMCall{ID: id, VersionID: version, Stage: stage, Region: o.Region, AccessKey: creds.AccessKeyID})
	f.inputs = append(f.inputs, in)
	n := len(f.calls)
	if n <= len(f.CallErrs) && f.CallErrs[n-1] != nil {
		return nil, f.CallErrs[n-1]
	}
	if f.Err != nil {
		return nil, f.Err
	}
	if err := f.Errs[id]; err != nil {
		return nil, err
	}
	if f.Out != nil {
		return f.Out, nil
	}
	if version == "" && stage == "" {
		stage = "AWSCURRENT"
	}
	for _, v := range f.Versions {
		stages := v.Stages
		if len(stages) == 0 {
			stages = []string{"AWSCURRENT"}
		}
		if v.ID != id || (version != "" && v.VersionID != version) || (stage != "" && !slices.Contains(stages, stage)) {
			continue
		}
		name, arn := id, id
		if i := strings.Index(id, ":secret:"); i >= 0 {
			name = strings.TrimSuffix(id[i+len(":secret:"):], "-AbCdEf")
		} else {
			arn = "arn:aws:secretsmanager:" + o.Region + ":111122223333:secret:" + id + "-AbCdEf"
		}
		out := &secretsmanager.GetSecretValueOutput{ARN: aws.String(arn), Name: aws.String(name), SecretBinary: v.Binary}
		if v.VersionID != "" {
			out.VersionId = aws.String(v.VersionID)
		}
		if v.Binary == nil {
			out.SecretString = aws.String(v.Value)
		}
		return out, nil
	}
	return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
}

// Calls are the calls, in order.
func (f *SM) Calls() []SMCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallCount is how many calls there were.
func (f *SM) CallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// LastInput is the last call's input (nil: none).
func (f *SM) LastInput() *secretsmanager.GetSecretValueInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.inputs) == 0 {
		return nil
	}
	return f.inputs[len(f.inputs)-1]
}

// Regions are the regions the calls went to.
func (f *SM) Regions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var regions []string
	for _, c := range f.calls {
		regions = append(regions, c.Region)
	}
	return regions
}

// AccessKeys are the callers' access keys, in order.
func (f *SM) AccessKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for _, c := range f.calls {
		keys = append(keys, c.AccessKey)
	}
	return keys
}
