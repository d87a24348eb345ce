package provider

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// endpointVars are every variable that moves the provider's endpoints.
var endpointVars = []string{
	"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
	"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
}

// TestEndpointsResolveAsTheSDKDocuments: the provider's STS and Secrets
// Manager clients go where the SDK's documented variables say, read from
// the resolved request of each call; no call leaves the process.
func TestEndpointsResolveAsTheSDKDocuments(t *testing.T) {
	tests := []struct {
		name    string
		region  string
		env     map[string]string
		wantSTS string
		wantSM  string
		wantSSM string
		wantErr string // a part of both calls' error, instead of URLs
	}{
		{name: "regional defaults", region: "eu-west-1",
			wantSTS: "https://sts.eu-west-1.amazonaws.com", wantSM: "https://secretsmanager.eu-west-1.amazonaws.com", wantSSM: "https://ssm.eu-west-1.amazonaws.com"},
		{name: "FIPS", region: "eu-west-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"},
			wantSTS: "https://sts-fips.eu-west-1.amazonaws.com", wantSM: "https://secretsmanager-fips.eu-west-1.amazonaws.com", wantSSM: "https://ssm-fips.eu-west-1.amazonaws.com"},
		{name: "FIPS in us-east-1", region: "us-east-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"},
			wantSTS: "https://sts-fips.us-east-1.amazonaws.com", wantSM: "https://secretsmanager-fips.us-east-1.amazonaws.com", wantSSM: "https://ssm-fips.us-east-1.amazonaws.com"},
		{name: "FIPS in GovCloud", region: "us-gov-west-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"},
			wantSTS: "https://sts.us-gov-west-1.amazonaws.com", wantSM: "https://secretsmanager-fips.us-gov-west-1.amazonaws.com", wantSSM: "https://ssm.us-gov-west-1.amazonaws.com" /* GovCloud's regional SSM endpoint is its FIPS one, as STS's */},
		{name: "China partition", region: "cn-north-1",
			wantSTS: "https://sts.cn-north-1.amazonaws.com.cn", wantSM: "https://secretsmanager.cn-north-1.amazonaws.com.cn", wantSSM: "https://ssm.cn-north-1.amazonaws.com.cn"},
		{name: "AWS_ENDPOINT_URL for every service", region: "eu-west-1", env: map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
			wantSTS: "http://127.0.0.1:4566", wantSM: "http://127.0.0.1:4566", wantSSM: "http://127.0.0.1:4566"},
		{name: "a service's own variable wins over AWS_ENDPOINT_URL", region: "eu-west-1",
			env:     map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_STS": "https://sts.vpce.example.internal"},
			wantSTS: "https://sts.vpce.example.internal", wantSM: "http://127.0.0.1:4566", wantSSM: "http://127.0.0.1:4566"},
		{name: "one variable per service", region: "eu-west-1",
			env:     map[string]string{"AWS_ENDPOINT_URL_STS": "https://sts.vpce.example.internal", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://sm.vpce.example.internal"},
			wantSTS: "https://sts.vpce.example.internal", wantSM: "https://sm.vpce.example.internal", wantSSM: "https://ssm.eu-west-1.amazonaws.com"},
		{name: "SSM's variable moves only SSM", region: "eu-west-1", env: map[string]string{"AWS_ENDPOINT_URL_SSM": "https://ssm.vpce.example.internal"},
			wantSTS: "https://sts.eu-west-1.amazonaws.com", wantSM: "https://secretsmanager.eu-west-1.amazonaws.com", wantSSM: "https://ssm.vpce.example.internal"},
		{name: "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", region: "eu-west-1",
			env:     map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			wantSTS: "https://sts.eu-west-1.amazonaws.com", wantSM: "https://secretsmanager.eu-west-1.amazonaws.com", wantSSM: "https://ssm.eu-west-1.amazonaws.com"},
		{name: "FIPS with a configured endpoint fails at start-up, as the SDK refuses it", region: "eu-west-1",
			env:     map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_ENDPOINT_URL_STS": "https://fips.vpce.example.internal"},
			wantErr: "FIPS and custom endpoint are not supported (AWS_USE_FIPS_ENDPOINT=true applies to the endpoints the SDK derives from the region"},
		{name: "no region: us-east-1 stands in for the check", region: "",
			wantSTS: "https://sts.us-east-1.amazonaws.com", wantSM: "https://secretsmanager.us-east-1.amazonaws.com", wantSSM: "https://ssm.us-east-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range endpointVars {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			t.Setenv("AWS_CONFIG_FILE", os.DevNull)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
			t.Setenv("AWS_REGION", tt.region)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := LoadAWSConfig(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("LoadAWSConfig error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Endpoints(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"sts": tt.wantSTS, "secretsmanager": tt.wantSM, "ssm": tt.wantSSM}, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}
