package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// The rotation-latency table: how long a rotation takes to reach every pod
// for a freshness window, and what the window saves in AWS calls, at 1, 10
// and 100 pods of one identity on a node.
//
// A fetch only ever happens on a Mount, and the kubelet republishes each
// pod's volume about every minute (67-85 s measured on the local cluster),
// so the latency of a rotation is at most the window plus one republish
// period, and the provider never calls AWS more often than a provider
// without a cache (the AWS provider), which calls STS and Secrets Manager
// on every republish of every pod. The scenario runs in scaled time: every
// real second is 1/latencyScale of a second here, the republish period is
// drawn per pod and per turn from 60-90 real seconds, and the window is the
// provider's --secret-ttl, scaled. "cache off" (--cache=false) stands for
// the AWS provider's pattern.

// republishMin and republishMax bound the kubelet's republish period.
const (
	republishMin = 60 * time.Second
	republishMax = 90 * time.Second
)

// latencyRow is one (window, pods) cell, in real time.
type latencyRow struct {
	window      time.Duration // 0: cache off
	pods        int
	worst, mean time.Duration // from the rotation to the last pod seeing it
	gsv, sts    int64         // counted by the front
	hours       float64       // real hours the cell ran
	errors      int
	firstErr    string
	unconfirmed int // rotations some pod never saw before the next one
}

func (r latencyRow) perHour(n int64) float64 { return float64(n) / r.hours }

// latencyTable runs every cell.
func (b *bench) latencyTable() error {
	windows := []time.Duration{0, 15 * time.Second, 30 * time.Second, 60 * time.Second, 2 * time.Minute}
	podCounts := []int{1, 10, 100}
	if b.o.quick {
		windows = []time.Duration{0, 30 * time.Second, 2 * time.Minute}
		podCounts = []int{1, 100}
	}
	for _, n := range podCounts {
		for _, w := range windows {
			r, err := b.latencyCell(w, n)
			if err != nil {
				return err
			}
			b.latency = append(b.latency, r)
		}
	}
	return nil
}

// scaled converts a real duration to the harness's clock.
func (b *bench) scaled(d time.Duration) time.Duration { return d / time.Duration(b.o.latencyScale) }

// latencyCell: n pods republish, each on its own period; the secret is
// rotated latencyRotations times, each once the last rotation reached every
// pod (or after window + two periods), at a random point of the window.
func (b *bench) latencyCell(window time.Duration, n int) (latencyRow, error) {
	t, ttl := cached, b.scaled(window)
	if window == 0 {
		t, ttl = uncached, defaultTTL
	}
	pods := podsOf(fmt.Sprintf("lat-%d-%d", n, window/time.Second), "pmp-secrets-access", n)
	p, err := b.e.startProvider(t, ttl, fmt.Sprintf("latency-%s-%d", window, n))
	if err != nil {
		return latencyRow{}, err
	}
	defer p.stop()
	row := latencyRow{window: window, pods: n}

	// seen[i] is the version pod i's last Mount returned; every response
	// must hold exactly the files of the version it names.
	var mu sync.Mutex
	seen := make([]string, n)
	files, version := b.secret.get()
	known := map[string]map[string]string{version: files}
	mountErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		row.errors++
		if row.firstErr == "" {
			row.firstErr = err.Error()
		}
	}
	mount := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := p.client.Mount(ctx, pods[i].req)
		if err != nil {
			mountErr(err)
			return
		}
		v := versionOf(resp)
		mu.Lock()
		want, ok := known[v]
		mu.Unlock()
		if !ok {
			mountErr(fmt.Errorf("pod %d got version %q, which was never stored", i, v))
			return
		}
		if err := checkFiles(func() (map[string]string, string) { return want, v })(i, resp); err != nil {
			mountErr(err)
			return
		}
		mu.Lock()
		seen[i] = v
		mu.Unlock()
	}
	// Every pod mounts once, then republishes on its own period.
	for i := range pods {
		mount(i)
	}
	if err := b.e.resetCounts(); err != nil {
		return row, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			period := func() time.Duration {
				return b.scaled(republishMin + rand.N(republishMax-republishMin))
			}
			timer := time.NewTimer(rand.N(period())) // pods are not in step
			defer timer.Stop()
			for {
				select {
				case <-stop:
					return
				case <-timer.C:
					mount(i)
					timer.Reset(period())
				}
			}
		}()
	}
	start := time.Now()
	var lat []time.Duration
	rotations := b.o.latencyRotations
	for range rotations {
		// A random point of the window since the last fetch.
		time.Sleep(rand.N(b.scaled(max(window, time.Second))))
		if err := b.rotate(); err != nil {
			close(stop)
			wg.Wait()
			return row, err
		}
		files, version := b.secret.get()
		mu.Lock()
		known[version] = files
		mu.Unlock()
		rotated := time.Now()
		limit := b.scaled(window + 2*republishMax)
		reached := false
		for time.Since(rotated) < limit {
			mu.Lock()
			all := !slices.ContainsFunc(seen, func(v string) bool { return v != version })
			mu.Unlock()
			if all {
				reached = true
				break
			}
			time.Sleep(b.scaled(time.Second) / 4)
		}
		if !reached {
			row.unconfirmed++
		}
		lat = append(lat, time.Since(rotated)*time.Duration(b.o.latencyScale))
	}
	close(stop)
	wg.Wait()
	row.hours = time.Since(start).Hours() * float64(b.o.latencyScale)
	counts, err := b.e.awsCounts()
	if err != nil {
		return row, err
	}
	row.gsv, row.sts = counts["secretsmanager:GetSecretValue"], counts["sts:AssumeRoleWithWebIdentity"]
	var sum time.Duration
	for _, l := range lat {
		sum += l
		row.worst = max(row.worst, l)
	}
	row.mean = sum / time.Duration(len(lat))
	fmt.Fprintf(os.Stderr, "bench: latency window %-6s %3d pods: worst %s, mean %s, GSV %.0f/h, STS %.0f/h, errors %d\n",
		windowName(window), n, row.worst.Round(time.Second), row.mean.Round(time.Second), row.perHour(row.gsv), row.perHour(row.sts), row.errors)
	return row, nil
}

