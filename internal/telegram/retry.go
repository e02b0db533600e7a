package telegram

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/retry"
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

// Retry is the Telegram retry policy: it honours retry_after on 429, backs
// off exponentially with jitter on 5xx and network errors, gives up at once
// on other API errors, and never waits past the context's deadline.
type Retry retry.Policy

// DefaultRetry backs off from 500ms to 10s, bounded by the context.
var DefaultRetry = Retry{Base: 500 * time.Millisecond, Max: 10 * time.Second}

// Do calls fn until it succeeds, fails permanently, the attempts run out or
// ctx ends. The returned error is fn's last error; when the context ended the
// wait it also wraps the context's error.
func (p Retry) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return retry.Policy(p).Do(ctx, classify, fn)
}

// classify says whether err is worth another attempt and whether Telegram
// asked for a wait (retry_after).
func classify(err error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if apiErr.Code != 429 && apiErr.Code < 500 {
			return 0, false // only flood control and server errors may pass
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter, true
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	return 0, true
}
