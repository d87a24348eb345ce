package server_test

import (
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/logcapture"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
)

// TestOptionalObjectsSkippedAreLoggedAndCounted: each Mount that leaves
// out optional objects or jmesPath entries that do not exist says so in
// one log line (which objects, for which pod and identity; never a value)
// at the default verbosity, and counts each in
// pmp_objects_skipped_total{reason="not_found"}.
func TestOptionalObjectsSkippedAreLoggedAndCounted(t *testing.T) {
	logs := logcapture.Klog(t, 0) // said at the default verbosity
	e := newEnv(t)
	e.putSecret("myapp-database", `{"database-type": "PostgreSQL", "database-password": "VALUE-SENTINEL-db"}`)
	req := pmpReq(`- objectName: myapp-database
  jmesPath:
    - {path: '"database-host"', objectAlias: database-host, optional: true}
- {objectName: myapp-storage, optional: true}`)
	if got := promtest.Value(t, e.reg, "pmp_objects_skipped_total", "reason", "not_found"); got != 0 {
		t.Fatalf("pmp_objects_skipped_total before any Mount = %v", got)
	}
	resp, err := e.mount(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := filesOf(resp); len(got) != 2 || got["database-type"] != "PostgreSQL" {
		t.Errorf("files %v, want database-type and database-password", got)
	}
	if got := promtest.Value(t, e.reg, "pmp_objects_skipped_total", "reason", "not_found"); got != 2 {
		t.Errorf("pmp_objects_skipped_total after a Mount that left out 2 = %v, want 2", got)
	}
	loggedOnce(t, logs, "mount left out optional objects that do not exist",
		`pod="pmp/pmp-0"`, `serviceAccount="pmp-secrets-access"`, `role="`+testRole+`"`, `region="`+testRegion+`"`,
		`secretProviderClass="pmp-credentials"`, `reason="not_found"`,
		`skipped=["jmesPath[0] (objectAlias database-host) of secret myapp-database","secret myapp-storage"]`)

	// A republish, from the caches: said and counted again, once.
	if _, err := e.mount(req); err != nil {
		t.Fatal(err)
	}
	if got := promtest.Value(t, e.reg, "pmp_objects_skipped_total", "reason", "not_found"); got != 4 {
		t.Errorf("pmp_objects_skipped_total after two Mounts = %v, want 4", got)
	}
	if n := strings.Count(logs.Flushed(), "mount left out optional objects that do not exist"); n != 2 {
		t.Errorf("two Mounts logged their skips %d times, want 2", n)
	}
}
