package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
)

// objectsParam is the SecretProviderClass's objects parameter
// (examples/pmp-secretproviderclass.yaml).
const objectsParam = "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n"

// pod is one pod's Mount request, built once as the driver would build it.
type pod struct {
	req *v1alpha1.MountRequest
}

// tokenIssuer is the cluster's service-account issuer: it signs the pods'
// tokens, and the Kubernetes stand-in serves its keys, which the provider
// verifies every token with.
var tokenIssuer = issuer.New()

// newPod builds the request the driver sends for pod number i of a
// service account: the SecretProviderClass parameters overlaid with the
// volume context and the kubelet's token for the sts.amazonaws.com
// audience. Each pod has its own token, bound to it as the kubelet's are,
// valid for the longest run.
func newPod(namespace, serviceAccount string, i int) pod {
	return newPodOf(namespace, serviceAccount, i, objectsParam)
}

// newPodOf is newPod with a SecretProviderClass objects parameter of its
// own.
func newPodOf(namespace, serviceAccount string, i int, objects string) pod {
	uid := fmt.Sprintf("0b0e3c1e-0000-4000-8000-%012d", i)
	name := fmt.Sprintf("pmp-%d", i)
	return pod{req: driverreq.Request{
		PodName: name, Namespace: namespace, PodUID: uid, ServiceAccount: serviceAccount,
		SecretProviderClass: "pmp-credentials",
		Parameters:          map[string]string{"region": region, "objects": objects},
		Token: tokenIssuer.Sign(issuer.Token{
			Namespace: namespace, ServiceAccount: serviceAccount, PodName: name, PodUID: uid, Expiry: time.Now().Add(6 * time.Hour),
		}),
	}.Build()}
}

// podsOf is n pods of one service account.
func podsOf(namespace, serviceAccount string, n int) []pod {
	out := make([]pod, n)
	for i := range out {
		out[i] = newPod(namespace, serviceAccount, i)
	}
	return out
}

// load is one batch of Mounts: count of them (pods taken in turn), or as
// many as fit in dur, by callers goroutines on one connection.
type load struct {
	pods    []pod
	callers int
	count   int
	dur     time.Duration
	// check, when set, validates a response; a failed check counts as an
	// error. It must never print a value.
	check func(p int, resp *v1alpha1.MountResponse) error
}

// maxMounts bounds a duration-bound load however fast the provider is.
const maxMounts = 5_000_000

type loadResult struct {
	mounts, errors int
	firstErr       string
	elapsed        time.Duration
	lat            []time.Duration
	// wrong are the errors that were answers failing the check (wrong
	// contents); the others are failed Mounts, counted by their gRPC code
	// in codes. transient are the failed Mounts whose message says the
	// failure is transient.
	wrong, transient int
	codes            map[codes.Code]int
}

func (r *loadResult) add(o loadResult) {
	r.mounts += o.mounts
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	r.wrong += o.wrong
	r.transient += o.transient
	for c, n := range o.codes {
		if r.codes == nil {
			r.codes = map[codes.Code]int{}
		}
		r.codes[c] += n
	}
}

// failed is the Mounts that failed (not the wrong answers).
func (r *loadResult) failed() int { return r.errors - r.wrong }

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.mounts) / r.elapsed.Seconds()
}

func (r *loadResult) percentile(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func run1(client v1alpha1.CSIDriverProviderClient, l load) loadResult {
	limit := l.count
	if limit <= 0 {
		limit = maxMounts
	}
	var next atomic.Int64
	var mu sync.Mutex
	var res loadResult
	start := time.Now()
	deadline := start.Add(l.dur)
	var wg sync.WaitGroup
	for range l.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			var errs, wrong, transient int
			var first string
			byCode := map[codes.Code]int{}
			for {
				i := int(next.Add(1) - 1)
				if i >= limit || (l.dur > 0 && time.Now().After(deadline)) {
					break
				}
				p := i % len(l.pods)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				resp, err := client.Mount(ctx, l.pods[p].req)
				d := time.Since(t0)
				cancel()
				lat = append(lat, d)
				if s, ok := status.FromError(err); err != nil && ok {
					byCode[s.Code()]++
					if strings.Contains(s.Message(), "transient") {
						transient++
					}
				}
				if err == nil && l.check != nil {
					if err = l.check(p, resp); err != nil {
						wrong++
					}
				}
				if err != nil {
					errs++
					if first == "" {
						if s, ok := status.FromError(err); ok {
							first = s.Code().String() + ": " + s.Message()
						} else {
							first = err.Error()
						}
					}
				}
			}
			mu.Lock()
			res.mounts += len(lat)
			res.errors += errs
			res.add(loadResult{wrong: wrong, transient: transient, codes: byCode})
			if res.firstErr == "" {
				res.firstErr = first
			}
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// checkFiles returns a check that every response holds exactly the files
// of want and, when version is not empty, that version for every file.
func checkFiles(want func() (map[string]string, string)) func(int, *v1alpha1.MountResponse) error {
	return func(p int, resp *v1alpha1.MountResponse) error {
		files, version := want()
		if len(resp.GetFiles()) != len(files) {
			return fmt.Errorf("pod %d got %d files, want %d", p, len(resp.GetFiles()), len(files))
		}
		for _, f := range resp.GetFiles() {
			if v, ok := files[f.GetPath()]; !ok || v != string(f.GetContents()) {
				return fmt.Errorf("pod %d: file %s has not the expected value", p, f.GetPath())
			}
		}
		if version != "" {
			for _, v := range resp.GetObjectVersion() {
				if v.GetVersion() != version {
					return fmt.Errorf("pod %d: file %s has version %s, want %s", p, v.GetId(), v.GetVersion(), version)
				}
			}
		}
		return nil
	}
}
