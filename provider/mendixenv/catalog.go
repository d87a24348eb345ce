// Package mendixenv is the catalog of a Mendix app environment's secret:
// the files the Mendix Operator reads from an environment's Secrets Store
// CSI volume (Mendix for Private Cloud, "Retrieve Environment-Sensitive
// Data from a Secret Store"), each with what it is for, which of them a
// database kind and a storage kind need, what a value must look like, and
// the mx-const-/mx-runtime- name rules. The template, validate, manifests,
// policy and doctor subcommands check environments against it, as they
// check PMP secrets against package pmp.
//
// The secret this provider mounts for an environment is one flat JSON
// object whose keys are the Operator's file names: the provider writes
// each key as a file of that name (docs/secretproviderclass.md, "How a
// JSON secret becomes files"), so no jmesPath entry is needed.
//
// Where the Mendix documentation is unclear the key's Doubt says how, and
// what this catalog assumes; docs/mendix-environments.md lists the same.
package mendixenv

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The values of storage-service-name.
const (
	ServiceS3    = "com.mendix.storage.s3"
	ServiceAzure = "com.mendix.storage.azure"
)

// The annotations the Operator looks for.
const (
	// AccountAnnotation marks the environment's ServiceAccount.
	AccountAnnotation = "privatecloud.mendix.com/environment-account"
	// ClassAnnotation marks the environment's SecretProviderClass.
	ClassAnnotation = "privatecloud.mendix.com/environment-class"
)

// The name rules of app constants and runtime settings.
const (
	ConstPrefix   = "mx-const-"
	RuntimePrefix = "mx-runtime-"
)

// Database is a database kind: the value of database-type and the JDBC
// URL that goes with it.
type Database struct {
	// Name is the flag value: "postgresql".
	Name string
	// Type is database-type as the Mendix documentation writes it.
	Type string
	// JDBCScheme is how its JDBC URL starts: "jdbc:postgresql://".
	JDBCScheme string
	// JDBCPlaceholder and HostPlaceholder are what template writes for
	// database-jdbc-url and database-host.
	JDBCPlaceholder, HostPlaceholder string
	// RDSIAM: AWS RDS IAM authentication is documented for it.
	RDSIAM bool
}

// Databases are the database kinds the Mendix documentation names for a
// secret store ("for example, SQLSERVER, PostgreSQL"; the list is not said
// to be complete: another database-type gets a warning, not an error).
var databases = []Database{
	{Name: "postgresql", Type: "PostgreSQL", JDBCScheme: "jdbc:postgresql://", RDSIAM: true,
		JDBCPlaceholder: "jdbc:postgresql://<HOST>:5432/<DATABASE>?sslmode=require", HostPlaceholder: "<HOST>:5432"},
	{Name: "sqlserver", Type: "SQLSERVER", JDBCScheme: "jdbc:sqlserver://",
		JDBCPlaceholder: "jdbc:sqlserver://<HOST>:1433;databaseName=<DATABASE>;encrypt=true", HostPlaceholder: "<HOST>:1433"},
}

// Storage is a file storage kind.
type Storage struct {
	// Name is the flag value: "s3".
	Name string
	// Service is storage-service-name.
	Service string
	// Auths are its authentication modes, the first the default.
	Auths []string
}

var storages = []Storage{
	{Name: "s3", Service: ServiceS3, Auths: []string{AuthKeys, AuthIRSA}},
	{Name: "azure", Service: ServiceAzure, Auths: []string{AuthKeys, AuthManagedIdentity}},
}

// Authentication modes.
const (
	// AuthPassword: the database's password is in the secret.
	AuthPassword = "password"
	// AuthRDSIAM: AWS RDS IAM authentication (Mendix 9.22+, Operator
	// 2.10.1+): the environment's IAM role gets a password from RDS every
	// 10 minutes; database-password is left out.
	AuthRDSIAM = "rds-iam"
	// AuthKeys: static storage credentials (S3's access key pair, Azure's
	// account name and key) are in the secret.
	AuthKeys = "keys"
	// AuthIRSA: S3 through the environment's IAM role (Mendix 9.20+): no
	// access key pair.
	AuthIRSA = "irsa"
	// AuthManagedIdentity: Azure Blob Storage through the environment's
	// managed identity (Mendix 10.10+, Operator 2.17+).
	AuthManagedIdentity = "managed-identity"
)

