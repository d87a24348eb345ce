package provider_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/kubefake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
)

const benchRole = "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role"

type fakeSTS struct{}

var _ identity.STSAPI = fakeSTS{}

func (fakeSTS) AssumeRoleWithWebIdentity(context.Context, *sts.AssumeRoleWithWebIdentityInput, ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return &sts.AssumeRoleWithWebIdentityOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIABENCH"), SecretAccessKey: aws.String("bench"), SessionToken: aws.String("bench"),
		Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

type fakeSM struct{ doc string }

var _ secrets.API = fakeSM{}

func (f fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{
		ARN:  aws.String("arn:aws:secretsmanager:eu-west-1:111122223333:secret:" + aws.ToString(in.SecretId) + "-AbCdEf"),
		Name: in.SecretId, VersionId: aws.String("a1b2c3d4-0000-4000-8000-000000000001"), SecretString: aws.String(f.doc),
	}, nil
}

func pmpDocument(b *testing.B) string {
	b.Helper()
	doc, _ := pmp.Document(func(name string) string { return fmt.Sprintf("%-48s", "value-of-"+name) })
	return doc
}

// BenchmarkMountCached is a republish: the pipeline after parsing, with the
// role, the credentials and the secret in the caches (AWS and the
// Kubernetes API are in-process fakes, never called after the first Mount).
func BenchmarkMountCached(b *testing.B) {
	kube := fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: "pmp", Name: "pmp-secrets-access", Annotations: map[string]string{identity.RoleAnnotation: benchRole},
	}})
	policy := awsretry.DefaultPolicy
	p := &provider.Provider{
		Audience:      "sts.amazonaws.com",
		DefaultRegion: "eu-west-1",
		Kube:          identity.NewKube(kubefake.New(kube), "", time.Hour, 64),
		Credentials:   identity.NewCredentials(fakeSTS{}, identity.CredentialsConfig{Retry: policy, RefreshLead: 5 * time.Minute, Caching: true, MaxEntries: 64}),
		Secrets:       secrets.NewFetcher(fakeSM{doc: pmpDocument(b)}, secrets.Config{Retry: policy, TTL: time.Hour, MaxEntries: 64}),
	}
	req := &params.Request{
		Pod:                 params.Pod{Name: "pmp-0", Namespace: "pmp", UID: "uid", ServiceAccount: "pmp-secrets-access"},
		SecretProviderClass: "pmp-credentials",
		Region:              "eu-west-1",
		Objects:             []params.Object{{Name: "PMP-Production-Credentials", Mode: 0o440}},
		Mode:                0o644,
		Tokens:              map[string]params.Token{"sts.amazonaws.com": {Value: "eyJhbGciOiJSUzI1NiJ9.bench.c2ln"}},
	}
	ctx := context.Background()
	if _, err := p.Mount(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Mount(ctx, req)
		if err != nil || len(res.Files) != 30 {
			b.Fatalf("Mount: %v", err)
		}
	}
}
