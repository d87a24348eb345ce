package failover_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/logcapture"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mountenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// The primary region is the front's own kumo; the failover region a
// second kumo, which the front sends every call signed for it.
const (
	primaryRegion  = "us-east-1"
	failoverRegion = "us-west-2"
	getSecretValue = "secretsmanager:GetSecretValue"
)

// failoverEnv is a provider before two regions, each holding its own copy
// of the secret PMP-Production-Credentials (their values say which region
// served them).
type failoverEnv struct {
	*mountenv.Env
	t    *testing.T
	west *awsemu.Region
	// eastVersion and westVersion are the secret's VersionId in each.
	eastVersion, westVersion string
}

func newFailoverEnv(t *testing.T, opts ...mountenv.Option) *failoverEnv {
	t.Helper()
	a := awsemu.Start(t)
	west := a.AddRegion(t, failoverRegion)
	a.UseFrom(t, mountenv.Region)
	e := &failoverEnv{Env: mountenv.Start(t, a, mountenv.Config{}, append([]mountenv.Option{func(o *provider.Options) {
		o.RetryBudget, o.AWSCallTimeout = 3*time.Second, 400*time.Millisecond
	}}, opts...)...), t: t, west: west}
	e.eastVersion = e.PutSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "VALUE-SENTINEL-east"}}`)
	e.westVersion = e.putSecretWest("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "VALUE-SENTINEL-west"}}`)
	return e
}

// putSecretWest creates a secret in the failover region and returns its
// ARN's version id.
func (e *failoverEnv) putSecretWest(name, value string) string {
	e.t.Helper()
	return awsemu.PutSecret(e.t, e.west.Admin, name, value)
}

// failoverReq is a Mount of objects read in us-east-1 with us-west-2 as
// the failoverRegion.
func (e *failoverEnv) failoverReq(objects string) driverreq.Request {
	r := e.Req(objects)
	r.Parameters["region"] = primaryRegion
	r.Parameters["failoverRegion"] = failoverRegion
	return r
}

// regionOutage fails every call of op signed for region with fault.
func (e *failoverEnv) regionOutage(region, op string, fault awsemu.Fault) {
	fault.Region, fault.Operation = region, op
	e.AWS.Front.Inject(fault)
}

// served is how many reads of objects with a failoverRegion service's
// failover region served (pmp_failover_served_total).
func (e *failoverEnv) served(service string) int64 { return e.P.FailoverServed()[service] }

func TestFailoverPrimaryAnswersAndWins(t *testing.T) {
	e := newFailoverEnv(t)
	for i := range 2 {
		resp, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials"))
		if err != nil {
			t.Fatal(err)
		}
		if got := mountenv.Files(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-east" {
			t.Fatalf("Mount %d: file %q, want the primary region's value", i, got)
		}
		if got, want := mountenv.Versions(resp)["VCS.GithubAdminPAT"], primaryRegion+"/"+e.eastVersion; got != want {
			t.Errorf("Mount %d: version %q, want %q (the region that served it)", i, got, want)
		}
	}
	if got := e.AWS.Front.RegionCounts(failoverRegion); len(got) != 0 {
		t.Errorf("the failover region was called while the primary answered: %v", got)
	}
	if got := e.AWS.Front.CountIn(primaryRegion, getSecretValue); got != 1 {
		t.Errorf("%d GetSecretValue in the primary for two Mounts, want 1 (cached)", got)
	}
	if got := e.served("Secrets Manager"); got != 0 {
		t.Errorf("failover served %v, want 0", got)
	}
}

