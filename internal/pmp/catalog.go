// Package pmp holds the Private Mendix Platform's credential catalog: the
// 30 keys of the JSON template PMP reads from AWS Secrets Manager, in the
// order of the PMP documentation. Tests, the demo, the benchmark harness
// and the e2e suite build their secrets from it.
package pmp

import (
	"encoding/json"
	"strings"
)

// Group is one top-level object of the template, e.g. "VCS".
type Group struct {
	Name string
	Keys []string
}

// Catalog is the template's groups and keys, as the PMP documentation lists
// them.
var Catalog = []Group{
	{"VCS", []string{"BitbucketProjectAdminPAT", "BitbucketAdminPassword", "GitlabGroupOwnerPAT", "GitlabAdminPAT", "GithubOrgOwnerPAT", "GithubAdminPAT", "GithubEnterpriseClientSecret", "AzureDevOpsOrgAdminPAT", "AzureAuthSecret"}},
	{"BuildPackage", []string{"FileBasicAuthPassword", "AwsSecretAccessKey"}},
	{"RuntimeBaseImage", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
	{"MDAStorage", []string{"FileBasicAuthPassword", "AwsSecretAccessKey"}},
	{"OCIRegistry", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
	{"BuildCluster", []string{"KubernetesConfigureToken"}},
	{"CIAdmin", []string{"JenkinsConfigureAPIToken", "JenkinsTriggerAuthToken", "AzureOrgAdminPAT", "AzureBlobStorageToken", "AzureAwsS3SK"}},
	{"ClusterManager", []string{"KubernetesApiToken"}},
	{"ClusterSettings", []string{"KubernetesAdminPassword", "GrafanaAPIKey", "MDAAWSS3AccessKey", "OCIRegistryPassword"}},
	{"Marketplace", []string{"ImportCDNPassword"}},
	{"Email", []string{"SMTPPassword"}},
}

// Names returns the dotted names of every credential, e.g.
// "VCS.BitbucketProjectAdminPAT", in catalog order.
func Names() []string {
	var out []string
	for _, g := range Catalog {
		for _, k := range g.Keys {
			out = append(out, g.Name+"."+k)
		}
	}
	return out
}

// Document returns the template as PMP stores it (nested JSON), each
// credential set to value(dottedName), and the dotted names whose value is
// not empty, with their values: what a Mount must return.
func Document(value func(name string) string) (doc string, mounted map[string]string) {
	nested := map[string]map[string]string{}
	mounted = map[string]string{}
	for _, g := range Catalog {
		nested[g.Name] = map[string]string{}
		for _, k := range g.Keys {
			name := g.Name + "." + k
			v := value(name)
			nested[g.Name][k] = v
			if v != "" {
				mounted[name] = v
			}
		}
	}
	b, _ := json.Marshal(nested) // maps of strings always marshal
	return string(b), mounted
}

// Template is the empty template of the PMP documentation.
func Template() string {
	doc, _ := Document(func(string) string { return "" })
	return doc
}

// Unused reports the credentials a PMP installation on GitHub would leave
// empty: GitLab and Azure DevOps. The demo and tests use it to show that
// empty credentials are not mounted.
func Unused(name string) bool {
	_, key, _ := strings.Cut(name, ".")
	return strings.HasPrefix(key, "Gitlab") || strings.HasPrefix(key, "Azure")
}
