package flatten_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

// pmpDocument is the PMP credentials document (30 credentials in 11
// groups) with every credential set to a token-sized value.
func pmpDocument(b *testing.B) []byte {
	b.Helper()
	groups := map[string][]string{
		"VCS":              {"BitbucketProjectAdminPAT", "BitbucketAdminPassword", "GitlabGroupOwnerPAT", "GitlabAdminPAT", "GithubOrgOwnerPAT", "GithubAdminPAT", "GithubEnterpriseClientSecret", "AzureDevOpsOrgAdminPAT", "AzureAuthSecret"},
		"BuildPackage":     {"FileBasicAuthPassword", "AwsSecretAccessKey"},
		"RuntimeBaseImage": {"PrivateRegistryPassword", "S3CompatibleAccessKey"},
		"MDAStorage":       {"FileBasicAuthPassword", "AwsSecretAccessKey"},
		"OCIRegistry":      {"PrivateRegistryPassword", "S3CompatibleAccessKey"},
		"BuildCluster":     {"KubernetesConfigureToken"},
		"CIAdmin":          {"JenkinsConfigureAPIToken", "JenkinsTriggerAuthToken", "AzureOrgAdminPAT", "AzureBlobStorageToken", "AzureAwsS3SK"},
		"ClusterManager":   {"KubernetesApiToken"},
		"ClusterSettings":  {"KubernetesAdminPassword", "GrafanaAPIKey", "MDAAWSS3AccessKey", "OCIRegistryPassword"},
		"Marketplace":      {"ImportCDNPassword"},
		"Email":            {"SMTPPassword"},
	}
	doc := map[string]map[string]string{}
	for g, keys := range groups {
		doc[g] = map[string]string{}
		for _, k := range keys {
			doc[g][k] = fmt.Sprintf("%-48s", "value-of-"+g+"-"+k)
		}
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkFlatten flattens the PMP document: once per secret version in
// the provider (the result is kept with the cached secret).
func BenchmarkFlatten(b *testing.B) {
	raw := pmpDocument(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		entries, err := flatten.Flatten(raw)
		if err != nil || len(entries) != 30 {
			b.Fatalf("Flatten: %d entries, %v", len(entries), err)
		}
	}
}
