package telegram

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestRetryDecisions(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	tests := []struct {
		name      string
		errs      []error // answers of successive attempts; nil = success
		wantCalls int
		wantErr   bool
	}{
		{"success first time", []error{nil}, 1, false},
		{"429 then success", []error{&APIError{Code: 429, RetryAfter: time.Millisecond}, nil}, 2, false},
		{"5xx twice then success", []error{&APIError{Code: 502}, &APIError{Code: 500}, nil}, 3, false},
		{"network error then success", []error{netErr, nil}, 2, false},
		{"400 is final", []error{&APIError{Code: 400, Description: "Bad Request: chat not found"}, nil}, 1, true},
		{"403 is final", []error{&APIError{Code: 403}, nil}, 1, true},
		{"attempts run out", []error{&APIError{Code: 502}, &APIError{Code: 502}, &APIError{Code: 502}, nil}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			p := Retry{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 3}
			err := p.Do(context.Background(), func(context.Context) error {
				calls++
				return tt.errs[calls-1]
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("calls = %d, err = %v; want %d calls, error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var waits []time.Duration
	p := Retry{Base: time.Millisecond, OnRetry: func(_ int, wait time.Duration, _ error) { waits = append(waits, wait) }}
	calls := 0
	start := time.Now()
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return &APIError{Code: 429, RetryAfter: 300 * time.Millisecond}
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err = %v, calls = %d", err, calls)
	}
	if len(waits) != 1 || waits[0] != 300*time.Millisecond || time.Since(start) < 300*time.Millisecond {
		t.Errorf("waited %v (%v in all), want exactly retry_after 300ms", waits, time.Since(start))
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls := 0
	err := Retry{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond}.Do(ctx, func(context.Context) error {
		calls++
		return &APIError{Code: 503}
	})
	if err == nil || !IsAPIError(err, 503) {
		t.Fatalf("err = %v, want the last 503", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second || calls < 3 {
		t.Errorf("gave up after %v and %d calls; want several calls within the 200ms deadline", elapsed, calls)
	}
}

func TestRetryDoesNotWaitPastDeadlineForLongRetryAfter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := DefaultRetry.Do(ctx, func(context.Context) error {
		return &APIError{Code: 429, RetryAfter: time.Hour}
	})
	if !IsAPIError(err, 429) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v; want the 429 at once", err, time.Since(start))
	}
}
