package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

var (
	errOutage  = errors.New("ServiceUnavailable")
	errRefused = errors.New("ResourceNotFoundException")
)

// regions is a source per region whose answers the test sets, counting
// its calls.
type regions struct {
	calls   map[string]int
	answers map[string]error
	// deadlines are the time each region's last call had.
	deadlines map[string]time.Duration
	now       time.Time
}

func newRegions() *regions {
	return &regions{calls: map[string]int{}, answers: map[string]error{}, deadlines: map[string]time.Duration{}, now: time.Unix(1e9, 0)}
}

func (r *regions) source(region string) Source[string] {
	return Source[string]{Region: region, Load: func(ctx context.Context) (string, time.Duration, error) {
		r.calls[region]++
		if d, ok := ctx.Deadline(); ok {
			r.deadlines[region] = time.Until(d)
		}
		if err := r.answers[region]; err != nil {
			return "", time.Second, err // a refusal's ttl: the negative entry
		}
		return "value from " + region, time.Minute, nil
	}}
}

func (r *regions) read() Read[string, string] {
	return Read[string, string]{Key: "k", What: "secret S", Primary: r.source("us-east-1"), Failover: r.source("us-west-2"), Window: 10 * time.Second}
}

func (r *regions) regions() *Regions[string] {
	return New[string]("Secrets Manager", func(err error) bool { return errors.Is(err, errOutage) }, func() time.Time { return r.now })
}

func TestPrimaryAnswers(t *testing.T) {
	r := newRegions()
	v, ttl, err := Do(context.Background(), r.regions(), r.read())
	if err != nil || v != "value from us-east-1" || ttl != time.Minute {
		t.Fatalf("Do() = %q, %s, %v; want the primary's value and freshness", v, ttl, err)
	}
	if r.calls["us-west-2"] != 0 {
		t.Error("the failover region was asked while the primary answered")
	}
}

func TestARefusalIsTheAnswer(t *testing.T) {
	r := newRegions()
	r.answers["us-east-1"] = errRefused
	_, ttl, err := Do(context.Background(), r.regions(), r.read())
	if !errors.Is(err, errRefused) || ttl != time.Second {
		t.Fatalf("Do() = %s, %v; want the primary's refusal, remembered as it says", ttl, err)
	}
	if r.calls["us-west-2"] != 0 {
		t.Error("a refusal of the primary was sent to the failover region")
	}
}

func TestAnOutageFailsOverForAWindow(t *testing.T) {
	r := newRegions()
	regs := r.regions()
	r.answers["us-east-1"] = errOutage
	v, ttl, err := Do(context.Background(), regs, r.read())
	if err != nil || v != "value from us-west-2" || ttl != 10*time.Second {
		t.Fatalf("Do() = %q, %s, %v; want the failover's value, kept for the window only", v, ttl, err)
	}
	if regs.Served() != 1 {
		t.Errorf("Served() = %d, want 1", regs.Served())
	}
	// Within the window, another object of the region goes to the
	// failover region at once.
	r.now = r.now.Add(9 * time.Second)
	other := r.read()
	other.Key = "other"
	if _, _, err := Do(context.Background(), regs, other); err != nil {
		t.Fatal(err)
	}
	if r.calls["us-east-1"] != 1 {
		t.Errorf("the primary was asked %d times within the remembered outage, want once", r.calls["us-east-1"])
	}
	// After it, the primary is asked again, and wins.
	r.now = r.now.Add(2 * time.Second)
	r.answers["us-east-1"] = nil
	v, _, err = Do(context.Background(), regs, r.read())
	if err != nil || v != "value from us-east-1" {
		t.Fatalf("after the window: %q, %v; want the primary's value", v, err)
	}
}

func TestThePrimaryHasHalfTheTimeLeft(t *testing.T) {
	r := newRegions()
	r.answers["us-east-1"] = errOutage
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := Do(ctx, r.regions(), r.read()); err != nil {
		t.Fatal(err)
	}
	if got := r.deadlines["us-east-1"]; got > 5*time.Second || got < 4*time.Second {
		t.Errorf("the primary had %s of 10s, want half", got)
	}
	if got := r.deadlines["us-west-2"]; got < 9*time.Second {
		t.Errorf("the failover region had %s, want the rest of the 10s", got)
	}
}

