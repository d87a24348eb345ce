// Package pmp is the Private Mendix Platform's credential catalog: the 30
// keys of the JSON secret PMP reads from AWS Secrets Manager, grouped in
// the 11 modules of its template, in the order of the PMP documentation,
// each with what it is for. The provider checks mounted PMP secrets
// against it; the template and validate subcommands are built on it; tests,
// the demo and the benchmarks build their secrets from it.
//
// The descriptions are the PMP document's where it is right. Where it is
// plainly wrong (a copied line, a name described as a credential) the
// description says what the key is for as far as its name and place in
// the document tell, and Doubt says what the document says and why ours
// differs.
package pmp

// Key is one credential of the catalog.
type Key struct {
	// Module is the top-level object it is in, e.g. "VCS".
	Module string
	// Name is its name inside the module, e.g. "GithubAdminPAT".
	Name string
	// Description says what the credential is for.
	Description string
	// Doubt is set where the PMP document's own description is wrong or
	// unclear: what the document says and why Description differs.
	Doubt string
}

// Dotted is the key's name as PMP and the mounted file name it:
// "VCS.GithubAdminPAT".
func (k Key) Dotted() string { return k.Module + "." + k.Name }

// Module is one top-level object of the template.
type Module struct {
	// Name is the object's key, e.g. "VCS".
	Name string
	// Title says what the module configures.
	Title string
	Keys  []Key
}

// modules is the catalog. It is never modified; Modules hands out copies.
var modules = []Module{
	{Name: "VCS", Title: "version control (Bitbucket, GitLab, GitHub, Azure DevOps)", Keys: []Key{
		{Name: "BitbucketProjectAdminPAT", Description: "Personal access token of the Bitbucket project admin"},
		{Name: "BitbucketAdminPassword", Description: "Password of the Bitbucket admin user"},
		{Name: "GitlabGroupOwnerPAT", Description: "Personal access token of the GitLab group owner"},
		{Name: "GitlabAdminPAT", Description: "Personal access token of the GitLab admin"},
		{Name: "GithubOrgOwnerPAT", Description: "Personal access token of the GitHub organization owner"},
		{Name: "GithubAdminPAT", Description: "Personal access token of the GitHub admin"},
		{Name: "GithubEnterpriseClientSecret", Description: "Client secret of the GitHub Enterprise app"},
		{Name: "AzureDevOpsOrgAdminPAT", Description: "Personal access token of the Azure DevOps organization owner"},
		{Name: "AzureAuthSecret", Description: "Not used by PMP today (the PMP document: \"Currently unused\"); leave it empty"},
	}},
	{Name: "BuildPackage", Title: "Kubernetes build settings: where build packages are stored", Keys: []Key{
		{Name: "FileBasicAuthPassword", Description: "Basic-auth password of the file server that stores build packages"},
		{Name: "AwsSecretAccessKey", Description: "AWS secret access key of the S3 storage for build packages",
			Doubt: "the PMP document says \"for the file server\", but lists the key under its AWS access-key option (AwsAKSK), the alternative to the file server"},
	}},
	{Name: "RuntimeBaseImage", Title: "Kubernetes build settings: where the runtime base image comes from", Keys: []Key{
		{Name: "PrivateRegistryPassword", Description: "Password of the private registry the runtime base image is pulled from",
			Doubt: "the PMP document describes it as \"Base image for the runtime\", which is not a credential; the key name says it is the private registry's password"},
		{Name: "S3CompatibleAccessKey", Description: "Access key of the S3-compatible storage the runtime base image is read from",
			Doubt: "the PMP document does not say whether this is the access key ID or its secret; a secret store is for the secret part"},
	}},
	{Name: "MDAStorage", Title: "Kubernetes build settings: where built MDA (deployment archive) files are stored", Keys: []Key{
		{Name: "FileBasicAuthPassword", Description: "Basic-auth password of the file server that stores MDA files"},
		{Name: "AwsSecretAccessKey", Description: "AWS secret access key of the S3 storage for MDA files"},
	}},
	{Name: "OCIRegistry", Title: "Kubernetes build settings: the OCI registry for built images", Keys: []Key{
		{Name: "PrivateRegistryPassword", Description: "Password of the private OCI registry"},
		{Name: "S3CompatibleAccessKey", Description: "Access key of the S3-compatible storage of the OCI registry",
			Doubt: "the PMP document does not say whether this is the access key ID or its secret; a secret store is for the secret part"},
	}},
	{Name: "BuildCluster", Title: "build cluster settings", Keys: []Key{
		{Name: "KubernetesConfigureToken", Description: "Token PMP uses to configure the Kubernetes build cluster"},
	}},
	{Name: "CIAdmin", Title: "build cluster settings: CI (Jenkins, Azure DevOps pipelines)", Keys: []Key{
		{Name: "JenkinsConfigureAPIToken", Description: "API token PMP uses to configure Jenkins"},
		{Name: "JenkinsTriggerAuthToken", Description: "Token PMP uses to trigger Jenkins jobs"},
		{Name: "AzureOrgAdminPAT", Description: "Personal access token of the Azure DevOps organization admin, for configuring its pipelines"},
		{Name: "AzureBlobStorageToken", Description: "SAS token of the Azure Blob Storage"},
		{Name: "AzureAwsS3SK", Description: "AWS S3 secret key (the SK of an AK/SK pair) the Azure DevOps pipelines use to reach S3",
			Doubt: "the PMP document says \"Name of the Azure DevOps organization\", which is not a credential; the key name says an AWS S3 secret key used from Azure"},
	}},
	{Name: "ClusterManager", Title: "cluster manager", Keys: []Key{
		{Name: "KubernetesApiToken", Description: "API token of the Kubernetes admin user, for the cluster manager"},
	}},
	{Name: "ClusterSettings", Title: "cluster manager: settings of the managed clusters", Keys: []Key{
		{Name: "KubernetesAdminPassword", Description: "Password of the Kubernetes admin user"},
		{Name: "GrafanaAPIKey", Description: "API key of Grafana, the managed clusters' monitoring",
			Doubt: "the PMP document says \"Password for the Grafana admin user\"; the key name says an API key"},
		{Name: "MDAAWSS3AccessKey", Description: "AWS S3 access key of the MDA storage, as the cluster settings use it",
			Doubt: "the PMP document says \"Password for the Prometheus admin user\", a copy of the line below it; the key name says the MDA storage's AWS S3 access key (ID or secret: not said)"},
		{Name: "OCIRegistryPassword", Description: "Password of the OCI registry, as the cluster settings use it",
			Doubt: "the PMP document says \"Password for the Prometheus admin user\", a copied line; the key name says the OCI registry's password"},
	}},
	{Name: "Marketplace", Title: "Marketplace", Keys: []Key{
		{Name: "ImportCDNPassword", Description: "Password of the CDN that Marketplace content is imported from",
			Doubt: "the PMP document says \"Personal access token for the Marketplace admin\"; the key name says a password for importing from a CDN"},
	}},
	{Name: "Email", Title: "e-mail", Keys: []Key{
		{Name: "SMTPPassword", Description: "Password of the SMTP server"},
	}},
}

