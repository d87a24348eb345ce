package main

import (
	"math"
	"testing"
	"time"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestRefreshInterval(t *testing.T) {
	for _, tc := range []struct {
		window time.Duration
		pods   int
		want   float64 // seconds
	}{
		// One pod, a window shorter than its period: every Mount refreshes.
		{30 * time.Second, 1, 75},
		{time.Second, 1, 75},
		// Many pods: the refresh follows the window's end closely.
		{30 * time.Second, 1000, 28.5 + 75.0/1000},
		// Two pods: 28.5 + 37.5 * (1 - (28.5/75)^2).
		{30 * time.Second, 2, 28.5 + 37.5*(1-0.38*0.38)},
		// A window past the period: one pod refreshes every second Mount.
		{2 * time.Minute, 1, 150},
	} {
		if got := refreshInterval(tc.window, tc.pods).Seconds(); !near(got, tc.want, 0.01) {
			t.Errorf("refreshInterval(%s, %d) = %.3f s, want %.3f", tc.window, tc.pods, got, tc.want)
		}
	}
	// More pods never refresh less often; a longer window never more.
	for p := 1; p < 50; p++ {
		if refreshInterval(30*time.Second, p+1) > refreshInterval(30*time.Second, p) {
			t.Errorf("%d pods refresh less often than %d", p+1, p)
		}
	}
	for w := 10 * time.Second; w < 10*time.Minute; w += 5 * time.Second {
		if refreshInterval(w+5*time.Second, 4) < refreshInterval(w, 4) {
			t.Errorf("window %s refreshes more often than %s", w+5*time.Second, w)
		}
	}
}

func TestFleetRates(t *testing.T) {
	s := fleetShape{Nodes: 1000, IDsPerNode: 1, PodsPerID: 1000, Secrets: 1, Batches: 2, Window: 30 * time.Second}
	r := s.steadyRates()
	// 1,000 keys refreshed every ~28.6 s: 35/s, twice for two batches.
	if !near(r.GetSecretValue, 1000/28.575, 0.01) || !near(r.GetParameters, 2*r.GetSecretValue, 1e-9) {
		t.Errorf("steady %+v", r)
	}
	if !near(r.STS, 1000/3300.0, 1e-9) || r.DescribeSecret != 0 {
		t.Errorf("steady STS %v, DescribeSecret %v", r.STS, r.DescribeSecret)
	}
	a := fleetShape{Nodes: 1000, IDsPerNode: 2, PodsPerID: 5, Secrets: 3, Batches: 1}.everyRepublishRates()
	// 10,000 pods mounting every 75 s: 133 Mounts/s.
	if !near(a.STS, 10000/75.0, 1e-9) || !near(a.DescribeSecret, 3*a.STS, 1e-9) || !near(a.GetParameters, a.STS, 1e-9) || a.GetSecretValue != 0 {
		t.Errorf("every republish %+v", a)
	}
	shape := fleetShape{Nodes: 100, IDsPerNode: 2, PodsPerID: 3, Secrets: 1, Batches: 2, Window: 30 * time.Second}
	st, steady := shape.startRates(time.Minute), shape.steadyRates()
	// 200 keys' first fetches in a minute, and the refreshes of the last
	// 60 - 15 - 28.5 s of it.
	left := (60 - 15 - 28.5) / 60
	if !near(st.GetSecretValue, 200/60.0+left*steady.GetSecretValue, 1e-9) || !near(st.GetParameters, 400/60.0+left*steady.GetParameters, 1e-9) || !near(st.STS, 200/60.0, 1e-9) {
		t.Errorf("start %+v", st)
	}
	// 10 nodes drained: 60 pods' first fetches over two minutes.
	dr := shape.drainRates(10, 2*time.Minute)
	if !near(dr.GetSecretValue, steady.GetSecretValue+60/120.0, 1e-9) || !near(dr.GetParameters, steady.GetParameters+2*60/120.0, 1e-9) {
		t.Errorf("drain %+v", dr)
	}
}

func TestMaxNodesUnder(t *testing.T) {
	s := fleetShape{IDsPerNode: 1, PodsPerID: 1000, Secrets: 1, Batches: 1, Window: 30 * time.Second}
	n := s.maxNodesUnder(40)
	s.Nodes = n
	if r := s.steadyRates().GetParameters; r > 40 {
		t.Errorf("%d nodes: %.1f GetParameters/s, over 40", n, r)
	}
	s.Nodes = n + 1
	if r := s.steadyRates().GetParameters; r <= 40 {
		t.Errorf("%d nodes: %.1f GetParameters/s: maxNodesUnder(40) = %d is not the most", n+1, r, n)
	}
}
