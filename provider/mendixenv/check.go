package mendixenv

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Entry is one key of an environment's secret and its value, as the
// provider mounts it (flatten.Entry's name and value).
type Entry struct {
	Name  string
	Value []byte
}

// Problem is what is wrong with one key of a secret. It names keys, never
// values.
type Problem struct {
	// Error: the Operator does not get what it needs (or the Mount
	// fails); otherwise a warning.
	Error bool
	// Check is a stable identifier: "missing-key", "unknown-key",
	// "placeholder", "wrong-value", "empty-value", "unused-key",
	// "whitespace", "mismatch".
	Check   string
	Key     string
	Message string
	Fix     string
}

// Suggest returns what an unknown name was probably meant to be: a
// catalog key ("database-pasword" -> "database-password"), or the same
// constant or setting under the right prefix ("mx-cosnt-A.B" ->
// "mx-const-A.B", "mx-const-A-B" -> "mx-const-A.B"). None for a name the
// Operator reads, or nothing close.
func Suggest(name string) []string {
	if Classify(name) != Unknown {
		return nil
	}
	if s := suggest.Among(name, Names()); len(s) > 0 {
		return s
	}
	if rest, ok := strings.CutPrefix(name, ConstPrefix); ok {
		// Azure Key Vault's spelling, a dash for the dot.
		if !strings.Contains(rest, ".") {
			if mod, c, ok := strings.Cut(rest, "-"); ok && Classify(ConstPrefix+mod+"."+c) == Constant {
				return []string{ConstPrefix + mod + "." + c}
			}
		}
		return nil
	}
	// A mistyped prefix: "mx-cosnt-", "mx_runtime-", "MX-CONST-".
	for i := 0; i < len(name) && i < 14; i++ {
		if name[i] != '-' && name[i] != '_' {
			continue
		}
		head, rest := name[:i], name[i+1:]
		for _, p := range []string{ConstPrefix, RuntimePrefix} {
			if s := suggest.Among(head, []string{strings.TrimSuffix(p, "-")}); len(s) > 0 || strings.EqualFold(head+"-", p) {
				if Classify(p+rest) != Unknown {
					return []string{p + rest}
				}
			}
		}
	}
	return nil
}

