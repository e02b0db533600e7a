package tgbot

import (
	"errors"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/retry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// retryPolicy is how the poll loop waits after a failed getUpdates:
// Telegram's retry_after on a 429, Conflict on a 409 (another poller or a
// webhook), else a back-off from 1s doubling up to MaxBackoff, with jitter.
// Only a rejected token ends the retries.
func (p *Poller) retryPolicy() retry.Policy {
	return retry.Policy{Base: time.Second, Max: p.opts.MaxBackoff, OnRetry: func(attempt int, wait time.Duration, err error) {
		var apiErr *telegram.APIError
		errors.As(err, &apiErr)
		switch {
		case apiErr != nil && apiErr.Code == 409:
			p.log.Error("another instance is polling with this token (or a webhook is set); backing off",
				"wait", wait.String(), "error", err)
		case apiErr != nil && apiErr.Code == 429 && apiErr.RetryAfter > 0:
			p.log.Warn("telegram flood control; waiting", "retry_after", wait.String())
		default:
			p.log.Warn("poll failed; backing off", "attempt", attempt, "wait", wait.String(), "error", err)
		}
	}}
}

// Classify judges a failed Bot API call of the poll loop and of start-up:
// a rejected token (401, 404) is final, no waiting can fix it; a 409 waits
// conflict (0: the policy's back-off); a 429 waits what Telegram asked;
// anything else is retried after the policy's back-off.
func Classify(conflict time.Duration) retry.Classify {
	return func(err error) (time.Duration, bool) {
		var apiErr *telegram.APIError
		if !errors.As(err, &apiErr) {
			return 0, true
		}
		switch {
		case apiErr.Code == 401 || apiErr.Code == 404:
			return 0, false
		case apiErr.Code == 409:
			return conflict, true
		case apiErr.Code == 429:
			return apiErr.RetryAfter, true
		}
		return 0, true
	}
}
