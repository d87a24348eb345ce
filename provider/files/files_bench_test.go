package files_test

import (
	"fmt"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

// pmpEntries are the 30 flattened PMP credentials, sorted as Flatten
// returns them.
func pmpEntries() []flatten.Entry {
	groups := []struct {
		name string
		keys []string
	}{
		{"BuildCluster", []string{"KubernetesConfigureToken"}},
		{"BuildPackage", []string{"AwsSecretAccessKey", "FileBasicAuthPassword"}},
		{"CIAdmin", []string{"AzureAwsS3SK", "AzureBlobStorageToken", "AzureOrgAdminPAT", "JenkinsConfigureAPIToken", "JenkinsTriggerAuthToken"}},
		{"ClusterManager", []string{"KubernetesApiToken"}},
		{"ClusterSettings", []string{"GrafanaAPIKey", "KubernetesAdminPassword", "MDAAWSS3AccessKey", "OCIRegistryPassword"}},
		{"Email", []string{"SMTPPassword"}},
		{"MDAStorage", []string{"AwsSecretAccessKey", "FileBasicAuthPassword"}},
		{"Marketplace", []string{"ImportCDNPassword"}},
		{"OCIRegistry", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
		{"RuntimeBaseImage", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
		{"VCS", []string{"AzureAuthSecret", "AzureDevOpsOrgAdminPAT", "BitbucketAdminPassword", "BitbucketProjectAdminPAT", "GithubAdminPAT", "GithubEnterpriseClientSecret", "GithubOrgOwnerPAT", "GitlabAdminPAT", "GitlabGroupOwnerPAT"}},
	}
	var out []flatten.Entry
	for _, g := range groups {
		for _, k := range g.keys {
			out = append(out, flatten.Entry{Name: g.name + "." + k, Value: []byte(fmt.Sprintf("%-48s", "value-of-"+k))})
		}
	}
	return out
}

func BenchmarkSelect(b *testing.B) {
	entries := pmpEntries()
	for _, bc := range []struct {
		name string
		sel  files.Selection
		want int
	}{
		{"all dotted", files.Selection{Mode: 0o440}, 30},
		{"keys VCS.* nested", files.Selection{Keys: []string{"VCS.*"}, Layout: files.Nested, Mode: 0o440}, 9},
		{"alias dir", files.Selection{Dir: "pmp", Mode: 0o440}, 30},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := files.Select(entries, bc.sel)
				if err != nil || len(out) != bc.want {
					b.Fatalf("Select: %d files, %v", len(out), err)
				}
			}
		})
	}
}

func BenchmarkCheckVolume(b *testing.B) {
	out, err := files.Select(pmpEntries(), files.Selection{Mode: 0o440})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := files.CheckVolume(out); err != nil {
			b.Fatal(err)
		}
	}
}