func TestFailoverServesWhileThePrimaryIsOut(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault awsemu.Fault
	}{
		{"503", awsemu.Fault{Status: 503, Code: "ServiceUnavailable"}},
		{"500", awsemu.Fault{Status: 500, Code: "InternalServiceError"}},
		{"throttled past the retries", awsemu.Fault{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}},
		{"hung", awsemu.Fault{Delay: awsemu.Hang}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newFailoverEnv(t)
			logs := logcapture.Klog(t, 10)
			e.regionOutage(primaryRegion, getSecretValue, tt.fault)
			for i := range 3 { // a new pod, then its republishes
				resp, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials"))
				if err != nil {
					t.Fatalf("Mount %d with the primary region out: %v; want the failover region's value", i, err)
				}
				if got := mountenv.Files(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-west" {
					t.Fatalf("Mount %d: file %q, want the failover region's value", i, got)
				}
				if got, want := mountenv.Versions(resp)["VCS.GithubAdminPAT"], failoverRegion+"/"+e.westVersion; got != want {
					t.Errorf("Mount %d: version %q, want %q", i, got, want)
				}
			}
			// One read, kept for the short window; the identity's
			// credentials there come from an STS exchange of their own
			// (the front cannot tell an unsigned STS call's region: the
			// credentials cache tells the two exchanges apart).
			if got := e.AWS.Front.CountIn(failoverRegion, getSecretValue); got != 1 {
				t.Errorf("%d GetSecretValue in the failover region, want 1", got)
			}
			if got := e.P.CacheStats()["credentials"].Misses; got != 2 {
				t.Errorf("%v credential exchanges, want 2: one per region", got)
			}
			if got := e.served("Secrets Manager"); got != 1 {
				t.Errorf("failover served (Secrets Manager) %v, want 1", got)
			}
			e.LoggedOnce(logs, "the failover region serves secret PMP-Production-Credentials",
				`region="us-east-1"`, `failoverRegion="us-west-2"`, `namespace="pmp"`, `serviceAccount="pmp-secrets-access"`, `reason=`)
		})
	}
}

// TestFailoverRemembersThePrimaryOutage: of two objects in a region that
// is out, only the first waits for the primary: the second goes to the
// failover region at once.
func TestFailoverRemembersThePrimaryOutage(t *testing.T) {
	e := newFailoverEnv(t)
	e.PutSecret("PMP-Other", "east-other")
	e.putSecretWest("PMP-Other", "west-other")
	e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Delay: awsemu.Hang})
	resp, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials\n- {objectName: PMP-Other, objectAlias: other}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp)["other"]; got != "west-other" {
		t.Errorf("other = %q, want the failover region's", got)
	}
	if got := e.AWS.Front.CountIn(failoverRegion, getSecretValue); got != 2 {
		t.Errorf("%d GetSecretValue in the failover region, want 2 (one per object)", got)
	}
	before := e.AWS.Front.CountIn(primaryRegion, getSecretValue)
	e.PutSecret("PMP-Third", "east-third")
	e.putSecretWest("PMP-Third", "west-third")
	if _, err := e.Mount(e.failoverReq("- {objectName: PMP-Third, objectAlias: third}")); err != nil {
		t.Fatal(err)
	}
	if got := e.AWS.Front.CountIn(primaryRegion, getSecretValue); got != before {
		t.Errorf("a third object during the remembered outage called the primary %d times, want none", got-before)
	}
}

func TestFailoverNeverPapersOverARefusal(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault *awsemu.Fault // nil: the secret is missing in the primary
		kind  mounterr.Kind
		want  string
	}{
		{"not found", nil, mounterr.NotFound, "was not found in region us-east-1"},
		{"access denied", &awsemu.Fault{Status: 400, Code: "AccessDeniedException", Message: "not authorized"}, mounterr.Denied, "access to secret PMP-Only-West in us-east-1 was denied"},
		{"bad request", &awsemu.Fault{Status: 400, Code: "InvalidParameterException", Message: "bad"}, mounterr.Invalid, "Secrets Manager rejected the request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newFailoverEnv(t)
			e.putSecretWest("PMP-Only-West", "west")
			if tt.fault != nil {
				e.PutSecret("PMP-Only-West", "east")
				e.regionOutage(primaryRegion, getSecretValue, *tt.fault)
			}
			_, err := e.Mount(e.failoverReq("- {objectName: PMP-Only-West, objectAlias: x}"))
			if mounterr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Mount: %v; want %s saying %q", err, tt.kind, tt.want)
			}
			if got := e.AWS.Front.RegionCounts(failoverRegion); len(got) != 0 {
				t.Errorf("a refusal of the primary region was sent to the failover region: %v", got)
			}
		})
	}
}

func TestFailoverPrimaryWinsAgainAfterTheWindow(t *testing.T) {
	e := newFailoverEnv(t)
	// secretTTL 1s: a value the failover region served is kept 1s.
	objects := "- {objectName: PMP-Production-Credentials, secretTTL: 1s}"
	e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	resp, err := e.Mount(e.failoverReq(objects))
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Versions(resp)["VCS.GithubAdminPAT"]; got != failoverRegion+"/"+e.westVersion {
		t.Fatalf("during the outage: version %q", got)
	}
	e.AWS.Front.Clear()
	time.Sleep(1100 * time.Millisecond) // the failover region's value and the remembered outage end
	resp, err = e.Mount(e.failoverReq(objects))
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-east" {
		t.Errorf("after the outage: file %q, want the primary region's value", got)
	}
	if got, want := mountenv.Versions(resp)["VCS.GithubAdminPAT"], primaryRegion+"/"+e.eastVersion; got != want {
		t.Errorf("after the outage: version %q, want %q: the driver rewrites the files", got, want)
	}
}

