package awscalls_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awscalls"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// clients are the provider's two AWS clients, built from the provider's
// own shared configuration pointed at endpoint, and instrumented.
type clients struct {
	reg *prometheus.Registry
	sts *sts.Client
	sm  *secretsmanager.Client
}

func newClients(t *testing.T, endpoint string) clients {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := provider.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := awscalls.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Instrument(&cfg)
	return clients{reg: reg, sts: sts.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg)}
}

var podCreds = func(o *secretsmanager.Options) {
	o.Credentials = credentials.NewStaticCredentialsProvider("ASIAEXAMPLE", "secret", "session")
}

func (c clients) getSecret(ctx context.Context) error {
	_, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("PMP-Production-Credentials")}, podCreds)
	return err
}

func (c clients) assume(ctx context.Context) error {
	_, err := c.sts.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/PMP"), RoleSessionName: aws.String("pmp-ns-sa"),
		WebIdentityToken: aws.String("eyJhbGciOiJSUzI1NiJ9.TOKEN-SENTINEL.sig"),
	})
	return err
}

// front answers with injected faults only: its upstream is never reached.
func front(t *testing.T) (*awsemu.Front, string) {
	t.Helper()
	f := awsemu.NewFront(&url.URL{Scheme: "http", Host: "127.0.0.1:1"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func requests(t *testing.T, c clients, service, op, outcome, code string) float64 {
	t.Helper()
	return promtest.Value(t, c.reg, "pmp_aws_requests_total", "service", service, "operation", op, "outcome", outcome, "code", code)
}

func TestAWSCallsCountedByOutcomeAndCode(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		code          string
		outcome, want string
	}{
		{"denied", 400, "AccessDeniedException", retry.OutcomeClientError, "AccessDeniedException"},
		{"not found", 400, "ResourceNotFoundException", retry.OutcomeClientError, "ResourceNotFoundException"},
		{"throttled with a 400", 400, "ThrottlingException", retry.OutcomeThrottled, "ThrottlingException"},
		{"throttled with a 429", 429, "TooManyRequestsException", retry.OutcomeThrottled, "TooManyRequestsException"},
		{"unavailable", 503, "ServiceUnavailable", retry.OutcomeServerError, "ServiceUnavailable"},
		{"internal error", 500, "InternalServiceError", retry.OutcomeServerError, "InternalServiceError"},
		{"a code we do not know", 400, "BrandNewException", retry.OutcomeClientError, awscalls.OtherCode},
		{"a code that would be unbounded", 400, "eyJhbGciOiJSUzI1NiJ9.TOKEN-SENTINEL", retry.OutcomeClientError, awscalls.OtherCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, endpoint := front(t)
			c := newClients(t, endpoint)
			f.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: tc.status, Code: tc.code})
			if err := c.getSecret(context.Background()); err == nil {
				t.Fatal("no error")
			}
			if got := requests(t, c, "Secrets Manager", "GetSecretValue", tc.outcome, tc.want); got != 1 {
				t.Errorf("pmp_aws_requests_total{outcome=%q,code=%q} = %v, want 1; series: %v", tc.outcome, tc.want, got, promtest.Labels(t, c.reg))
			}
		})
	}
}

func TestSTSCallsCountedUnderTheirService(t *testing.T) {
	f, endpoint := front(t)
	c := newClients(t, endpoint)
	f.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 400, Code: "InvalidIdentityToken"})
	if err := c.assume(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if got := requests(t, c, "STS", "AssumeRoleWithWebIdentity", retry.OutcomeClientError, "InvalidIdentityToken"); got != 1 {
		t.Errorf("series: %v", promtest.Labels(t, c.reg))
	}
}

func TestAWSCallsWithoutAnAnswer(t *testing.T) {
	t.Run("network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now: connection refused
		c := newClients(t, "http://"+addr)
		if err := c.getSecret(context.Background()); err == nil {
			t.Fatal("no error")
		}
		if got := requests(t, c, "Secrets Manager", "GetSecretValue", retry.OutcomeNetwork, ""); got != 1 {
			t.Errorf("series: %v", promtest.Labels(t, c.reg))
		}
	})
	hung := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() { // accepts, never answers
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { conn.Close() })
			}
		}()
		return "http://" + ln.Addr().String()
	}
	t.Run("timeout", func(t *testing.T) {
		c := newClients(t, hung(t))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := c.getSecret(ctx); err == nil {
			t.Fatal("no error")
		}
		if got := requests(t, c, "Secrets Manager", "GetSecretValue", retry.OutcomeTimeout, ""); got != 1 {
			t.Errorf("series: %v", promtest.Labels(t, c.reg))
		}
	})
	t.Run("canceled", func(t *testing.T) {
		c := newClients(t, hung(t))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := c.getSecret(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if got := requests(t, c, "Secrets Manager", "GetSecretValue", retry.OutcomeCanceled, ""); got != 1 {
			t.Errorf("series: %v", promtest.Labels(t, c.reg))
		}
	})
}

// Each attempt of Do is one call; every attempt after the first is a retry.
func TestRetriesCounted(t *testing.T) {
	f, endpoint := front(t)
	c := newClients(t, endpoint)
	f.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "ThrottlingException", Times: 2})
	f.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException"})
	p := retry.Policy{Budget: 5 * time.Second, AttemptTimeout: time.Second, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	if err := retry.Do(context.Background(), p, c.getSecret); err == nil {
		t.Fatal("no error")
	}
	for _, s := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pmp_aws_retries_total", []string{"service", "Secrets Manager", "operation", "GetSecretValue"}, 2},
		{"pmp_aws_requests_total", []string{"service", "Secrets Manager", "operation", "GetSecretValue", "outcome", "throttled", "code", "ThrottlingException"}, 2},
		{"pmp_aws_requests_total", []string{"service", "Secrets Manager", "operation", "GetSecretValue", "outcome", "client_error", "code", "AccessDeniedException"}, 1},
	} {
		if got := promtest.Value(t, c.reg, s.name, s.labels...); got != s.want {
			t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
}

func TestAWSCallsCountedOK(t *testing.T) {
	a := awsemu.Start(t)
	if _, err := a.Admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("PMP-Production-Credentials"), SecretString: aws.String(`{"a":"b"}`),
	}); err != nil {
		t.Fatal(err)
	}
	c := newClients(t, a.Endpoint)
	if err := c.getSecret(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := requests(t, c, "Secrets Manager", "GetSecretValue", retry.OutcomeOK, ""); got != 1 {
		t.Errorf("series: %v", promtest.Labels(t, c.reg))
	}
	if got := promtest.Value(t, c.reg, "pmp_aws_retries_total", "service", "Secrets Manager", "operation", "GetSecretValue"); got != 0 {
		t.Errorf("retries = %v for a first attempt", got)
	}
}
