package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errTemporary = errors.New("temporary")

func TestDoFollowsTheClassification(t *testing.T) {
	errFinal := errors.New("final")
	cases := []struct {
		name      string
		errs      []error // what fn returns, one per call
		attempts  int
		wantCalls int
		wantErr   error
	}{
		{"success at once", []error{nil}, 0, 1, nil},
		{"temporary then success", []error{errTemporary, errTemporary, nil}, 0, 3, nil},
		{"final error is not retried", []error{errFinal, nil}, 0, 1, errFinal},
		{"attempts bound the calls", []error{errTemporary, errTemporary, errTemporary, nil}, 2, 2, errTemporary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			p := Policy{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: tc.attempts}
			err := p.Do(context.Background(), func(err error) (time.Duration, bool) {
				return 0, errors.Is(err, errTemporary)
			}, func(context.Context) error {
				calls++
				return tc.errs[calls-1]
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("calls %d, err %v; want %d calls, err %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

func TestDoWaitsWhatTheAnswerAsked(t *testing.T) {
	var waits []time.Duration
	p := Policy{Base: time.Hour, OnRetry: func(_ int, wait time.Duration, _ error) { waits = append(waits, wait) }}
	calls := 0
	err := p.Do(context.Background(), func(error) (time.Duration, bool) { return 30 * time.Millisecond, true },
		func(context.Context) error {
			if calls++; calls < 2 {
				return errTemporary
			}
			return nil
		})
	if err != nil || len(waits) != 1 || waits[0] != 30*time.Millisecond {
		t.Errorf("err %v, waits %v; want one wait of the asked 30ms", err, waits)
	}
}

func TestDoNeverWaitsPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Policy{Base: time.Hour}.Do(ctx, func(error) (time.Duration, bool) { return 0, true },
		func(context.Context) error { return errTemporary })
	if !errors.Is(err, errTemporary) || time.Since(start) > time.Second {
		t.Errorf("err %v after %v; want the last error at once", err, time.Since(start))
	}
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt := 1; attempt <= 40; attempt++ {
		want := min(p.Base<<min(attempt-1, 20), p.Max)
		if d := p.Backoff(attempt); d < want/2 || d > want {
			t.Errorf("attempt %d: back-off %v, want within [%v, %v]", attempt, d, want/2, want)
		}
	}
}