// DatabaseAuths are the database authentication modes.
var DatabaseAuths = []string{AuthPassword, AuthRDSIAM}

// Databases returns the database kinds.
func Databases() []Database { return slices.Clone(databases) }

// Storages returns the storage kinds.
func Storages() []Storage {
	out := slices.Clone(storages)
	for i := range out {
		out[i].Auths = slices.Clone(out[i].Auths)
	}
	return out
}

// FindDatabase returns the database kind of a flag value ("postgresql")
// or a database-type ("PostgreSQL"), in any case.
func FindDatabase(s string) (Database, bool) {
	for _, d := range databases {
		if strings.EqualFold(s, d.Name) || strings.EqualFold(s, d.Type) {
			return d, true
		}
	}
	return Database{}, false
}

// FindStorage returns the storage kind of a flag value ("s3") or a
// storage-service-name.
func FindStorage(s string) (Storage, bool) {
	for _, st := range storages {
		if s == st.Name || s == st.Service {
			return st, true
		}
	}
	return Storage{}, false
}

// Value is what a key's value must be.
type Value int

const (
	// Text is any non-empty text.
	Text Value = iota
	// Bool is "true" or "false".
	Bool
	// True is "true".
	True
	// DatabaseType is one of the database kinds' Type.
	DatabaseType
	// JDBCURL is a JDBC URL of the database-type's kind.
	JDBCURL
	// HostPort is a host name with an optional port, no scheme or path.
	HostPort
	// URL is an http or https URL.
	URL
	// StorageService is com.mendix.storage.s3 or com.mendix.storage.azure.
	StorageService
)

func (v Value) String() string {
	return [...]string{"text", "`true` or `false`", "`true`", "`PostgreSQL` or `SQLSERVER`", "JDBC URL of the database type",
		"host, or host:port", "http(s) URL", "`" + ServiceS3 + "` or `" + ServiceAzure + "`"}[v]
}

// Cond is a set of modes; an empty field matches any.
type Cond struct {
	DatabaseAuth string
	Storage      string
	StorageAuth  string
}

// Match reports whether m is in the set.
func (c Cond) Match(m Modes) bool {
	return (c.DatabaseAuth == "" || c.DatabaseAuth == m.DatabaseAuth) &&
		(c.Storage == "" || c.Storage == m.Storage) &&
		(c.StorageAuth == "" || c.StorageAuth == m.StorageAuth)
}

// String says the set in words: "S3 with access keys".
func (c Cond) String() string {
	var parts []string
	switch c.DatabaseAuth {
	case AuthPassword:
		parts = append(parts, "password authentication")
	case AuthRDSIAM:
		parts = append(parts, "RDS IAM authentication")
	}
	st := map[string]string{"s3": "S3", "azure": "Azure"}[c.Storage]
	switch c.StorageAuth {
	case AuthKeys:
		if c.Storage == "azure" {
			st += " with an account key"
		} else {
			st += " with an access key pair"
		}
	case AuthIRSA:
		st += " with IRSA"
	case AuthManagedIdentity:
		st += " with a managed identity"
	}
	if st != "" {
		parts = append(parts, st)
	}
	if len(parts) == 0 {
		return "always"
	}
	return strings.Join(parts, ", ")
}

// Key is one file the Operator reads.
type Key struct {
	Name        string
	Description string
	Value       Value
	// Required are the modes that need it; none: optional.
	Required []Cond
	// ReadIn are the modes in which the Operator reads it; none: all.
	// Set in another mode it is not used (a warning).
	ReadIn []Cond
	// Placeholder is what template writes for it; validate flags it.
	// Empty: template leaves the key out (optional keys).
	Placeholder string
	// Since is the first Mendix or Operator version that reads it, when
	// the documentation says.
	Since string
	// Doubt says where the Mendix documentation is unclear about it, and
	// what the catalog assumes.
	Doubt string
}

// RequiredIn reports whether modes m need the key.
func (k Key) RequiredIn(m Modes) bool { return matchAny(k.Required, m) }

// ReadWith reports whether the Operator reads the key in modes m.
func (k Key) ReadWith(m Modes) bool { return len(k.ReadIn) == 0 || matchAny(k.ReadIn, m) }

func matchAny(cs []Cond, m Modes) bool {
	for _, c := range cs {
		if c.Match(m) {
			return true
		}
	}
	return false
}