// Check checks the keys of an environment's secret against the catalog
// for modes m (Defaults applied, Check passed): missing keys, unknown keys
// with suggestions, keys the modes do not read, values that cannot work,
// placeholders of the template left in. Problems come in the order of the
// entries, missing keys last.
func Check(entries []Entry, m Modes) []Problem {
	var out []Problem
	add := func(err bool, check, key, msg, fix string) {
		out = append(out, Problem{Error: err, Check: check, Key: key, Message: msg, Fix: fix})
	}
	values := map[string]string{}
	for _, e := range entries {
		values[e.Name] = string(e.Value)
	}
	db, _ := FindDatabase(m.Database)
	st, _ := FindStorage(m.Storage)
	for _, e := range entries {
		name, v := e.Name, string(e.Value)
		kind := Classify(name)
		if kind == Unknown {
			sugg := Suggest(name)
			msg := fmt.Sprintf("%s is not a key the Mendix Operator reads: it reads its files by exact, case-sensitive names and never sees this one%s", name, suggest.Clause(sugg))
			fix := "remove it, or rename it to a key of the catalog (template --environment --describe lists them)"
			switch {
			case len(sugg) > 0:
				fix = "rename it to " + sugg[0]
			case strings.HasPrefix(name, ConstPrefix):
				msg = fmt.Sprintf("%s is not an app constant's key: write %sModule.Constant, the constant's module and name joined by one dot", name, ConstPrefix)
				fix = "rename it to " + ConstPrefix + "MyModule.MyConstant with the module and constant of the app"
			case strings.HasPrefix(name, RuntimePrefix):
				msg = fmt.Sprintf("%s is not a runtime setting's key: write %s{setting}, the custom setting's name (letters, digits, '.', '_', '-')", name, RuntimePrefix)
				fix = "rename it to " + RuntimePrefix + "com.mendix.SettingName with the setting's name"
			}
			add(true, "unknown-key", name, msg, fix)
			continue
		}
		if HasPlaceholder(v) {
			add(true, "placeholder", name, fmt.Sprintf("%s still holds a placeholder of the template (<...>)", name), "replace it with the environment's value")
			continue
		}
		if v == "" {
			if kind == Fixed {
				if k, _ := Lookup(name); k.RequiredIn(m) {
					add(true, "empty-value", name, fmt.Sprintf("%s is empty: the provider does not mount empty values, so the Operator finds no %s file and %s needs it", name, name, m), "set its value")
					continue
				}
			}
			add(false, "empty-value", name, fmt.Sprintf("%s is empty: the provider does not mount it", name), "set its value, or remove the key")
			continue
		}
		if kind == Fixed {
			k, _ := Lookup(name)
			if !k.ReadWith(m) {
				unused(add, k, m)
			}
			checkValue(add, k, v, db, st, values)
		}
		r, _ := utf8.DecodeRuneInString(v)
		last, _ := utf8.DecodeLastRuneInString(v)
		if unicode.IsSpace(r) || unicode.IsSpace(last) {
			add(false, "whitespace", name, fmt.Sprintf("the value of %s starts or ends with white space (a pasted line break?): the file holds it too", name), "store the value without the surrounding white space")
		}
	}
	for _, k := range keys {
		if _, ok := values[k.Name]; !ok && k.RequiredIn(m) {
			fix := fmt.Sprintf("add %q to the secret (template --environment %s prints every key these modes need)", k.Name, m.flags())
			switch k.Name {
			case "database-password":
				fix += "; with RDS IAM authentication it is left out: pass --database-auth " + AuthRDSIAM
			case "storage-access-key-id", "storage-secret-access-key":
				fix += "; with IRSA (Mendix 9.20+) the pair is left out: pass --storage-auth " + AuthIRSA
			}
			add(true, "missing-key", k.Name, fmt.Sprintf("%s is missing: the Operator needs it with %s", k.Name, m), fix)
		}
	}
	return out
}

// flags are the command-line flags of m.
func (m Modes) flags() string {
	return fmt.Sprintf("--database %s --database-auth %s --storage %s --storage-auth %s", m.Database, m.DatabaseAuth, m.Storage, m.StorageAuth)
}

type adder func(err bool, check, key, msg, fix string)

// unused reports a key the modes do not read.
func unused(add adder, k Key, m Modes) {
	switch k.Name {
	case "database-password":
		add(false, "unused-key", k.Name, "database-password is set, but with RDS IAM authentication the Mendix documentation says to remove it (it does not say what the Operator does with it)",
			"remove database-password from the secret, or use --database-auth password")
	case "storage-access-key-id", "storage-secret-access-key":
		add(false, "unused-key", k.Name, fmt.Sprintf("%s is set, but with IRSA the app reaches S3 as the environment's role: the Mendix documentation says to remove the access key pair", k.Name),
			"remove it from the secret, or use --storage-auth keys")
	default:
		read := make([]string, len(k.ReadIn))
		for i, c := range k.ReadIn {
			read[i] = c.String()
		}
		add(false, "unused-key", k.Name, fmt.Sprintf("%s is read only with %s, not with %s", k.Name, strings.Join(read, " or "), m), "remove it, or choose the modes it belongs to")
	}
}

