package proctest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Group is the processes of one harness, in start order.
type Group []*Process

// RSS is the resident memory of one process.
type RSS struct {
	Name  string
	PID   int
	Bytes int64
}

// Find returns the first process named name, or nil.
func (g Group) Find(name string) *Process {
	for _, p := range g {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Exited returns the errors of the processes that have ended, joined.
func (g Group) Exited() error {
	var errs []error
	for _, p := range g {
		errs = append(errs, p.Exited())
	}
	return errors.Join(errs...)
}

// Stop kills the processes in reverse start order.
func (g Group) Stop() error {
	var errs []error
	for i := len(g) - 1; i >= 0; i-- {
		errs = append(errs, g[i].Stop())
	}
	return errors.Join(errs...)
}

// PortTaken reports whether a process failed because its port was in use.
func (g Group) PortTaken() bool {
	for _, p := range g {
		if data, err := os.ReadFile(p.LogPath); err == nil && strings.Contains(string(data), "address already in use") {
			return true
		}
	}
	return false
}

// RSS reports VmRSS of every process, in start order.
func (g Group) RSS() ([]RSS, error) {
	out := make([]RSS, 0, len(g))
	for _, p := range g {
		b, err := p.RSS()
		if err != nil {
			return nil, err
		}
		out = append(out, RSS{Name: p.Name, PID: p.PID(), Bytes: b})
	}
	return out, nil
}

// LogTails returns the last n lines of every process's log.
func (g Group) LogTails(n int) string {
	var b strings.Builder
	for _, p := range g {
		fmt.Fprintf(&b, "--- %s (last %d lines of %s) ---\n%s\n", p.Name, n, p.LogPath, p.Tail(n))
	}
	return b.String()
}

// Poll calls check every interval until it returns nil, the process named
// name (if g has one) exits, or ctx ends.
func (g Group) Poll(ctx context.Context, interval time.Duration, name string, check func(context.Context) error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if p := g.Find(name); p != nil {
			if exitErr := p.Exited(); exitErr != nil {
				return exitErr
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v)", name, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// GetOK is a check for Poll: it GETs url with client and returns an error
// unless the answer is 200 OK.
func GetOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
