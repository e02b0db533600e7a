package argocd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Wait reads the application every Config.PollInterval until done returns
// true for it, and returns that App. It calls report, when not nil, with
// the first state read and then whenever the sync, health, operation or
// images change.
//
// It stops early with an error wrapping ErrDegraded when the current spec
// turned out Degraded, or ErrSyncFailed when the sync of the current spec
// failed; with the context's error (and the last state) when ctx ends.
// Errors that may pass (network, 429, 5xx) are retried until ctx ends; any
// other error of Argo CD ends the wait. The last App read is returned with
// every error. A nil done means App.Settled.
func (c *Client) Wait(ctx context.Context, done func(App) bool, report func(App)) (App, error) {
	if done == nil {
		done = App.Settled
	}
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	var (
		last    App
		seen    bool
		lastKey string
		lastErr error
	)
	for {
		a, err := c.Application(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			// Ended by ctx: reported below with the last state.
		case err != nil && retryable(err):
			lastErr = err
		case err != nil:
			return last, fmt.Errorf("wait for application %q: %w", c.cfg.App, err)
		default:
			lastErr = nil
			if key := progressKey(a); !seen || key != lastKey {
				seen, lastKey = true, key
				if report != nil {
					report(a)
				}
			}
			last = a
			if done(a) {
				return a, nil
			}
			if err := c.failure(a); err != nil {
				return a, err
			}
		}
		select {
		case <-ctx.Done():
			state := "nothing read"
			if seen {
				state = last.String()
			}
			err := fmt.Errorf("wait for application %q: %w; last state: %s", c.cfg.App, ctx.Err(), state)
			if lastErr != nil {
				err = errors.Join(err, lastErr)
			}
			return last, err
		case <-tick.C:
		}
	}
}

// WaitHealthy waits until the application has settled on its current spec
// (compared, Synced, Healthy, no operation running) and, when image is not
// empty, image is among the images of its live resources. See Wait.
func (c *Client) WaitHealthy(ctx context.Context, image string, report func(App)) (App, error) {
	return c.Wait(ctx, func(a App) bool {
		return a.Settled() && (image == "" || a.RunsImage(image))
	}, report)
}

// failure returns the error that ends a wait on a, if any.
func (c *Client) failure(a App) error {
	op := a.Operation
	if op.Current && (op.Phase == PhaseFailed || op.Phase == PhaseError) {
		return fmt.Errorf("application %q: %w: operation %s: %s", c.cfg.App, ErrSyncFailed, op.Phase, op.Message)
	}
	if a.Compared && !op.running() && a.Health == HealthDegraded {
		msg := a.HealthMessage
		msg = cmp.Or(msg, "a resource is Degraded (see `argocd app get "+c.cfg.App+"`)")
		return fmt.Errorf("application %q: %w: %s", c.cfg.App, ErrDegraded, msg)
	}
	return nil
}

// progressKey changes when anything a progress report shows changes.
func progressKey(a App) string {
	return a.String() + "|" + strings.Join(a.Images, ",") + "|" + strings.Join(a.Conditions, ",")
}

// retryable reports whether a failed read may succeed later: Argo CD's
// 429 and 5xx, and every failure to get an answer (network, a request
// timeout, a proxy's page) while the caller's context lasts.
func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	}
	return true
}
