package mendixenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Modes are an environment's choices that decide which keys it needs.
type Modes struct {
	// Database is a database kind's Name ("postgresql").
	Database string `json:"database"`
	// DatabaseAuth is AuthPassword or AuthRDSIAM.
	DatabaseAuth string `json:"databaseAuth"`
	// Storage is a storage kind's Name ("s3").
	Storage string `json:"storage"`
	// StorageAuth is one of the storage kind's Auths.
	StorageAuth string `json:"storageAuth"`
}

// Defaults fills what m leaves empty: PostgreSQL with a password, S3 with
// an access key pair (Azure with an account key).
func (m Modes) Defaults() Modes {
	if m.Database == "" {
		m.Database = databases[0].Name
	}
	if m.DatabaseAuth == "" {
		m.DatabaseAuth = AuthPassword
	}
	if m.Storage == "" {
		m.Storage = storages[0].Name
	}
	if m.StorageAuth == "" {
		if st, ok := FindStorage(m.Storage); ok {
			m.StorageAuth = st.Auths[0]
		}
	}
	return m
}

// Check reports the first mode that is not a known one, or a combination
// the Mendix documentation does not describe, naming the flag.
func (m Modes) Check() error {
	db, ok := FindDatabase(m.Database)
	if !ok {
		return fmt.Errorf("--database %q is not a database kind: %s", m.Database, strings.Join(databaseNames(), ", "))
	}
	if !slices.Contains(DatabaseAuths, m.DatabaseAuth) {
		return fmt.Errorf("--database-auth %q is not %s", m.DatabaseAuth, strings.Join(DatabaseAuths, " or "))
	}
	if m.DatabaseAuth == AuthRDSIAM && !db.RDSIAM {
		return fmt.Errorf("--database-auth %s is documented for PostgreSQL on AWS RDS only, not %s", AuthRDSIAM, db.Type)
	}
	st, ok := FindStorage(m.Storage)
	if !ok {
		return fmt.Errorf("--storage %q is not a storage kind: s3 or azure", m.Storage)
	}
	if !slices.Contains(st.Auths, m.StorageAuth) {
		return fmt.Errorf("--storage-auth %q is not one of %s storage's: %s", m.StorageAuth, st.Name, strings.Join(st.Auths, ", "))
	}
	return nil
}

// String says the modes in words: "PostgreSQL with a password, S3 with an
// access key pair".
func (m Modes) String() string {
	db, _ := FindDatabase(m.Database)
	auth := "a password"
	if m.DatabaseAuth == AuthRDSIAM {
		auth = "RDS IAM authentication"
	}
	return fmt.Sprintf("%s with %s, %s", db.Type, auth, Cond{Storage: m.Storage, StorageAuth: m.StorageAuth})
}

func databaseNames() []string {
	out := make([]string, len(databases))
	for i, d := range databases {
		out[i] = d.Name
	}
	return out
}

// Template is the secret's JSON for modes m: every key m requires, in
// catalog order, with the database-type and storage-service-name of m and
// placeholders ("<PASSWORD>") that validate reports until they are
// replaced; a final newline. Optional keys are left out (Keys lists them).
func Template(m Modes) string {
	db, _ := FindDatabase(m.Database)
	st, _ := FindStorage(m.Storage)
	var b bytes.Buffer
	b.WriteString("{")
	first := true
	for _, k := range keys {
		if !k.RequiredIn(m) {
			continue
		}
		v := k.Placeholder
		switch k.Name {
		case "database-type":
			v = db.Type
		case "database-jdbc-url":
			v = db.JDBCPlaceholder
		case "database-host":
			v = db.HostPlaceholder
		case "storage-service-name":
			v = st.Service
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "\n  %s: %s", jsonString(k.Name), jsonString(v))
	}
	b.WriteString("\n}\n")
	return b.String()
}

// jsonString is s as a JSON string, "<" and ">" as themselves: the
// placeholders are read by people.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// placeholderRE finds the placeholders template writes.
var placeholderRE = regexp.MustCompile(`<[A-Z][A-Z_]*>`)

// placeholders are every placeholder the catalog's template writes.
var placeholders = map[string]bool{}

func init() {
	add := func(s string) {
		for _, p := range placeholderRE.FindAllString(s, -1) {
			placeholders[p] = true
		}
	}
	for _, k := range keys {
		add(k.Placeholder)
	}
	for _, d := range databases {
		add(d.JDBCPlaceholder)
		add(d.HostPlaceholder)
	}
}

// HasPlaceholder reports whether value still holds a placeholder of the
// template ("<PASSWORD>"): only those exact words count, so a real value
// with angle brackets is not taken for one.
func HasPlaceholder(value string) bool {
	for _, p := range placeholderRE.FindAllString(value, -1) {
		if placeholders[p] {
			return true
		}
	}
	return false
}
