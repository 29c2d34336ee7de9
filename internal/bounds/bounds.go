// Package bounds names the furthest ahead the handler ever looks when it waits on a value
// from outside its own process: a service's Retry-After, and the times it writes to Table
// Storage to coordinate its instances (a shared throttle's "not before").
//
// Anyone who can write to the storage account can plant such a value. One that lies
// further ahead than the handler ever writes cannot be the handler's own, and honouring it
// would hold containment back for as long as the planted value says (contract section 6):
// so it is ignored, and logged. The bounds of the values only the run store handles sit
// beside their writers: runs.MaxLockTTL (a lock's expiry) and the one-hour window of the
// rate limits.
package bounds

import "time"

const (
	// RetryAfter is the longest a service's Retry-After is honoured for. Graph and Exchange
	// Online ask for seconds, at most a few minutes when a tenant is throttled hard; five
	// minutes covers that with room, and is short against STEP_DEADLINE (an hour by
	// default), so a throttled step is deferred several times before it gives up. A longer
	// answer is clamped to it, not ignored: the service did say "throttled", and a clamped
	// wait still backs off, while the step asks again after five minutes instead of after
	// whatever a forged or broken header says (Retry-After: 999999999, a date in 2099).
	RetryAfter = 5 * time.Minute

	// ClockSkew is the margin allowed between the clocks of the instances (and storage):
	// a stored time up to this much beyond its bound is still taken as the handler's own.
	ClockSkew = time.Minute
)

// Beyond reports whether at lies further ahead of now than bound plus ClockSkew: further
// than the handler would ever write a value whose bound that is.
func Beyond(at, now time.Time, bound time.Duration) bool {
	return at.After(now.Add(bound + ClockSkew))
}

// ClampRetryAfter caps a service's Retry-After at RetryAfter.
func ClampRetryAfter(d time.Duration) time.Duration {
	return min(d, RetryAfter)
}