var (
	always      = []Cond{{}}
	password    = []Cond{{DatabaseAuth: AuthPassword}}
	s3          = []Cond{{Storage: "s3"}}
	s3Keys      = []Cond{{Storage: "s3", StorageAuth: AuthKeys}}
	azure       = []Cond{{Storage: "azure"}}
	azureKey    = []Cond{{Storage: "azure", StorageAuth: AuthKeys}}
	azureManged = []Cond{{Storage: "azure", StorageAuth: AuthManagedIdentity}}
)

// keys is the catalog, in the order of the Mendix documentation's table.
// It is never modified; Keys hands out a copy.
var keys = []Key{
	{Name: "database-type", Description: "Database type", Value: DatabaseType, Required: always, Placeholder: "PostgreSQL",
		Doubt: "the documentation names PostgreSQL and SQLSERVER only \"for example\", in two spellings of case; other types are warned about, and the case is not checked"},
	{Name: "database-jdbc-url", Description: "JDBC URL of the database", Value: JDBCURL, Required: always, Placeholder: "jdbc:postgresql://<HOST>:5432/<DATABASE>?sslmode=require",
		Doubt: "the documentation does not say which of database-jdbc-url and database-host/database-name wins when they differ; validate warns when they do"},
	{Name: "database-host", Description: "Database host, with its port", Value: HostPort, Required: always, Placeholder: "<HOST>:5432"},
	{Name: "database-name", Description: "Database name", Value: Text, Required: always, Placeholder: "<DATABASE>"},
	{Name: "database-username", Description: "Database user name", Value: Text, Required: always, Placeholder: "<USERNAME>"},
	{Name: "database-password", Description: "Database password", Value: Text, Required: password, ReadIn: password, Placeholder: "<PASSWORD>", Since: "left out with RDS IAM: Mendix 9.22, Operator 2.10.1",
		Doubt: "with RDS IAM authentication the documentation says to remove it, not what the Operator does when it is still there; validate warns"},
	{Name: "storage-service-name", Description: "File storage service", Value: StorageService, Required: always, Placeholder: ServiceS3},
	{Name: "storage-endpoint", Description: "S3 endpoint URL", Value: URL, Required: s3, ReadIn: s3, Placeholder: "https://<BUCKET>.s3.<REGION>.amazonaws.com",
		Doubt: "the documentation's example endpoint names the bucket (virtual-hosted style) and calls storage-bucket-name a subdirectory; for other S3-compatible stores it is the bucket"},
	{Name: "storage-access-key-id", Description: "S3 access key ID", Value: Text, Required: s3Keys, ReadIn: s3Keys, Placeholder: "<ACCESS_KEY_ID>", Since: "left out with IRSA: Mendix 9.20",
		Doubt: "the documentation marks the pair required nowhere; without IRSA the app has no other S3 credentials, so the catalog requires the pair unless IRSA is chosen"},
	{Name: "storage-secret-access-key", Description: "S3 secret access key", Value: Text, Required: s3Keys, ReadIn: s3Keys, Placeholder: "<SECRET_ACCESS_KEY>", Since: "left out with IRSA: Mendix 9.20"},
	{Name: "storage-bucket-name", Description: "S3 subdirectory (the bucket name for S3-compatible stores)", Value: Text, Required: s3, ReadIn: s3, Placeholder: "<BUCKET_OR_SUBDIRECTORY>"},
	{Name: "storage-azure-account-name", Description: "Azure storage account (account key authentication)", Value: Text, Required: azureKey, ReadIn: azureKey, Placeholder: "<ACCOUNT_NAME>", Since: "Operator 2.10"},
	{Name: "storage-azure-account-key", Description: "Azure storage account key (account key authentication)", Value: Text, Required: azureKey, ReadIn: azureKey, Placeholder: "<ACCOUNT_KEY>", Since: "Operator 2.10"},
	{Name: "storage-azure-container", Description: "Azure storage container", Value: Text, Required: azure, ReadIn: azure, Placeholder: "<CONTAINER>", Since: "Operator 2.10"},
	{Name: "storage-azure-blob-endpoint", Description: "Azure blob endpoint (managed identity authentication)", Value: URL, Required: azureManged, ReadIn: azureManged, Placeholder: "https://<ACCOUNT_NAME>.blob.core.windows.net/", Since: "Mendix 10.10, Operator 2.17"},
	{Name: "storage-azure-use-default-azure-credential", Description: "Use the managed identity for Azure Blob Storage", Value: True, Required: azureManged, ReadIn: azureManged, Placeholder: "true", Since: "Mendix 10.10, Operator 2.17"},
	{Name: "storage-azure-use-https", Description: "Use HTTPS for Azure Blob Storage", Value: Bool, ReadIn: azure,
		Doubt: "the documentation describes it as \"Use HTTP for Azure\" with the example true; the key name says HTTPS"},
	{Name: "storage-use-ca-certificates", Description: "Trust the configured CA certificates for file storage", Value: Bool},
	{Name: "storage-perform-delete", Description: "Delete files from storage when the app deletes them", Value: Bool},
	{Name: "mx-admin-password", Description: "Password of the MxAdmin user", Value: Text},
	{Name: "mx-debugger-password", Description: "Password of the Mendix debugger", Value: Text, Since: "Operator 2.15"},
}