// versionOf is the object version a response carries (one object).
func versionOf(resp *v1alpha1.MountResponse) string {
	for _, v := range resp.GetObjectVersion() {
		return v.GetVersion()
	}
	return ""
}

func windowName(w time.Duration) string {
	if w == 0 {
		return "off"
	}
	return w.String()
}

// latencyMarkdown is the table of every cell, against the cache-off cell
// of the same pod count.
func (b *bench) latencyMarkdown(sb *strings.Builder) {
	if len(b.latency) == 0 {
		return
	}
	sb.WriteString("\n## Rotation latency and AWS calls by freshness window\n\n")
	fmt.Fprintf(sb, "Scaled time (1 real second = 1/%d s here): each pod republishes every %s-%s (real), at its own phase, as the kubelet does; %d rotations per cell, each at a random point of the window. \"off\" is `--cache=false`: STS and Secrets Manager on every republish of every pod, the AWS provider's pattern. Calls per hour are real-time rates; STS credentials last an hour in real time, so a cached provider's STS rate is 1 per identity per 55 minutes (the scaled run sees at most its first exchange).\n\n",
		b.o.latencyScale, republishMin, republishMax, b.o.latencyRotations)
	sb.WriteString("| pods | window | worst latency | mean latency | GetSecretValue/h | STS/h | AWS calls/h | fewer calls than off | errors |\n|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range b.latency {
		sts := r.perHour(r.sts)
		if r.window > 0 {
			sts = 60.0 / 55 // one exchange per credential lifetime
		}
		total := r.perHour(r.gsv) + sts
		ratio := "-"
		if off := b.latencyCellOf(0, r.pods); off != nil && r.window > 0 && total > 0 {
			ratio = fmt.Sprintf("%.0fx", (off.perHour(off.gsv)+off.perHour(off.sts))/total)
		}
		worst := fmt.Sprintf("%d s", int(r.worst.Seconds()))
		if r.unconfirmed > 0 {
			worst = fmt.Sprintf("> %d s (%d rotations not seen by every pod)", int(r.worst.Seconds()), r.unconfirmed)
		}
		fmt.Fprintf(sb, "| %d | %s | %s | %d s | %.0f | %.1f | %.0f | %s | %d |\n",
			r.pods, windowName(r.window), worst, int(r.mean.Seconds()), r.perHour(r.gsv), sts, total, ratio, r.errors)
	}
}

func (b *bench) latencyCellOf(window time.Duration, pods int) *latencyRow {
	for i := range b.latency {
		if b.latency[i].window == window && b.latency[i].pods == pods {
			return &b.latency[i]
		}
	}
	return nil
}