// byName maps dotted names to keys, and byModule module names to modules.
var (
	byName   = map[string]Key{}
	byModule = map[string]int{}
)

func init() {
	for i := range modules {
		m := &modules[i]
		byModule[m.Name] = i
		for j := range m.Keys {
			m.Keys[j].Module = m.Name
			byName[m.Keys[j].Dotted()] = m.Keys[j]
		}
	}
}

// Modules returns the catalog, in the PMP document's order. The caller may
// modify the copy.
func Modules() []Module {
	out := make([]Module, len(modules))
	for i, m := range modules {
		m.Keys = append([]Key(nil), m.Keys...)
		out[i] = m
	}
	return out
}

// FindModule returns the module named name, spelled exactly.
func FindModule(name string) (Module, bool) {
	i, ok := byModule[name]
	if !ok {
		return Module{}, false
	}
	m := modules[i]
	m.Keys = append([]Key(nil), m.Keys...)
	return m, true
}

// Lookup returns the key with the dotted name, spelled exactly: key names
// are case-sensitive and read-only in PMP.
func Lookup(dotted string) (Key, bool) {
	k, ok := byName[dotted]
	return k, ok
}

// Names returns the dotted names of every credential, e.g.
// "VCS.BitbucketProjectAdminPAT", in catalog order.
func Names() []string {
	out := make([]string, 0, len(byName))
	for _, m := range modules {
		for _, k := range m.Keys {
			out = append(out, k.Dotted())
		}
	}
	return out
}

// ModuleNames returns the names of the modules, e.g. "VCS", in catalog
// order.
func ModuleNames() []string {
	out := make([]string, len(modules))
	for i, m := range modules {
		out[i] = m.Name
	}
	return out
}
