package awsemu

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// AWS is a running emulator and its front.
type AWS struct {
	// Endpoint is the front's URL: point AWS_ENDPOINT_URL here.
	Endpoint string
	// EmulatorEndpoint is kumo's own URL, bypassing the front.
	EmulatorEndpoint string
	Front            *Front
	// Admin is a Secrets Manager client for seeding and rotating, straight
	// to the emulator so it is not counted.
	Admin *secretsmanager.Client
	// SSM is a Parameter Store client for seeding parameters, straight to
	// the emulator.
	SSM *ssm.Client

	srv *httptest.Server
}

// DropConnections closes every connection to the front, as a load
// balancer does to idle ones: clients' pools of kept-alive connections
// empty, so a test can count what a client holds beyond them.
func (a *AWS) DropConnections() { a.srv.CloseClientConnections() }

// Start starts kumo on a free loopback port and a front before it, both
// stopped when the test ends. Without KUMO_BIN the test is skipped with a
// line saying how to run it (make test).
func Start(t testing.TB) *AWS {
	t.Helper()
	if _, err := Binary(); errors.Is(err, ErrNoEmulator) {
		t.Skip(err)
	}
	emu, err := StartEmulator()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	up, _ := url.Parse(emu.Endpoint)
	front := NewFront(up)
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return &AWS{Endpoint: srv.URL, EmulatorEndpoint: emu.Endpoint, Front: front, Admin: AdminClient(emu.Endpoint), SSM: SSMClient(emu.Endpoint), srv: srv}
}

// Region is a second region's emulator behind the same front.
type Region struct {
	Name string
	// EmulatorEndpoint is this region's kumo, bypassing the front.
	EmulatorEndpoint string
	// Admin and SSM seed this region's secrets and parameters, straight
	// to its emulator.
	Admin *secretsmanager.Client
	SSM   *ssm.Client
}

// AddRegion starts another kumo for region, stopped when the test ends,
// and has the front send it every call signed for region: a secret
// created through Admin exists in that region only, with an ARN that
// names it, as a replica in a failover region does.
func (a *AWS) AddRegion(t testing.TB, region string) *Region {
	t.Helper()
	emu, err := StartEmulatorIn(region)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	up, _ := url.Parse(emu.Endpoint)
	a.Front.Route(region, up)
	return &Region{Name: region, EmulatorEndpoint: emu.Endpoint, Admin: AdminClientIn(emu.Endpoint, region), SSM: SSMClientIn(emu.Endpoint, region)}
}

// AdminClient is a Secrets Manager client with dummy credentials for
// seeding and rotating secrets in the emulator at endpoint.
func AdminClient(endpoint string) *secretsmanager.Client { return AdminClientIn(endpoint, "us-east-1") }

// AdminClientIn is AdminClient signing for region.
func AdminClientIn(endpoint, region string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// SSMClient is a Parameter Store client with dummy credentials for seeding
// parameters in the emulator at endpoint.
func SSMClient(endpoint string) *ssm.Client { return SSMClientIn(endpoint, "us-east-1") }

// SSMClientIn is SSMClient signing for region.
func SSMClientIn(endpoint, region string) *ssm.Client {
	return ssm.New(ssm.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// UseFrom points the AWS SDK of this process at the front, the way a user
// points the provider at a VPC endpoint, and keeps the test off IMDS.
func (a *AWS) UseFrom(t testing.TB, region string) {
	t.Setenv("AWS_ENDPOINT_URL", a.Endpoint)
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// PutSecret creates or rotates a secret with admin and returns the new
// version id.
func PutSecret(t testing.TB, admin *secretsmanager.Client, name, value string) string {
	t.Helper()
	ctx := context.Background()
	out, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err == nil {
		return aws.ToString(out.VersionId)
	}
	put, perr := admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if perr != nil {
		t.Fatalf("create %s: %v; put: %v", name, err, perr)
	}
	return aws.ToString(put.VersionId)
}

// PutBinary creates or rotates a secret with admin whose value is
// SecretBinary.
func PutBinary(t testing.TB, admin *secretsmanager.Client, name string, value []byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretBinary: value}); err == nil {
		return
	}
	if _, err := admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretBinary: value}); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

// PutSecretIn is PutSecret with an admin client signing for region, as a
// test whose callers name that region seeds the emulator.
func (a *AWS) PutSecretIn(t testing.TB, region, name, value string) string {
	t.Helper()
	return PutSecret(t, AdminClientIn(a.EmulatorEndpoint, region), name, value)
}
