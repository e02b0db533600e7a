package telegram

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// APIError is an answer of the Bot API with "ok": false.
type APIError struct {
	Method      string
	Code        int    // error_code, also the HTTP status
	Description string // e.g. "Bad Request: message is too long"
	// RetryAfter is parameters.retry_after of a 429 answer.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Temporary reports whether the same request may succeed later: flood
// control (429) and server errors (5xx).
func (e *APIError) Temporary() bool {
	return e.Code == 429 || e.Code >= 500
}

// Retry is a retry policy: it honours retry_after on 429, backs off
// exponentially with jitter on 5xx and network errors, gives up at once on
// other API errors, and never waits past the context's deadline.
type Retry struct {
	// Base is the first back-off; it doubles per attempt up to Max.
	Base, Max time.Duration
	// Attempts bounds the number of calls; 0 means only the context bounds them.
	Attempts int
	// OnRetry, when set, is told of every failure that will be retried and
	// of the wait before the next attempt.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// DefaultRetry backs off from 500ms to 10s, bounded by the context.
var DefaultRetry = Retry{Base: 500 * time.Millisecond, Max: 10 * time.Second}

// Do calls fn until it succeeds, fails permanently, the attempts run out or
// ctx ends. The returned error is fn's last error; when the context ended the
// wait it also wraps the context's error.
func (p Retry) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		wait, retry := p.wait(attempt, err)
		if !retry || (p.Attempts > 0 && attempt >= p.Attempts) || ctx.Err() != nil {
			return err
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

// wait says whether err is worth another attempt and how long to wait first.
func (p Retry) wait(attempt int, err error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if !apiErr.Temporary() {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter, true
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	// 5xx without retry_after and network errors: exponential back-off with
	// "equal jitter", so concurrent clients do not retry in lock step.
	base, max := p.Base, p.Max
	if base <= 0 {
		base = DefaultRetry.Base
	}
	if max < base {
		max = base
	}
	d := base << min(attempt-1, 20)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + rand.N(d/2+1), true
}