func TestFailoverBothRegionsDown(t *testing.T) {
	down := func(e *failoverEnv) {
		e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
		e.regionOutage(failoverRegion, getSecretValue, awsemu.Fault{Status: 500, Code: "InternalServiceError"})
	}
	t.Run("strict", func(t *testing.T) {
		e := newFailoverEnv(t)
		down(e)
		_, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials"))
		if mounterr.KindOf(err) != mounterr.Transient {
			t.Fatalf("both regions down: %v; want Transient", err)
		}
		for _, w := range []string{"in either region", "in its region us-east-1", "ServiceUnavailable", "in the failover region us-west-2", "InternalServiceError", "transient"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	})
	// staleEnv holds a value the primary served, past its 1s freshness,
	// kept an hour for an outage.
	staleEnv := func(t *testing.T) *failoverEnv {
		e := newFailoverEnv(t, func(o *provider.Options) { o.SecretTTL, o.StaleIfError = time.Second, time.Hour })
		if _, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // the freshness window ends
		return e
	}
	t.Run("stale-if-error", func(t *testing.T) {
		e := staleEnv(t)
		down(e)
		resp, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials"))
		if err != nil {
			t.Fatalf("both regions down with a value fetched before: %v; want it served stale", err)
		}
		if got := mountenv.Files(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-east" {
			t.Errorf("file %q, want the last good value", got)
		}
		if got := e.P.CacheStats()["secrets"].Stale; got != 1 {
			t.Errorf("stale served %v, want 1", got)
		}
	})
	t.Run("the failover region answers: no stale value", func(t *testing.T) {
		e := staleEnv(t)
		e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
		resp, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials"))
		if err != nil {
			t.Fatal(err)
		}
		if got := mountenv.Files(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-west" {
			t.Errorf("file %q, want the failover region's current value before a stale one", got)
		}
	})
}

func TestFailoverObjectByARN(t *testing.T) {
	e := newFailoverEnv(t)
	ctx := context.Background()
	east, err := e.AWS.Admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("PMP-By-ARN"), SecretString: aws.String("east-arn")})
	if err != nil {
		t.Fatal(err)
	}
	west, err := e.west.Admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("PMP-By-ARN-Replica"), SecretString: aws.String("west-arn")})
	if err != nil {
		t.Fatal(err)
	}
	eastARN, westARN := aws.ToString(east.ARN), aws.ToString(west.ARN)
	if !strings.Contains(westARN, ":"+failoverRegion+":") {
		t.Fatalf("the failover region's ARN %s does not name it", westARN)
	}
	r := e.failoverReq("- objectName: " + eastARN + "\n  objectAlias: db\n  failoverObject:\n    objectName: " + westARN)
	delete(r.Parameters, "region") // the ARN names its region
	resp, err := e.Mount(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp)["db"]; got != "east-arn" {
		t.Fatalf("db = %q, want the primary's", got)
	}
	e.regionOutage(arnRegion(eastARN), getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	r.Parameters["objects"] += "\n  secretTTL: 2s" // a new cache entry
	resp, err = e.Mount(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp)["db"]; got != "west-arn" {
		t.Errorf("db = %q during the outage, want the failoverObject's value, under the same file name", got)
	}
	if got := mountenv.Versions(resp)["db"]; !strings.HasPrefix(got, failoverRegion+"/") {
		t.Errorf("version %q, want it to name %s", got, failoverRegion)
	}
}

// arnRegion is the region an ARN names.
func arnRegion(arn string) string { return strings.Split(arn, ":")[3] }

