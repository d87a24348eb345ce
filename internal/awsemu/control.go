package awsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// controlFault is the JSON a control client posts: a Fault whose end is
// given as a duration from now ("for": "10s"), which survives clock skew
// between processes better than an absolute time.
type controlFault struct {
	Fault
	For string `json:"for,omitempty"`
	// Delay is Fault.Delay as a Go duration ("2s", "1h").
	Delay string `json:"delay,omitempty"`
}

// ControlHandler serves the front's control API, for processes that run the
// front in another process (the e2e suite, the benchmark harness):
//
//	GET    /counts  -> {"sts:AssumeRoleWithWebIdentity": 3, ...} (?region=R: calls signed for R only)
//	DELETE /counts  resets the counts
//	POST   /faults  {"operation": "...", "status": 503, "code": "...", "for": "10s", "times": 0,
//	                 "delay": "2s", "probability": 0.05, "region": "us-east-1"}
//	DELETE /faults  clears every fault
//	POST   /trust   {"role": "arn:...", "subjects": ["system:serviceaccount:NS:SA"]} enforces a trust policy
//	DELETE /trust   stops enforcing trust policies (?role=ARN: that role's only)
//	POST   /quotas  {"operation": "amazonssm:GetParameters", "rate": 40, "burst": 40} enforces a rate quota
//	DELETE /quotas  stops enforcing quotas
//	GET    /throttled -> {"amazonssm:GetParameters": 12, ...} calls answered past a quota
func (f *Front) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		counts := f.Counts()
		if r.URL.Query().Has("region") {
			counts = f.RegionCounts(r.URL.Query().Get("region"))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(counts)
	})
	mux.HandleFunc("DELETE /counts", func(w http.ResponseWriter, _ *http.Request) {
		f.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var cf controlFault
		if err := json.NewDecoder(r.Body).Decode(&cf); err != nil {
			http.Error(w, fmt.Sprintf("bad fault: %v", err), http.StatusBadRequest)
			return
		}
		if cf.Delay != "" {
			d, err := time.ParseDuration(cf.Delay)
			if err != nil || d <= 0 {
				http.Error(w, fmt.Sprintf("bad delay %q: want a positive Go duration", cf.Delay), http.StatusBadRequest)
				return
			}
			cf.Fault.Delay = d
		}
		if (cf.Status < 400 || cf.Code == "") && (cf.Status != 0 || cf.Fault.Delay == 0) {
			http.Error(w, "a fault needs status >= 400 and a code, or a delay alone", http.StatusBadRequest)
			return
		}
		if cf.Probability < 0 || cf.Probability > 1 {
			http.Error(w, "probability must be between 0 and 1", http.StatusBadRequest)
			return
		}
		if cf.For != "" {
			d, err := time.ParseDuration(cf.For)
			if err != nil {
				http.Error(w, fmt.Sprintf("bad for: %v", err), http.StatusBadRequest)
				return
			}
			cf.Until = f.now().Add(d)
		}
		f.Inject(cf.Fault)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		f.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /trust", func(w http.ResponseWriter, r *http.Request) {
		var t Trust
		if err := json.NewDecoder(r.Body).Decode(&t); err != nil || t.Role == "" {
			http.Error(w, fmt.Sprintf("bad trust: want {\"role\": ARN, \"subjects\": [...]} (%v)", err), http.StatusBadRequest)
			return
		}
		f.SetTrust(t)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /trust", func(w http.ResponseWriter, r *http.Request) {
		if role := r.URL.Query().Get("role"); role != "" {
			f.RemoveTrust(role)
		} else {
			f.ClearTrust()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /quotas", func(w http.ResponseWriter, r *http.Request) {
		var q Quota
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.Operation == "" || q.Rate <= 0 || q.Burst < 0 {
			http.Error(w, fmt.Sprintf("bad quota: want {\"operation\": \"service:Action\", \"rate\": calls/s > 0, \"burst\": calls >= 0} (%v)", err), http.StatusBadRequest)
			return
		}
		f.SetQuota(q)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /quotas", func(w http.ResponseWriter, _ *http.Request) {
		f.ClearQuotas()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /throttled", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.Throttled())
	})
	return mux
}
