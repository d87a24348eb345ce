//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"
)

// ascpApp is what one test namespace holds for a SecretProviderClass
// written for the official AWS provider (ASCP): two Parameter Store
// parameters and two secrets, one of them named by its ARN.
type ascpApp struct {
	ns        *testNS
	tag       string
	dbPass    string // a SecureString parameter
	dbConfig  string // a JSON String parameter, read whole and through jmesPath
	appSecret string // a JSON secret, read whole and through jmesPath
	tokenARN  string // a plain secret, named by its full ARN
}

func appJSON(user, pass string) string {
	return fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass)
}

func dbConfigJSON(tag string) string {
	return fmt.Sprintf(`{"host":"db-%s.internal","name":"app_%s"}`, tag, tag)
}

// newASCPApp seeds the primary region with tag in every value.
func newASCPApp(t *testing.T, tag string) *ascpApp {
	t.Helper()
	ns := newNS(t)
	ns.serviceAccount("pmp", cfg.roleARN)
	a := &ascpApp{ns: ns, tag: tag, dbPass: "/" + ns.name + "/db/password", dbConfig: "/" + ns.name + "/db/config"}
	ns.putParameter(cfg.region, a.dbPass, ssmtypes.ParameterTypeSecureString, "db-pw-"+tag)
	ns.putParameter(cfg.region, a.dbConfig, ssmtypes.ParameterTypeString, dbConfigJSON(tag))
	a.appSecret = ns.createSecret("app", appJSON("app-"+tag, "pw-"+tag))
	_, a.tokenARN = ns.createSecretIn(cfg.region, "token", "token-"+tag)
	return a
}

// class creates the SecretProviderClass "ascp" as an ASCP user writes it:
// ASCP's parameters and field names, the jmesPath entries of a secret
// spelled Path: / ObjectAlias: / FilePermission: as ASCP's own manifests
// spell them, the ARN's object type left to the ARN, and secretObjects
// syncing jmesPath files into a Kubernetes Secret. The only change from
// the class ASCP mounts is provider: pmp and ascpCompat: "true", the
// migration the README documents.
func (a *ascpApp) class() {
	a.ns.t.Helper()
	objects := fmt.Sprintf(`- objectName: %s
  objectType: ssmparameter
  filePermission: "0400"
- objectName: %s
  objectType: ssmparameter
  jmesPath:
    - path: host
      objectAlias: db-host
    - path: name
      objectAlias: db-name
- objectName: %s
  objectType: secretsmanager
  jmesPath:
    - Path: username
      ObjectAlias: app-username
    - Path: password
      ObjectAlias: app-password
      FilePermission: "0400"
- objectName: %s
  objectAlias: api-token
`, a.dbPass, a.dbConfig, a.appSecret, a.tokenARN)
	a.ns.secretProviderClass(spc{
		name:       "ascp",
		region:     cfg.region,
		parameters: map[string]string{"ascpCompat": "true"},
		objects:    objects,
		secretObjects: []map[string]any{{
			"secretName": "app-db",
			"type":       "Opaque",
			"data": []any{
				map[string]any{"objectName": "app-username", "key": "username"},
				map[string]any{"objectName": "app-password", "key": "password"},
				map[string]any{"objectName": "db-host", "key": "host"},
			},
		}},
	})
}

// files is what the class mounts, ASCP's file set: each parameter and
// secret whole, named after it (`/` translated to `_`) or its objectAlias,
// beside its jmesPath files, with the modes ASCP gives them.
func (a *ascpApp) files(dbPass, dbConfig, app, token string) map[string]file {
	return map[string]file{
		"_" + a.ns.name + "_db_password": {mode: "400", contents: dbPass},
		"_" + a.ns.name + "_db_config":   {mode: "644", contents: dbConfig},
		"db-host":                        {mode: "644", contents: jsonField(a.ns.t, dbConfig, "host")},
		"db-name":                        {mode: "644", contents: jsonField(a.ns.t, dbConfig, "name")},
		a.appSecret:                      {mode: "644", contents: app},
		"app-username":                   {mode: "644", contents: jsonField(a.ns.t, app, "username")},
		"app-password":                   {mode: "400", contents: jsonField(a.ns.t, app, "password")},
		"api-token":                      {mode: "644", contents: token},
	}
}

// syncedFrom is the Secret app-db as secretObjects fills it from files.
func syncedFrom(files map[string]file) map[string]string {
	return map[string]string{
		"username": files["app-username"].contents,
		"password": files["app-password"].contents,
		"host":     files["db-host"].contents,
	}
}

func stringData(d map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		out[k] = string(v)
	}
	return out
}

// TestASCPClass: a SecretProviderClass copied from ASCP, mixing Parameter
// Store parameters, secrets (one by ARN), jmesPath entries and
// secretObjects, mounts ASCP's files with their contents and modes and
// fills the synced Secret; then a new parameter version (PutParameter
// overwrite) and a new secret version (PutSecretValue) both reach the
// running pod's files and the Secret, without a restart.
func TestASCPClass(t *testing.T) {
	t.Parallel()
	a := newASCPApp(t, "one")
	a.class()
	ns := a.ns
	ns.readerPod("reader", "pmp", "ascp")
	ns.waitRunning("reader", podStart)

	before := a.files("db-pw-one", dbConfigJSON("one"), appJSON("app-one", "pw-one"), "token-one")
	if d := cmp.Diff(before, ns.firstSnapshot("reader").files, cmp.AllowUnexported(file{})); d != "" {
		t.Fatalf("first mount (-want +mounted):\n%s", d)
	}
	synced := func(want map[string]string) func(map[string][]byte) bool {
		return func(d map[string][]byte) bool { return cmp.Equal(want, stringData(d)) }
	}
	if _, err := ns.waitSecret("app-db", 60*time.Second, synced(syncedFrom(before))); err != nil {
		t.Fatalf("synced Secret after the first mount: %v", err)
	}

	put := time.Now()
	ns.putParameter(cfg.region, a.dbPass, ssmtypes.ParameterTypeSecureString, "db-pw-rotated")
	ns.putSecretValue(a.appSecret, appJSON("app-one", "pw-rotated"))
	after := a.files("db-pw-rotated", dbConfigJSON("one"), appJSON("app-one", "pw-rotated"), "token-one")
	sn, err := ns.waitSnapshot("reader", rotationBound, func(s snapshot) bool {
		return cmp.Equal(after, s.files, cmp.AllowUnexported(file{}))
	})
	if err != nil {
		t.Fatalf("pod files after PutParameter and PutSecretValue: %v", err)
	}
	t.Logf("ROTATION LATENCY ASCP class (parameter and secret): %s", sn.at.Sub(put.Truncate(time.Second)).Round(time.Second))
	all, _ := ns.snapshots("reader")
	for _, s := range all {
		if names(s.files) != names(after) {
			t.Errorf("at %s the pod saw %s, want always %s", s.at.Format(time.TimeOnly), names(s.files), names(after))
		}
	}
	if _, err := ns.waitSecret("app-db", 30*time.Second, synced(syncedFrom(after))); err != nil {
		t.Errorf("synced Secret after the rotation: %v", err)
	}
}

// jsonField is the string at key of the JSON object doc, as jmesPath
// selects it.
func jsonField(t *testing.T, doc, key string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return m[key]
}