// checkValue reports a value of k that cannot work, without quoting it.
func checkValue(add adder, k Key, v string, db Database, st Storage, values map[string]string) {
	bad := func(msg, fix string) { add(true, "wrong-value", k.Name, k.Name+" "+msg, fix) }
	switch k.Value {
	case Bool:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			bad("is not true or false: the runtime reads anything else as false", "set it to true or false")
		}
	case True:
		if !strings.EqualFold(v, "true") {
			bad("must be true: it is what turns the managed identity on", "set it to true")
		}
	case DatabaseType:
		got, ok := FindDatabase(v)
		switch {
		case !ok:
			add(false, "wrong-value", k.Name, k.Name+" is not a database type the Mendix documentation names for a secret store (PostgreSQL, SQLSERVER)", "check it against the Mendix documentation of your database")
		case got.Name != db.Name:
			add(true, "mismatch", k.Name, fmt.Sprintf("%s names %s, but the environment is checked as %s", k.Name, got.Type, db.Type), "pass --database "+got.Name+", or set database-type to "+db.Type)
		}
	case JDBCURL:
		lower := strings.ToLower(v)
		switch {
		case !strings.HasPrefix(lower, "jdbc:"):
			bad("is not a JDBC URL: it must start with jdbc:", "write it as "+db.JDBCPlaceholder)
		case !strings.HasPrefix(lower, db.JDBCScheme):
			add(true, "mismatch", k.Name, fmt.Sprintf("%s is not a %s JDBC URL: it must start with %s", k.Name, db.Type, db.JDBCScheme), "write it as "+db.JDBCPlaceholder+", or fix database-type")
		default:
			jdbcAgrees(add, db, v, values)
		}
	case HostPort:
		host, port, hasPort := strings.Cut(v, ":")
		switch {
		case strings.Contains(v, "://") || strings.ContainsAny(v, "/?;@ "):
			bad("is not a host name: no scheme, path or parameters, only host or host:port", "write it as "+db.HostPlaceholder)
		case host == "":
			bad("has no host name", "write it as "+db.HostPlaceholder)
		case hasPort && !validPort(port):
			bad("has a port that is not a number from 1 to 65535", "write it as "+db.HostPlaceholder)
		}
	case URL:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("is not an http or https URL with a host", "write it as "+k.Placeholder)
		}
	case StorageService:
		got, ok := FindStorage(v)
		switch {
		case !ok || got.Service != v:
			bad(fmt.Sprintf("is not %s or %s", ServiceS3, ServiceAzure), "set it to "+st.Service)
		case got.Name != st.Name:
			add(true, "mismatch", k.Name, fmt.Sprintf("%s names %s, but the environment is checked as %s storage", k.Name, got.Service, st.Name), "pass --storage "+got.Name+", or set storage-service-name to "+st.Service)
		}
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
}

// jdbcAgrees warns when a PostgreSQL JDBC URL names another host or
// database than database-host and database-name: the documentation does
// not say which one the Operator uses.
func jdbcAgrees(add adder, db Database, v string, values map[string]string) {
	if db.Name != "postgresql" {
		return
	}
	rest := v[len(db.JDBCScheme):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	hostPort, name, _ := strings.Cut(rest, "/")
	host, _, _ := strings.Cut(hostPort, ":")
	if h, ok := values["database-host"]; ok && h != "" && !strings.EqualFold(host, strings.Split(h, ":")[0]) {
		add(false, "mismatch", "database-jdbc-url", "database-jdbc-url names another host than database-host: the Mendix documentation does not say which one the Operator uses", "make the two name the same database server")
	}
	if n, ok := values["database-name"]; ok && n != "" && name != "" && name != n {
		add(false, "mismatch", "database-jdbc-url", "database-jdbc-url names another database than database-name: the Mendix documentation does not say which one the Operator uses", "make the two name the same database")
	}
}

// Infer fills the database and storage kinds m leaves empty from the
// secret's database-type and storage-service-name, when they name one;
// then Defaults.
func Infer(entries []Entry, m Modes) Modes {
	for _, e := range entries {
		switch e.Name {
		case "database-type":
			if d, ok := FindDatabase(string(e.Value)); ok && m.Database == "" {
				m.Database = d.Name
			}
		case "storage-service-name":
			if s, ok := FindStorage(string(e.Value)); ok && m.Storage == "" && s.Service == string(e.Value) {
				m.Storage = s.Name
			}
		}
	}
	return m.Defaults()
}