// Patterns are the two families of keys named by the app.
var patterns = []Key{
	{Name: ConstPrefix + "{Module.Constant}", Description: "Value of the app constant Module.Constant", Value: Text, Since: "Operator 2.10",
		Doubt: "Azure Key Vault's names have no dots, so the documentation writes mx-const-Module-Constant there; in this secret the key is the file name, with the dot"},
	{Name: RuntimePrefix + "{setting}", Description: "Value of the Mendix Runtime custom setting", Value: Text, Since: "Operator 2.10",
		Doubt: "the documentation's table names the key mx-runtime-{setting}, but its Vault and AWS examples read the setting's bare name from the store and mount it as mx-runtime-{setting}; here the key is the file name, mx-runtime-{setting}"},
}

var byName = map[string]int{}

func init() {
	for i, k := range keys {
		byName[k.Name] = i
	}
}

// Keys returns the catalog's fixed keys, in the documentation's order.
func Keys() []Key {
	out := slices.Clone(keys)
	for i := range out {
		out[i].Required = slices.Clone(out[i].Required)
		out[i].ReadIn = slices.Clone(out[i].ReadIn)
	}
	return out
}

// Patterns returns the mx-const-/mx-runtime- families, as keys whose Name
// is the pattern.
func Patterns() []Key { return slices.Clone(patterns) }

// Lookup returns the fixed key named name, spelled exactly.
func Lookup(name string) (Key, bool) {
	i, ok := byName[name]
	if !ok {
		return Key{}, false
	}
	return Keys()[i], true
}

// Names returns the fixed keys' names, in catalog order.
func Names() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

var (
	identifier = `[A-Za-z_][A-Za-z0-9_]*`
	constRE    = regexp.MustCompile(`^` + regexp.QuoteMeta(ConstPrefix) + identifier + `\.` + identifier + `$`)
	runtimeRE  = regexp.MustCompile(`^` + regexp.QuoteMeta(RuntimePrefix) + `[A-Za-z][A-Za-z0-9_.-]*$`)
)

// NameKind says what a key name is.
type NameKind int

const (
	// Unknown is no name the Operator reads.
	Unknown NameKind = iota
	// Fixed is a catalog key.
	Fixed
	// Constant is mx-const-Module.Constant.
	Constant
	// RuntimeSetting is mx-runtime-{setting}.
	RuntimeSetting
)

// Classify says what name is: a catalog key, an app constant, a runtime
// setting, or none of them.
func Classify(name string) NameKind {
	if _, ok := byName[name]; ok {
		return Fixed
	}
	switch {
	case constRE.MatchString(name):
		return Constant
	case runtimeRE.MatchString(name):
		return RuntimeSetting
	}
	return Unknown
}

// Table is the catalog as a Markdown table: each key, when it is needed,
// when the Operator reads it, what its value must be and what it is for.
// docs/mendix-environments.md holds it; a test keeps the two the same.
func Table() string {
	var b strings.Builder
	b.WriteString("| key | needed | read with | value | what it is |\n|---|---|---|---|---|\n")
	conds := func(cs []Cond, none string) string {
		if len(cs) == 0 {
			return none
		}
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.String()
		}
		return strings.Join(out, " or ")
	}
	for _, k := range append(Keys(), Patterns()...) {
		what := k.Description
		if k.Since != "" {
			what += " (" + k.Since + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Name, conds(k.Required, "optional"), conds(k.ReadIn, "always"), k.Value, what)
	}
	return b.String()
}
