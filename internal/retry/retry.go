// Package retry is the one retry loop of Derrick's HTTP clients: exponential
// back-off with "equal jitter", a wait an answer asked for (Telegram's
// retry_after, GitLab's Retry-After), a bound on attempts, and never a wait
// past the context's deadline. Each client says which of its errors are
// worth another attempt.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is how often and how long to retry.
type Policy struct {
	// Base is the first back-off; it doubles per attempt up to Max.
	Base, Max time.Duration
	// Attempts bounds the number of calls; 0 means only the context bounds them.
	Attempts int
	// OnRetry, when set, is told of every failure that will be retried and
	// of the wait before the next attempt.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// DefaultBase is the first back-off of a Policy without Base.
const DefaultBase = 500 * time.Millisecond

// Classify judges a failed call: retry false is final; wait > 0 is the
// wait the answer asked for, 0 means the policy's back-off.
type Classify func(err error) (wait time.Duration, retry bool)

// Do calls fn until it succeeds, classify calls its error final, the
// attempts run out or ctx ends. The returned error is fn's last error; when
// the context ended the wait it also wraps the context's error.
func (p Policy) Do(ctx context.Context, classify Classify, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		wait, again := classify(err)
		if !again || (p.Attempts > 0 && attempt >= p.Attempts) || ctx.Err() != nil {
			return err
		}
		if wait <= 0 {
			wait = p.Backoff(attempt)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("%w (giving up: the next try in %s would be past the deadline)", err, wait.Round(time.Millisecond))
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Backoff is the wait before attempt+1: Base doubled per attempt up to Max,
// with "equal jitter", so concurrent clients do not retry in lock step.
func (p Policy) Backoff(attempt int) time.Duration {
	base := p.Base
	if base <= 0 {
		base = DefaultBase
	}
	hi := max(p.Max, base)
	d := base << min(max(attempt, 1)-1, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}
