package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// The fault and outage scenarios: what Mounts get while AWS fails.

const (
	// faultIdentities and faultMounts shape the fault scenario: as many
	// Mounts as the kubelets of a busy node send in a burst, two pods per
	// identity, each identity with a secret of its own.
	faultIdentities = 50
	faultMounts     = 1000
	// faultCallTimeout is the fault scenario's --aws-call-timeout: the
	// slow calls of faultMix outlast it.
	faultCallTimeout = 2 * time.Second
)

// faultMix fails about 5% of AWS calls (1 - 0.98 x 0.985 x 0.99 x 0.995
// = 4.9%), as server/load_test.go's storm does: 5xx, throttling, and calls
// slower than the provider's attempt timeout.
var faultMix = []frontFault{
	{Status: 503, Code: "ServiceUnavailable", Probability: 0.02},
	{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded", Probability: 0.015},
	{Status: 500, Code: "InternalFailure", Probability: 0.01},
	{Delay: (faultCallTimeout + faultCallTimeout/4).String(), Probability: 0.005},
}

// kubeletTransient are the codes the kubelet treats as transient on a first
// mount, leaving the pod an empty volume: never a provider's final answer.
var kubeletTransient = []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled}

// faults: faultMounts Mounts at once (32 callers) of faultIdentities
// identities, each with a secret of its own, cold, while about 5% of AWS
// calls fail. Retries carry most through; a Mount that still fails must
// end with a final code, and no pod may ever get another identity's
// secret.
func (b *bench) faults() error {
	name := fmt.Sprintf("faults 5%% %d identities", faultIdentities)
	want := make([]map[string]string, faultIdentities)
	pods := make([]pod, 2*faultIdentities)
	for i := range faultIdentities {
		secret := fmt.Sprintf("PMP-Fault-%d", i)
		doc, files := pmpDocument(fmt.Sprintf("fault-%d", i))
		if _, err := b.e.putNamed(secret, doc); err != nil {
			return err
		}
		want[i] = files
		objects := "- objectName: " + secret + "\n  filePermission: \"0440\"\n"
		for j := i; j < len(pods); j += faultIdentities {
			pods[j] = newPodOf(fmt.Sprintf("fault-%d", i), "pmp", j, objects)
		}
	}
	own := func(p int, resp *v1alpha1.MountResponse) error {
		files := want[p%faultIdentities]
		return checkFiles(func() (map[string]string, string) { return files, "" })(p, resp)
	}
	for _, t := range []target{cached, uncached} {
		_, err := b.measureWith(name, t, defaultTTL, 32, []string{"--aws-call-timeout", faultCallTimeout.String()}, func(p *proc, r *row) error {
			for _, f := range faultMix {
				if err := b.e.inject(f); err != nil {
					return err
				}
			}
			defer func() { _ = b.e.clearFaults() }()
			r.res = run1(p.client, load{pods: pods, callers: 32, count: faultMounts, check: own})
			r.failing = true
			var err error
			if r.retries, err = b.e.metric(p, "pmp_aws_retries_total"); err != nil {
				return err
			}
			r.note = "from cold, while about 5% of AWS calls fail (figures in AWS faults and outages)"
			if t == uncached {
				r.note += "; caching off, every Mount reads its service account, paced by the provider's Kubernetes client (--qps 50, --burst 100, its defaults)"
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// outageRetryBudget and outageCallTimeout are the outage scenarios'
// --retry-budget and --aws-call-timeout: a Mount that finds the outage
// tries for outageRetryBudget.
const (
	outageRetryBudget = 2 * time.Second
	outageCallTimeout = 500 * time.Millisecond
)

// outage: pods of one identity have the secret cached; then every AWS call
// fails (503, or AWS accepts calls and never answers) and the freshness
// window passes. With --stale-if-error (its default, 1h) every Mount
// still gets the last good value; with --stale-if-error=0 every Mount
// fails, with a final code saying the failure is transient.
func (b *bench) outage() error {
	pods := podsOf("outage", "pmp-secrets-access", b.o.pods)
	during := b.outageFor()
	for _, kind := range []struct {
		name  string
		fault frontFault
	}{
		{"5xx", frontFault{Status: 503, Code: "ServiceUnavailable"}},
		{"hung", frontFault{Delay: time.Hour.String()}},
	} {
		name := "outage " + kind.name
		for _, t := range []target{staleOn, staleOff} {
			stale := map[target]string{staleOn: "1h", staleOff: "0s"}[t]
			extra := []string{"--stale-if-error", stale, "--retry-budget", outageRetryBudget.String(), "--aws-call-timeout", outageCallTimeout.String()}
			_, err := b.measureWith(name, t, b.o.window, 8, extra, func(p *proc, r *row) error {
				if w := run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: checkFiles(b.secret.get)}); w.errors > 0 {
					return fmt.Errorf("before the outage: %d errors, first: %s", w.errors, w.firstErr)
				}
				if err := b.e.resetCounts(); err != nil {
					return err
				}
				if err := b.e.inject(kind.fault); err != nil {
					return err
				}
				defer func() { _ = b.e.clearFaults() }()
				time.Sleep(b.o.window + b.o.window/10) // past the freshness window
				var err error
				if r.start, err = readProc(p.pid()); err != nil {
					return err
				}
				r.res = run1(p.client, load{pods: pods, callers: 8, dur: during, check: checkFiles(b.secret.get)})
				r.failing = t == staleOff
				if r.stale, err = b.e.metric(p, "pmp_cache_stale_served_total", `cache="secrets"`); err != nil {
					return err
				}
				if r.retries, err = b.e.metric(p, "pmp_aws_retries_total"); err != nil {
					return err
				}
				r.note = fmt.Sprintf("the secret cached, then AWS %s past the freshness window (figures in AWS faults and outages)",
					map[string]string{"5xx": "answering every call with 503", "hung": "accepting every call and never answering"}[kind.name])
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// outageFor is how long the outage scenarios mount: long enough for a few
// failed Mounts in turn with --stale-if-error off.
func (b *bench) outageFor() time.Duration { return max(2*outageRetryBudget, 2*b.o.window) }

// finalCodes reports whether every failure of res has a gRPC code the
// kubelet takes as final.
func finalCodes(res loadResult) bool {
	n := 0
	for c, k := range res.codes {
		if slices.Contains(kubeletTransient, c) {
			return false
		}
		n += k
	}
	return n == res.failed()
}

// fmtCodes is "Unknown 12, PermissionDenied 1", or "none".
func fmtCodes(m map[codes.Code]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for c, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// faultTargets are the fault and outage scenarios' targets.
func (b *bench) faultTargets(add func(name string, pass bool, format string, args ...any)) {
	var figs []string
	pass, seen := true, false
	for _, t := range []target{cached, uncached} {
		r := b.find("faults", t)
		if r == nil {
			continue
		}
		seen = true
		ok := r.res.mounts - r.res.errors
		pass = pass && r.res.mounts > 0 && r.res.wrong == 0 && finalCodes(r.res) && ok*10 >= r.res.mounts*9
		figs = append(figs, fmt.Sprintf("%s: %d of %d succeeded, failed: %s, wrong contents %d", t, ok, r.res.mounts, fmtCodes(r.res.codes), r.res.wrong))
	}
	if seen {
		add(fmt.Sprintf("%d Mounts of %d identities with 5%% of AWS calls failing: no pod gets another's secret, every failure ends with a final code (none of the kubelet's transient five), at least 90%% succeed", faultMounts, faultIdentities),
			pass, "%s", strings.Join(figs, "; "))
	}
	for _, t := range []target{staleOn, staleOff} {
		figs, pass, seen = nil, true, false
		for _, kind := range []string{"5xx", "hung"} {
			r := b.find("outage "+kind, t)
			if r == nil {
				continue
			}
			seen = true
			if t == staleOn {
				pass = pass && r.res.mounts > 0 && r.res.errors == 0 && r.stale > 0
				figs = append(figs, fmt.Sprintf("%s: %d of %d Mounts, p50 %s, max %s, %.0f stale answers counted", kind, r.res.mounts-r.res.errors, r.res.mounts, fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(100)), r.stale))
			} else {
				pass = pass && r.res.mounts > 0 && r.res.wrong == 0 && r.res.failed() == r.res.mounts && finalCodes(r.res) && r.res.transient == r.res.failed() && r.stale == 0
				figs = append(figs, fmt.Sprintf("%s: %d of %d Mounts failed (%s; %d saying transient), max %s", kind, r.res.failed(), r.res.mounts, fmtCodes(r.res.codes), r.res.transient, fmtDur(r.res.percentile(100))))
			}
		}
		if !seen {
			continue
		}
		if t == staleOn {
			add("AWS outage (5xx, hung) past the freshness window, --stale-if-error on: every Mount of the cached identity gets the last good value, counted in pmp_cache_stale_served_total", pass, "%s", strings.Join(figs, "; "))
		} else {
			add("AWS outage (5xx, hung) past the freshness window, --stale-if-error=0: every Mount fails with a final code saying it is transient", pass, "%s", strings.Join(figs, "; "))
		}
	}
}

// faultMarkdown is the section of the fault and outage scenarios.
func (b *bench) faultMarkdown(sb *strings.Builder) {
	var rows []*row
	for _, r := range b.rows {
		if strings.HasPrefix(r.scenario, "faults") || strings.HasPrefix(r.scenario, "outage") {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	sb.WriteString("\n## AWS faults and outages\n\n")
	fmt.Fprintf(sb, "\"faults\": %d Mounts at once of %d identities (two pods each, each identity with a secret of its own), from cold, while the front fails about 5%% of AWS calls at random: 503 (2%%), ThrottlingException (1.5%%), 500 (1%%), and calls held past --aws-call-timeout %s (0.5%%). "+
		"\"outage\": %d pods of one identity have the secret cached; then every AWS call answers 503 (5xx) or is accepted and never answered (hung), the freshness window (%s) passes and 8 callers mount for %s, with --stale-if-error at its default (1h) and off (0), --retry-budget %s and --aws-call-timeout %s. "+
		"AWS calls are counted by the front, failed ones included; retries and stale answers are the provider's own pmp_aws_retries_total and pmp_cache_stale_served_total{cache=\"secrets\"}.\n\n",
		faultMounts, faultIdentities, faultCallTimeout, b.o.pods, b.o.window, b.outageFor(), outageRetryBudget, outageCallTimeout)
	sb.WriteString("| scenario | provider | mounts | succeeded | failed, by final gRPC code | saying transient | wrong contents | mounts/s | p50 | p99 | max | AWS calls (by operation) | retries | stale answers |\n")
	sb.WriteString("|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|---|--:|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(sb, "| %s | %s | %d | %d | %s | %d | %d | %.0f | %s | %s | %s | %s | %.0f | %.0f |\n",
			r.scenario, r.target, r.res.mounts, r.res.mounts-r.res.errors, fmtCodes(r.res.codes), r.res.transient, r.res.wrong, r.res.rate(),
			fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(99)), fmtDur(r.res.percentile(100)), fmtCalls(r.aws), r.retries, r.stale)
	}
}
