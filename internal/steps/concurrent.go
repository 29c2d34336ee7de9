package steps

import "golang.org/x/sync/errgroup"

// maxConcurrentCalls bounds how many independent calls one step has in flight at once:
// enough to take the round trips of a typical compromised account (a handful of rules or
// roles) off the critical path, few enough not to provoke Graph or Exchange throttling.
const maxConcurrentCalls = 4

// callEach runs call(i) for i in [0, n), at most maxConcurrentCalls at a time, and returns
// each call's error at its index, so callers record results in the original order whatever
// order the calls finish in.
//
// A failing call does not cancel the others on purpose: a call cut off mid-flight may have
// changed the tenant without us knowing, and a change we cannot record is worse than a few
// extra round trips. Every call ends with a known result.
func callEach(n int, call func(i int) error) []error {
	errs := make([]error, n)
	var g errgroup.Group
	g.SetLimit(maxConcurrentCalls)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			errs[i] = call(i)
			return nil
		})
	}
	_ = g.Wait() // the calls report through errs
	return errs
}

// firstError returns the first non-nil error of errs in index order.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