func TestBothRegionsFail(t *testing.T) {
	r := newRegions()
	r.answers["us-east-1"] = errOutage
	r.answers["us-west-2"] = errRefused
	_, ttl, err := Do(context.Background(), r.regions(), r.read())
	if mounterr.KindOf(err) != mounterr.Transient || ttl != 0 || !errors.Is(err, errOutage) {
		t.Fatalf("Do() = %s, %v; want a transient error, not remembered, that is the primary's outage", ttl, err)
	}
	for _, w := range []string{"secret S could not be read in either region", "us-east-1: ServiceUnavailable", "failover region us-west-2: ResourceNotFoundException"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// tenant is one identity's read of its own secret: its primary's answer is
// the test's, its failover region answers with failoverErr (nil: a value).
type tenant struct {
	reader, arn string
	primaryErr  error
	failoverErr error
	primary     int
}

func (tn *tenant) read() Read[string, string] {
	return Read[string, string]{
		Key: tn.reader + "/" + tn.arn, Reader: identity.Key{RoleARN: tn.reader}, What: "secret " + tn.arn, Window: 10 * time.Second,
		Primary: Source[string]{Region: "us-east-1", Load: func(context.Context) (string, time.Duration, error) {
			tn.primary++
			if tn.primaryErr != nil {
				return "", 0, tn.primaryErr
			}
			return "primary value of " + tn.reader, time.Minute, nil
		}},
		Failover: Source[string]{Region: "us-west-2", Load: func(context.Context) (string, time.Duration, error) {
			if tn.failoverErr != nil {
				return "", 0, tn.failoverErr
			}
			return "replica value of " + tn.reader, time.Minute, nil
		}},
	}
}

// tenantA's outage names its secret, account and role, as AWS's errors do.
func tenantA(primaryErr error) *tenant {
	return &tenant{reader: "role/tenant-a", arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:tenant-a-db", primaryErr: primaryErr}
}

func tenantAOutage() error {
	return fmt.Errorf("GetSecretValue of arn:aws:secretsmanager:us-east-1:111111111111:secret:tenant-a-db as arn:aws:iam::111111111111:role/tenant-a: %w", errOutage)
}

func TestOneIdentitysOutageDoesNotSendAnotherToFailover(t *testing.T) {
	r := newRegions()
	regs := r.regions()
	a := tenantA(tenantAOutage())
	if v, _, err := Do(context.Background(), regs, a.read()); err != nil || v != "replica value of role/tenant-a" {
		t.Fatalf("A with its primary out: %q, %v; want its replica", v, err)
	}
	b := &tenant{reader: "role/tenant-b", arn: "arn:aws:secretsmanager:us-east-1:222222222222:secret:tenant-b-db"}
	v, _, err := Do(context.Background(), regs, b.read())
	if err != nil || v != "primary value of role/tenant-b" || b.primary != 1 {
		t.Fatalf("B within A's remembered outage: %q, %v, primary asked %d times; want its healthy primary's value", v, err, b.primary)
	}
	// A's own outage is still remembered for A.
	if _, _, err := Do(context.Background(), regs, a.read()); err != nil || a.primary != 1 {
		t.Errorf("A within its own remembered outage asked its primary %d times (err %v), want once", a.primary, err)
	}
}

func TestACredentialStepFailureIsNotTheRegionsOutage(t *testing.T) {
	r := newRegions()
	regs := r.regions()
	// The Pod Identity Agent does not answer, or A's account is throttled
	// at STS: the credential step fails with an outage.
	a := tenantA(&identity.CredentialsError{Err: tenantAOutage()})
	v, _, err := Do(context.Background(), regs, a.read())
	if err != nil || v != "replica value of role/tenant-a" {
		t.Fatalf("A without credentials in its primary: %q, %v; want its replica (its credentials there are its own)", v, err)
	}
	a.primaryErr = nil
	if v, _, err := Do(context.Background(), regs, a.read()); err != nil || v != "primary value of role/tenant-a" || a.primary != 2 {
		t.Errorf("A after its credential step failed: %q, %v, primary asked %d times; want the primary asked again (the region was not marked out)", v, err, a.primary)
	}
	b := &tenant{reader: "role/tenant-b", arn: "arn:aws:secretsmanager:us-east-1:222222222222:secret:tenant-b-db"}
	a.primaryErr = &identity.CredentialsError{Err: tenantAOutage()}
	if _, _, err := Do(context.Background(), regs, a.read()); err != nil {
		t.Fatal(err)
	}
	if v, _, err := Do(context.Background(), regs, b.read()); err != nil || v != "primary value of role/tenant-b" {
		t.Errorf("B after A's credential step failed: %q, %v; want its primary's value", v, err)
	}
}

func TestAnErrorNeverNamesAnotherIdentity(t *testing.T) {
	r := newRegions()
	regs := r.regions()
	a := tenantA(tenantAOutage())
	a.failoverErr = errRefused
	if _, _, err := Do(context.Background(), regs, a.read()); err == nil || !strings.Contains(err.Error(), "111111111111") {
		t.Fatalf("A's own error %v does not name its own failure", err)
	}
	// B's region answers B with its own outage, and B's replica is
	// missing: B's error is B's alone.
	b := &tenant{reader: "role/tenant-b", arn: "arn:aws:secretsmanager:us-east-1:222222222222:secret:tenant-b-db",
		primaryErr: fmt.Errorf("GetSecretValue of tenant-b-db: %w", errOutage), failoverErr: errRefused}
	_, _, err := Do(context.Background(), regs, b.read())
	if err == nil {
		t.Fatal("B's read succeeded, want its own failure")
	}
	for _, name := range []string{"111111111111", "tenant-a", "found out"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("B's error %q names %q, of A's outage", err, name)
		}
	}
	if !strings.Contains(err.Error(), "tenant-b-db") {
		t.Errorf("B's error %q does not name its own failure", err)
	}
}
