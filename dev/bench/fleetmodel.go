package main

import (
	"math"
	"time"
)

// The fleet model: the AWS calls a fleet of providers makes, per second,
// from what decides them. It is checked against the fleet simulation
// (fleet.go) at the sizes a machine can run, and used for the sizes it
// cannot (1,000 and 5,000 nodes).
//
// A provider calls AWS only for a cache key whose window has ended, on the
// first Mount after that: one call per key, however many pods mount it. A
// key is an identity's secret, or one of its batches of up to ten
// Parameter Store parameters (GetParameters), on one node; an identity's
// STS credentials are a key of their own, kept until five minutes before
// their hour ends. Each pod's volume is mounted again every 60 to 90 s (the
// kubelet's republish, with the driver's --rotation-poll-interval at most
// that), at its own phase.

// fleetShape is what decides a fleet's AWS calls.
type fleetShape struct {
	Nodes int
	// IDsPerNode are the identities (namespace, service account) with pods
	// on each node; PodsPerID the pods of each on a node.
	IDsPerNode, PodsPerID int
	// Secrets are the Secrets Manager objects of an identity's
	// SecretProviderClass; Batches its GetParameters batches (ten
	// parameters each).
	Secrets, Batches int
	// Window is the freshness window, --secret-ttl.
	Window time.Duration
}

const (
	// modelJitter is the provider's refresh jitter: each window is cut by
	// up to a tenth at random (provider/new.go refreshJitter).
	modelJitter = 0.1
	// credentialLife is how long an identity's STS credentials are kept:
	// an hour less the five minutes' renewal lead.
	credentialLife = 55 * time.Minute
	// republishMean is the mean of the kubelet's 60-90 s republish period.
	republishMean = (republishMin + republishMax) / 2
)

// refreshInterval is the mean time between two refreshes of one key on a
// node, mounted by pods pods each every R (republishMean) at independent
// phases: the window, cut by half the jitter on average, then the wait for
// the first Mount after it ends. The pod whose Mount refreshed comes back
// a whole number of periods later; each other pod's next Mount is anywhere
// in its period. With a the refreshing pod's wait, the first of them is on
// average the integral of (1 - t/R)^(pods-1) from 0 to a:
// R/pods * (1 - (1 - a/R)^pods).
func refreshInterval(window time.Duration, pods int) time.Duration {
	pods = max(pods, 1)
	r := republishMean.Seconds()
	w := window.Seconds() * (1 - modelJitter/2)
	a := r*math.Ceil(w/r) - w
	if a == 0 {
		a = r // the window ends just as the refreshing pod mounts again
	}
	wait := r / float64(pods) * (1 - math.Pow(1-a/r, float64(pods)))
	return time.Duration((w + wait) * float64(time.Second))
}

// fleetRates are AWS calls per second, fleet-wide, by operation.
type fleetRates struct {
	GetSecretValue, DescribeSecret, GetParameters, STS float64
}

// steadyRates are the provider's calls in steady state: one per key per
// refresh interval, STS once per credential life.
func (s fleetShape) steadyRates() fleetRates {
	keys := float64(s.Nodes * s.IDsPerNode)
	per := refreshInterval(s.Window, s.PodsPerID).Seconds()
	return fleetRates{
		GetSecretValue: keys * float64(s.Secrets) / per,
		GetParameters:  keys * float64(s.Batches) / per,
		STS:            keys / credentialLife.Seconds(),
	}
}

// startRates are the provider's calls while the whole fleet starts: every
// key fetched once, STS once per identity and node, over spread (the time
// the first Mounts come in, a minute for a cluster start), and the
// refreshes of the keys whose window ends within it: a key is first
// fetched at the first of its pods' Mounts (spread/(pods+1) in, on
// average), so the steady rate runs for what is left of the spread after
// that and one window.
func (s fleetShape) startRates(spread time.Duration) fleetRates {
	keys := float64(s.Nodes*s.IDsPerNode) / spread.Seconds()
	first := spread.Seconds() / float64(max(s.PodsPerID, 1)+1)
	left := max(0, 1-(first+s.Window.Seconds()*(1-modelJitter/2))/spread.Seconds())
	r := s.steadyRates()
	return fleetRates{GetSecretValue: keys*float64(s.Secrets) + left*r.GetSecretValue, GetParameters: keys*float64(s.Batches) + left*r.GetParameters, STS: keys}
}

// drainRates are the calls while drained nodes' pods are mounted on the
// others, over span: the steady refreshes, and the first fetches of the
// moved pods, each on a node that did not have its identity (an upper
// bound: some land where it is cached).
func (s fleetShape) drainRates(drained int, span time.Duration) fleetRates {
	moved := float64(drained*s.IDsPerNode*s.PodsPerID) / span.Seconds()
	r := s.steadyRates()
	r.GetSecretValue += moved * float64(s.Secrets)
	r.GetParameters += moved * float64(s.Batches)
	r.STS += moved
	return r
}

// everyRepublishRates are the calls of a provider that calls AWS on every
// Mount, as the AWS provider (ASCP) does: STS for every Mount (its
// credentials are not kept), DescribeSecret for every secret of every
// Mount (GetSecretValue only when the version changed: rotations, left
// out), GetParameters for every batch of every Mount.
func (s fleetShape) everyRepublishRates() fleetRates {
	mounts := float64(s.Nodes*s.IDsPerNode*s.PodsPerID) / republishMean.Seconds()
	return fleetRates{DescribeSecret: mounts * float64(s.Secrets), GetParameters: mounts * float64(s.Batches), STS: mounts}
}

// everyRepublishStartRates: ASCP's cluster start, GetSecretValue (not
// DescribeSecret) for a first Mount.
func (s fleetShape) everyRepublishStartRates(spread time.Duration) fleetRates {
	mounts := float64(s.Nodes*s.IDsPerNode*s.PodsPerID) / spread.Seconds()
	return fleetRates{GetSecretValue: mounts * float64(s.Secrets), GetParameters: mounts * float64(s.Batches), STS: mounts}
}

// maxNodesUnder is the most nodes of shape s whose steady GetParameters
// calls stay under quota calls/s: the sizing answer.
func (s fleetShape) maxNodesUnder(quota float64) int {
	per := refreshInterval(s.Window, s.PodsPerID).Seconds()
	perNode := float64(s.IDsPerNode*s.Batches) / per
	if perNode == 0 {
		return math.MaxInt
	}
	return int(quota / perNode)
}
