package telegramtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Fault makes the emulator answer calls with a failure instead of handling them.
type Fault struct {
	// Method limits the fault to one Bot API method (any case); empty matches every method.
	Method string
	// Times is how many matching calls the fault answers before it is used up; at least 1.
	Times int
	// Status is the HTTP status and error_code: 429 for flood control, 5xx for a server error,
	// or another 4xx such as 403 with Description "Forbidden: bot was blocked by the user".
	Status int
	// RetryAfter is sent as parameters.retry_after (seconds) when Status is 429.
	RetryAfter int
	// Description replaces the default, "Too Many Requests: retry after N" or the status text.
	Description string
	// Drop reads the request, then closes the connection without a response; Status is ignored.
	Drop bool
	// Delay holds the call that long first (a slow or hung Telegram); then the call fails
	// as Status or Drop say, or, with neither set, is handled normally.
	Delay time.Duration
}

// InjectFault adds f after the faults already waiting. A call takes the first fault that
// matches its method; each fault answers exactly f.Times calls, also under concurrency.
func (s *Server) InjectFault(f Fault) error {
	if f.Times < 1 {
		return fmt.Errorf("telegramtest: fault Times is %d: must be at least 1", f.Times)
	}
	if !f.Drop && (f.Status < 400 || f.Status > 599) && (f.Delay <= 0 || f.Status != 0) {
		return fmt.Errorf("telegramtest: fault Status is %d: must be 400..599, or set Drop or Delay", f.Status)
	}
	if f.Method != "" {
		m, ok := methods[strings.ToLower(f.Method)]
		if !ok {
			return fmt.Errorf("telegramtest: fault Method %q is not emulated", f.Method)
		}
		f.Method = m.name
	}
	if f.Description == "" && !f.Drop && f.Status != 0 {
		f.Description = http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			f.Description = fmt.Sprintf("Too Many Requests: retry after %d", f.RetryAfter)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// takeFaultLocked uses up one call of the first fault that matches method.
func (s *Server) takeFaultLocked(method string) (Fault, bool) {
	for i, f := range s.faults {
		if f.Method == "" || f.Method == method {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
			return *f, true
		}
	}
	return Fault{}, false
}

func serveFault(w http.ResponseWriter, r *http.Request, f Fault) {
	if !f.Drop {
		writeError(w, &apiError{code: f.Status, desc: f.Description, retryAfter: f.RetryAfter})
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	} else if !errors.Is(err, http.ErrNotSupported) {
		return // the connection is gone already
	}
	// HTTP/2 cannot be hijacked: the nearest thing is a gateway error.
	writeError(w, &apiError{code: http.StatusBadGateway, desc: "Bad Gateway"})
}

// delay waits d, and reports false when the request or the server ended first.
func (s *Server) delay(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}
