// Package awsemu is the AWS side of every test: it runs the kumo emulator
// (STS, Secrets Manager, Parameter Store; pinned in tools/kumo, built by tools/build.sh) as a
// child process on a loopback port, and puts a front before it that counts
// calls by operation and can answer in the emulator's place with the faults
// a real AWS account produces and an emulator cannot (throttling, 5xx,
// AccessDenied, a refused web identity). For Parameter Store it also
// stands in for what kumo lacks: version history and labels
// (ParameterVersion) and GetParameters' limit of ten names.
//
// Unit and integration tests, the demo, the e2e cluster (through
// dev/awsfront) and the benchmark harness all use it; the front never talks
// to anything but its upstream.
package awsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault is an answer the front gives instead of forwarding.
type Fault struct {
	// Operation limits the fault to one operation, as "service:Action"
	// (e.g. "secretsmanager:GetSecretValue"); empty matches every call.
	Operation string `json:"operation,omitempty"`
	// Status is the HTTP status to answer with (e.g. 503, 400).
	Status int `json:"status"`
	// Code is the AWS error code (e.g. "ThrottlingException").
	Code string `json:"code"`
	// Message is the AWS error message.
	Message string `json:"message,omitempty"`
	// Until ends the fault; zero means until cleared.
	Until time.Time `json:"until,omitzero"`
	// Times limits the fault to this many answers; zero means no limit.
	Times int `json:"times,omitempty"`
	// Delay holds the call this long before it is answered: with Status,
	// by the fault; without, by the upstream (AWS slow, not failing). A
	// client that gives up first gets no answer at all: a very long Delay
	// is AWS hung, accepting calls and never answering.
	Delay time.Duration `json:"delay,omitempty"`
	// Probability makes the fault answer only this fraction of the calls
	// it matches, at random (0.05: one in twenty); zero means every call.
	// A call it lets pass is matched against the faults after it.
	Probability float64 `json:"probability,omitempty"`
	// Region limits the fault to calls signed for one region (an outage of
	// us-east-1 while us-west-2 answers); empty matches every region.
	Region string `json:"region,omitempty"`
}

// Hang is a Delay long enough that no client waits it out.
const Hang = time.Hour

// Trust is the part of an IRSA role's trust policy STS enforces on
// AssumeRoleWithWebIdentity: the web identity token's sub must be one of
// Subjects (system:serviceaccount:NAMESPACE:NAME) and its aud must hold
// Audience (default sts.amazonaws.com). The emulator accepts any token for
// any role; with a Trust for a role the front answers AccessDenied, as STS
// does, to a token the policy does not name.
type Trust struct {
	Role     string   `json:"role"`
	Subjects []string `json:"subjects"`
	Audience string   `json:"audience,omitempty"`
}

// Front forwards to an upstream AWS endpoint, counting and injecting faults.
// With Route, calls signed for another region go to that region's own
// upstream: one emulator per region, as AWS has one service per region.
type Front struct {
	home route
	now  func() time.Time

	mu     sync.Mutex
	routes map[string]route // by signing region; others go home
	counts map[string]int64
	// regionCounts are counts by signing region, then "service:Action".
	regionCounts map[string]map[string]int64
	faults       []*Fault
	trust        map[string]Trust      // by role ARN
	forms        map[string]url.Values // last query-protocol form per operation
	// paramVersions are Parameter Store versions served in the
	// emulator's place (ssm.go), by parameter name.
	paramVersions map[string][]ParameterVersion
	// quotas are the operations' rate quotas (quota.go), by
	// "service:Action"; throttled counts the calls answered past them.
	quotas    map[string]*bucket
	throttled map[string]int64
}

// NewFront returns a front that forwards to upstream.
func NewFront(upstream *url.URL) *Front {
	return &Front{
		home:         newRoute(upstream),
		now:          time.Now,
		counts:       map[string]int64{},
		regionCounts: map[string]map[string]int64{},
		forms:        map[string]url.Values{},
	}
}

// route is one upstream emulator.
type route struct {
	proxy    *httputil.ReverseProxy
	upstream *url.URL
}

func newRoute(upstream *url.URL) route {
	return route{proxy: httputil.NewSingleHostReverseProxy(upstream), upstream: upstream}
}

// Route sends calls signed for region to upstream instead of the front's
// own upstream.
func (f *Front) Route(region string, upstream *url.URL) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.routes == nil {
		f.routes = map[string]route{}
	}
	f.routes[region] = newRoute(upstream)
}

func (f *Front) routeFor(region string) route {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rt, ok := f.routes[region]; ok {
		return rt
	}
	return f.home
}

