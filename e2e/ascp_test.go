//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
)

// ascpApp is what one test namespace holds for a SecretProviderClass
// written for the official AWS provider (ASCP): two Parameter Store
// parameters and two secrets, one of them named by its ARN, in the primary
// region, and their copies in the failover region (values tagged
// "<tag>-west"; the ARN's copy has its own ARN, the failoverObject).
type ascpApp struct {
	ns           *testNS
	tag          string
	dbPass       string // a SecureString parameter
	dbConfig     string // a JSON String parameter, read whole and through jmesPath
	appSecret    string // a JSON secret, read whole and through jmesPath
	tokenARN     string // a plain secret, named by its full ARN
	tokenWestARN string // its copy in the failover region
}

func appJSON(user, pass string) string {
	return fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass)
}

func dbConfigJSON(tag string) string {
	return fmt.Sprintf(`{"host":"db-%s.internal","name":"app_%s"}`, tag, tag)
}

// newASCPApp seeds the primary region with tag in every value, and the
// failover region with tag-west.
func newASCPApp(t *testing.T, tag string) *ascpApp {
	t.Helper()
	ns := newNS(t)
	ns.serviceAccount("pmp", cfg.roleARN)
	a := &ascpApp{ns: ns, tag: tag, dbPass: "/" + ns.name + "/db/password", dbConfig: "/" + ns.name + "/db/config"}
	for _, r := range []struct{ region, tag string }{{cfg.region, tag}, {cfg.failoverRegion, tag + "-west"}} {
		ns.putParameter(r.region, a.dbPass, ssmtypes.ParameterTypeSecureString, "db-pw-"+r.tag)
		ns.putParameter(r.region, a.dbConfig, ssmtypes.ParameterTypeString, dbConfigJSON(r.tag))
		a.appSecret, _ = ns.createSecretIn(r.region, "app", appJSON("app-"+r.tag, "pw-"+r.tag))
	}
	_, a.tokenARN = ns.createSecretIn(cfg.region, "token", "token-"+tag)
	_, a.tokenWestARN = ns.createSecretIn(cfg.failoverRegion, "token", "token-"+tag+"-west")
	return a
}

// class creates the SecretProviderClass "ascp" as an ASCP user writes it:
// ASCP's parameters and field names, the jmesPath entries of a secret
// spelled Path: / ObjectAlias: / FilePermission: as ASCP's own manifests
// spell them, the ARN's object type left to the ARN, and secretObjects
// syncing jmesPath files into a Kubernetes Secret, failoverRegion for every
// object and a failoverObject for the one named by ARN (an ARN names its
// region). The only change from the class ASCP mounts is provider: pmp and
// ascpCompat: "true", the migration docs/migrating-from-ascp.md documents.
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
  failoverObject:
    objectName: %s
`, a.dbPass, a.dbConfig, a.appSecret, a.tokenARN, a.tokenWestARN)
	a.ns.secretProviderClass(spc{
		name:       "ascp",
		region:     cfg.region,
		parameters: map[string]string{"ascpCompat": "true", "failoverRegion": cfg.failoverRegion},
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
// Store parameters, secrets (one by ARN, with a failover object in a second
// region), jmesPath entries and secretObjects, mounts ASCP's files with
// their contents and modes, from the primary region while it answers, and
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

// TestASCPFailover: while every signed call to the primary region fails
// with 503 (Secrets Manager and Parameter Store; STS's
// AssumeRoleWithWebIdentity is not signed, so the front cannot tell its
// region and it keeps answering), a new pod of the ASCP class gets every
// file from the failover region (the ARN's failoverObject, the others by
// name) under the primary's file names and modes, and the front counts
// those calls in that region; once the primary answers again, a new pod
// gets the primary's values. Each pod has its own service account, so no
// value cached for another pod is served. Serial: the fault fails the
// primary region for every test.
func TestASCPFailover(t *testing.T) {
	f := needFront(t)
	a := newASCPApp(t, "fo")
	a.class()
	ns := a.ns
	primary := a.files("db-pw-fo", dbConfigJSON("fo"), appJSON("app-fo", "pw-fo"), "token-fo")
	west := a.files("db-pw-fo-west", dbConfigJSON("fo-west"), appJSON("app-fo-west", "pw-fo-west"), "token-fo-west")
	podWith := func(pod string, want map[string]file) {
		t.Helper()
		ns.serviceAccount(pod, cfg.roleARN)
		ns.readerPod(pod, pod, "ascp")
		took := ns.waitRunning(pod, podStart)
		t.Logf("pod %s Running after %s", pod, took.Round(100*time.Millisecond))
		if d := cmp.Diff(want, ns.firstSnapshot(pod).files, cmp.AllowUnexported(file{})); d != "" {
			t.Errorf("pod %s mounted (-want +mounted):\n%s", pod, d)
		}
	}
	podWith("primary", primary)

	// The calls a mount of the class makes, as the front names them.
	ops := []string{"secretsmanager:GetSecretValue", awsemu.OpGetParameters}
	f.inject(fault{Region: cfg.region, Status: 503, Code: "ServiceUnavailable", Message: "Service is unavailable"})
	before := f.regionCounts(cfg.failoverRegion)
	podWith("outage", west)
	after := f.regionCounts(cfg.failoverRegion)
	for _, op := range ops {
		if after[op] <= before[op] {
			t.Errorf("%s in %s: %d calls before the outage pod, %d after: the failover region was not asked", op, cfg.failoverRegion, before[op], after[op])
		}
	}

	f.clear()
	// The provider remembers the primary's outage, and keeps what the
	// failover region served, for at most 10 s (docs/secretproviderclass.md,
	// "Failover region"): past that the primary is asked first again.
	time.Sleep(11 * time.Second)
	before = f.regionCounts(cfg.region)
	podWith("recovered", primary)
	after = f.regionCounts(cfg.region)
	for _, op := range ops {
		if after[op] <= before[op] {
			t.Errorf("%s in %s: %d calls before the recovered pod, %d after: the primary region was not asked", op, cfg.region, before[op], after[op])
		}
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