func TestFailoverParameters(t *testing.T) {
	e := newFailoverEnv(t)
	ctx := context.Background()
	put := func(c *awsssm.Client, name, value string) {
		t.Helper()
		if _, err := c.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(value), Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	put(e.AWS.SSM, "/pmp/db/password", "east-db")
	put(e.AWS.SSM, "/pmp/db/user", "east-user")
	put(e.west.SSM, "/pmp/db/password", "west-db")
	put(e.west.SSM, "/pmp-west/db/user", "west-user")
	objects := `
- {objectName: /pmp/db/password, objectType: ssmparameter, objectAlias: password}
- {objectName: /pmp/db/user, objectType: ssmparameter, objectAlias: user, failoverObject: {objectName: /pmp-west/db/user}}
`
	resp, err := e.Mount(e.failoverReq(objects))
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp); got["password"] != "east-db" || got["user"] != "east-user" {
		t.Fatalf("files %v, want the primary's", got)
	}
	if got := mountenv.Versions(resp)["password"]; got != primaryRegion+"/1" {
		t.Errorf("version %q, want %s/1", got, primaryRegion)
	}
	if got := e.AWS.Front.RegionCounts(failoverRegion); len(got) != 0 {
		t.Errorf("the failover region was called while the primary answered: %v", got)
	}

	t.Run("primary refuses", func(t *testing.T) {
		before := e.AWS.Front.CountIn(failoverRegion, awsemu.OpGetParameters)
		_, err := e.Mount(e.failoverReq("- {objectName: /pmp/missing, objectType: ssmparameter, objectAlias: m}"))
		if mounterr.KindOf(err) != mounterr.NotFound || !strings.Contains(err.Error(), "not found in region us-east-1") {
			t.Fatalf("a parameter missing in the primary: %v; want NotFound", err)
		}
		if got := e.AWS.Front.CountIn(failoverRegion, awsemu.OpGetParameters); got != before {
			t.Errorf("a refusal of the primary was sent to the failover region")
		}
	})
	t.Run("primary out", func(t *testing.T) {
		e.regionOutage(primaryRegion, awsemu.OpGetParameters, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
		defer e.AWS.Front.Clear()
		resp, err := e.Mount(e.failoverReq(strings.ReplaceAll(objects, "}\n", ", secretTTL: 2s}\n"))) // a new batch
		if err != nil {
			t.Fatal(err)
		}
		if got := mountenv.Files(resp); got["password"] != "west-db" || got["user"] != "west-user" {
			t.Errorf("files %v, want the failover region's (the user from its failoverObject)", got)
		}
		if got := mountenv.Versions(resp)["user"]; got != failoverRegion+"/1" {
			t.Errorf("version %q, want %s/1", got, failoverRegion)
		}
		if got := e.AWS.Front.CountIn(failoverRegion, awsemu.OpGetParameters); got != 1 {
			t.Errorf("%d GetParameters in the failover region, want 1 (one batch)", got)
		}
		if got := e.served("SSM"); got != 1 {
			t.Errorf("failover served (SSM) %v, want 1", got)
		}
	})
}

// TestFailoverKeepsIdentitiesApart: what the failover region served one
// service account is never served to another.
func TestFailoverKeepsIdentitiesApart(t *testing.T) {
	e := newFailoverEnv(t)
	e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	if _, err := e.Mount(e.failoverReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	r := e.failoverReq("- objectName: PMP-Production-Credentials")
	r.Namespace, r.ServiceAccount = "other", "copycat"
	if _, err := e.Mount(r); err != nil {
		t.Fatal(err)
	}
	if got := e.AWS.Front.CountIn(failoverRegion, getSecretValue); got != 2 {
		t.Errorf("%d GetSecretValue in the failover region, want 2: the other identity reads it as itself", got)
	}
}

// TestFailoverRegionOfTheProvider: with no region parameter, the objects
// are read in the provider's AWS_REGION; a failoverRegion equal to it is
// refused at Mount time, for secrets and parameters alike.
func TestFailoverRegionOfTheProvider(t *testing.T) {
	e := newFailoverEnv(t)
	for _, objects := range []string{"- objectName: PMP-Production-Credentials", "- {objectName: /pmp/db/password, objectType: ssmparameter}"} {
		r := e.Req(objects)
		r.Parameters["failoverRegion"] = mountenv.Region
		_, err := e.Mount(r)
		if mounterr.KindOf(err) != mounterr.Invalid || !strings.Contains(err.Error(), "is read in region eu-west-1 (the provider's AWS_REGION") ||
			!strings.Contains(err.Error(), "which is the failoverRegion") {
			t.Errorf("%s: %v; want Invalid naming the region and the failoverRegion", objects, err)
		}
	}
	if got := e.AWS.Front.Total(); got != 0 {
		t.Errorf("%d AWS calls for a refused Mount", got)
	}
}

// TestFailoverOneIdentitysTroubleIsNotAnothers: two tenants on one node,
// both with a failoverRegion. Tenant A's trouble (its credential step
// failing, then an outage its own data call found) must not send tenant
// B, whose primary answers, to the failover region, and B's Mount error
// (the pod's events) must never name A's secret, account, role or error.
// B's secret has no replica: had B been sent to the failover region, its
// Mount would fail with the failover region's answer.
func TestFailoverOneIdentitysTroubleIsNotAnothers(t *testing.T) {
	e := newFailoverEnv(t)
	const roleA = "arn:aws:iam::111111111111:role/tenant-a"
	e.Kube.PutServiceAccount("tenant-a", "app", roleA)
	e.PutSecret("tenant-a-db", "east-a")
	e.putSecretWest("tenant-a-db", "west-a")
	// B's secrets have no replica in the failover region; one per phase,
	// so B's second Mount is not answered from its cache.
	e.PutSecret("tenant-b-db", "east-b")
	e.PutSecret("tenant-b-db2", "east-b")
	a := e.failoverReq("- {objectName: tenant-a-db, objectAlias: db}")
	a.Namespace, a.ServiceAccount, a.PodName, a.PodUID = "tenant-a", "app", "a-0", "0b0e3c1e-0000-4000-8000-00000000000a"
	mountB := func(secret, after string) {
		t.Helper()
		before := e.AWS.Front.CountIn(primaryRegion, getSecretValue)
		resp, err := e.Mount(e.failoverReq("- {objectName: " + secret + ", objectAlias: db}"))
		if err != nil {
			for _, name := range []string{"tenant-a", "111111111111", "found out"} {
				if strings.Contains(err.Error(), name) {
					t.Errorf("after %s, B's Mount error names %q, of A's trouble: %v", after, name, err)
				}
			}
			t.Fatalf("after %s, B's Mount failed: %v; want its primary's value", after, err)
		}
		if got := mountenv.Files(resp)["db"]; got != "east-b" {
			t.Errorf("after %s, B's file is %q, want its primary's value", after, got)
		}
		if got := e.AWS.Front.CountIn(primaryRegion, getSecretValue) - before; got != 1 {
			t.Errorf("after %s, B's Mount asked its primary %d times, want once", after, got)
		}
	}

	// A's credential step fails: STS does not answer (the front cannot
	// tell an unsigned STS call's region: both of A's exchanges fail).
	e.AWS.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 503, Code: "ServiceUnavailable"})
	if _, err := e.Mount(a); err == nil {
		t.Fatal("A's Mount succeeded without credentials")
	}
	e.AWS.Front.Clear()
	mountB("tenant-b-db", "A's credential step failed")

	// A's own data call finds its primary out, and A fails over.
	e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	resp, err := e.Mount(a)
	if err != nil {
		t.Fatalf("A's Mount with its primary out: %v", err)
	}
	if got := mountenv.Files(resp)["db"]; got != "west-a" {
		t.Fatalf("A's file is %q, want the failover region's", got)
	}
	e.AWS.Front.Clear()
	mountB("tenant-b-db2", "A's primary was found out")
}