// signingRegion is the region a SigV4 request is signed for, from the
// credential scope of its Authorization header
// ("Credential=AKID/20261202/us-west-2/secretsmanager/aws4_request");
// empty when it is not signed.
func signingRegion(r *http.Request) string {
	_, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ = strings.Cut(scope, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

// ServeHTTP counts the call, then answers with a matching fault or forwards.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, form, err := identify(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if form != nil {
		f.mu.Lock()
		f.forms[op.String()] = form
		f.mu.Unlock()
	}
	region := signingRegion(r)
	rt := f.routeFor(region)
	if fault := f.record(op.String(), region); fault != nil {
		if fault.Delay > 0 {
			// Read the body first: only then does the server notice a
			// client that gives up, and end r's context.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			t := time.NewTimer(fault.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done(): // the client gave up: it gets nothing
				t.Stop()
				return
			}
		}
		if fault.Status != 0 {
			writeFault(w, op, fault)
			return
		}
	}
	if op.String() == OpGetParameters {
		f.getParameters(w, r, op, rt.upstream)
		return
	}
	if op.String() == "sts:AssumeRoleWithWebIdentity" {
		if fault := f.untrusted(form); fault != nil {
			writeFault(w, op, fault)
			return
		}
	}
	rt.proxy.ServeHTTP(w, r)
}

// SetTrust makes the front enforce t for t.Role, replacing any before.
func (f *Front) SetTrust(t Trust) {
	if t.Audience == "" {
		t.Audience = "sts.amazonaws.com"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.trust == nil {
		f.trust = map[string]Trust{}
	}
	f.trust[t.Role] = t
}

// RemoveTrust stops enforcing role's trust policy; the others stay.
func (f *Front) RemoveTrust(role string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.trust, role)
}

// ClearTrust stops enforcing trust policies.
func (f *Front) ClearTrust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trust = nil
}

// untrusted returns the AccessDenied STS answers when the role has a
// trust policy that the web identity token's claims do not meet. Like STS
// after its signature check, it reads the claims; the provider has
// verified the signature before sending the token.
func (f *Front) untrusted(form url.Values) *Fault {
	f.mu.Lock()
	t, ok := f.trust[form.Get("RoleArn")]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	deny := &Fault{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	claims, ok := tokenClaims(form.Get("WebIdentityToken"))
	if !ok {
		return &Fault{Status: http.StatusBadRequest, Code: "InvalidIdentityToken", Message: "Couldn't parse the web identity token"}
	}
	if !slices.Contains(t.Subjects, claims.Sub) || !slices.Contains(claims.Aud, t.Audience) {
		return deny
	}
	return nil
}

type claims struct {
	Sub string
	Aud []string
}

// tokenClaims reads sub and aud (a string or a list) of a JWT, unverified.
func tokenClaims(token string) (claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, false
	}
	var raw struct {
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &raw) != nil {
		return claims{}, false
	}
	c := claims{Sub: raw.Sub}
	var one string
	if json.Unmarshal(raw.Aud, &one) == nil {
		c.Aud = []string{one}
	} else if json.Unmarshal(raw.Aud, &c.Aud) != nil {
		return claims{}, false
	}
	return c, true
}

// record counts op, signed for region, and returns the fault to answer
// with, if any: past op's quota, ThrottlingException.
func (f *Front) record(op, region string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[op]++
	if f.regionCounts[region] == nil {
		f.regionCounts[region] = map[string]int64{}
	}
	f.regionCounts[region][op]++
	now := f.now()
	if f.overQuotaLocked(op, now) {
		c := throttling
		return &c
	}
	for i, fl := range f.faults {
		if !fl.Until.IsZero() && now.After(fl.Until) {
			continue
		}
		if fl.Operation != "" && fl.Operation != op {
			continue
		}
		if fl.Region != "" && fl.Region != region {
			continue
		}
		if fl.Probability > 0 && rand.Float64() >= fl.Probability {
			continue
		}
		c := *fl
		if fl.Times > 0 {
			if fl.Times--; fl.Times == 0 {
				f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}

// LastForm returns the form of the last query-protocol (STS) call of op,
// e.g. to read the RoleSessionName a test's provider sent. It may hold a
// token: tests read single fields, never print it whole.
func (f *Front) LastForm(op string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forms[op]
}

// Inject adds a fault; faults are matched in the order they were added.
func (f *Front) Inject(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault)
}

// Clear removes every fault.
func (f *Front) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Counts returns the calls seen so far, by "service:Action".
func (f *Front) Counts() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Count returns the calls seen so far for one "service:Action".
func (f *Front) Count(op string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// CountIn returns the calls seen so far for one "service:Action" signed
// for region.
func (f *Front) CountIn(region, op string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regionCounts[region][op]
}

// RegionCounts returns the calls seen so far signed for region, by
// "service:Action".
func (f *Front) RegionCounts(region string) map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.regionCounts[region]))
	for k, v := range f.regionCounts[region] {
		out[k] = v
	}
	return out
}

// Total returns all calls seen so far.
func (f *Front) Total() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, v := range f.counts {
		n += v
	}
	return n
}

// ResetCounts sets every count back to zero.
func (f *Front) ResetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = map[string]int64{}
	f.regionCounts = map[string]map[string]int64{}
	f.throttled = nil
}

// Operations returns the operation names seen so far, sorted.
func (f *Front) Operations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := make([]string, 0, len(f.counts))
	for k := range f.counts {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	return ops
}
