// Package awsemu is the AWS side of every test: it runs the kumo emulator
// (STS, Secrets Manager; pinned in tools/kumo, built by tools/build.sh) as a
// child process on a loopback port, and puts a front before it that counts
// calls by operation and can answer in the emulator's place with the faults
// a real AWS account produces and an emulator cannot (throttling, 5xx,
// AccessDenied, a refused web identity).
//
// Unit and integration tests, the demo, the e2e cluster (through
// dev/awsfront) and the benchmark harness all use it; the front never talks
// to anything but its upstream.
package awsemu

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
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
}

// Front forwards to an upstream AWS endpoint, counting and injecting faults.
type Front struct {
	proxy *httputil.ReverseProxy
	now   func() time.Time

	mu     sync.Mutex
	counts map[string]int64
	faults []*Fault
	forms  map[string]url.Values // last query-protocol form per operation
}

// NewFront returns a front that forwards to upstream.
func NewFront(upstream *url.URL) *Front {
	return &Front{
		proxy:  httputil.NewSingleHostReverseProxy(upstream),
		now:    time.Now,
		counts: map[string]int64{},
		forms:  map[string]url.Values{},
	}
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
	if fault := f.record(op.String()); fault != nil {
		writeFault(w, op, fault)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// record counts op and returns the fault to answer with, if any.
func (f *Front) record(op string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[op]++
	now := f.now()
	for i, fl := range f.faults {
		if !fl.Until.IsZero() && now.After(fl.Until) {
			continue
		}
		if fl.Operation != "" && fl.Operation != op {
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