// An optional object is left out only when its own region answers that
// it does not exist: the failover region is not asked. When the primary
// is out and the failover region does not hold it, the Mount fails as
// without optional: an outage never empties a file.
func TestFailoverOptionalObject(t *testing.T) {
	objects := "- objectName: PMP-Production-Credentials\n- {objectName: PMP-Storage, objectAlias: storage, optional: true}"
	t.Run("missing in the primary", func(t *testing.T) {
		e := newFailoverEnv(t)
		e.putSecretWest("PMP-Storage", "west")
		res, err := e.Mount(e.failoverReq(objects))
		if err != nil {
			t.Fatal(err)
		}
		if got := mountenv.Files(res); len(got) != 1 || got["VCS.GithubAdminPAT"] != "VALUE-SENTINEL-east" {
			t.Errorf("files %v, want the primary's credential alone", got)
		}
		if len(res.Skipped) != 1 || res.Skipped[0].String() != "secret PMP-Storage" {
			t.Errorf("skipped %v, want secret PMP-Storage", res.Skipped)
		}
		if got := e.AWS.Front.RegionCounts(failoverRegion); len(got) != 0 {
			t.Errorf("the failover region was called: %v", got)
		}
	})
	t.Run("the primary out, missing in the failover region", func(t *testing.T) {
		e := newFailoverEnv(t)
		e.PutSecret("PMP-Storage", "east")
		e.regionOutage(primaryRegion, getSecretValue, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
		res, err := e.Mount(e.failoverReq(objects))
		if mounterr.KindOf(err) != mounterr.Transient || !strings.Contains(err.Error(), "secret PMP-Storage could not be read in either region") {
			t.Fatalf("Mount: %v; want Transient naming PMP-Storage and both regions", err)
		}
		if len(mountenv.Files(res)) != 0 {
			t.Errorf("files %v from a failed Mount", mountenv.Files(res))
		}
	})
}
