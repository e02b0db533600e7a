package tgbot

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

func TestClassify(t *testing.T) {
	api := func(code int, retryAfter time.Duration) error {
		return fmt.Errorf("getUpdates: %w", &telegram.APIError{Method: "getUpdates", Code: code, RetryAfter: retryAfter})
	}
	for _, tc := range []struct {
		name      string
		err       error
		wantWait  time.Duration
		wantRetry bool
	}{
		{"token rejected", api(401, 0), 0, false},
		{"bot not found", api(404, 0), 0, false},
		{"another poller", api(409, 0), 10 * time.Second, true},
		{"flood control", api(429, 7*time.Second), 7 * time.Second, true},
		{"429 without retry_after", api(429, 0), 0, true},
		{"server error", api(502, 0), 0, true},
		{"network", errors.New("dial tcp: connection refused"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, retry := Classify(10 * time.Second)(tc.err)
			if wait != tc.wantWait || retry != tc.wantRetry {
				t.Errorf("Classify(%v) = %s, %v; want %s, %v", tc.err, wait, retry, tc.wantWait, tc.wantRetry)
			}
		})
	}
}
