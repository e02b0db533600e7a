package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestListingCacheTTL(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	var calls atomic.Int32
	fail := false
	c := &listingCache{ttl: 30 * time.Second, what: "test registry", now: clock.Now,
		fetch: func(ctx context.Context) ([]Tag, error) {
			calls.Add(1)
			if fail {
				return nil, errors.New("down")
			}
			return []Tag{{Name: "1.0.0"}}, nil
		}}
	get := func() []Tag {
		t.Helper()
		tags, err := c.get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	got := get()
	got[0].Name = "changed by a caller"
	clock.add(29 * time.Second)
	if got := get(); got[0].Name != "1.0.0" || calls.Load() != 1 {
		t.Errorf("within the TTL: %v after %d fetches, want the cached 1.0.0 after 1", got, calls.Load())
	}
	clock.add(time.Second)
	get()
	if calls.Load() != 2 {
		t.Errorf("%d fetches once the TTL is over, want 2", calls.Load())
	}
	clock.add(time.Minute)
	fail = true
	if _, err := c.get(t.Context()); err == nil {
		t.Fatal("no error from a failing fetch")
	}
	if _, err := c.get(t.Context()); err == nil || calls.Load() != 4 {
		t.Errorf("a failure was cached: %d fetches, want 4", calls.Load())
	}
}

// TestListingCacheShared checks that concurrent callers share one listing,
// that one leaving does not fail the others, and that the listing stops
// once nobody waits for it.
func TestListingCacheShared(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	cancelled := make(chan struct{}, 1)
	c := &listingCache{what: "test registry", now: time.Now,
		fetch: func(ctx context.Context) ([]Tag, error) {
			calls.Add(1)
			select {
			case <-release:
				return []Tag{{Name: "1.0.0"}}, nil
			case <-ctx.Done():
				cancelled <- struct{}{}
				return nil, ctx.Err()
			}
		}}
	impatient, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		ctx := t.Context()
		if i == 0 {
			ctx = impatient
		}
		wg.Go(func() {
			tags, err := c.get(ctx)
			if i == 0 {
				if err == nil {
					errs <- errors.New("the cancelled caller got tags")
				}
				return
			}
			if err != nil || len(tags) != 1 {
				errs <- err
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := 0
		if c.flight != nil {
			n = c.flight.waiters
		}
		c.mu.Unlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want 10", n)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d listings for 10 concurrent callers, want 1", n)
	}

	// Nobody waits any more: the listing is cancelled, the next starts afresh.
	c2 := &listingCache{what: "test registry", now: time.Now, fetch: c.fetch}
	release = make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c2.get(ctx)
	wantErr(t, err, "test registry did not finish listing tags in time", "context deadline exceeded")
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the listing went on after its only caller left")
	}
}

func TestValidateCacheTTL(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, DefaultCacheTTL, MaxCacheTTL} {
		if err := ValidateCacheTTL(d); err != nil {
			t.Errorf("ValidateCacheTTL(%s): %v", d, err)
		}
	}
	for _, d := range []time.Duration{-time.Second, MaxCacheTTL + time.Second} {
		if err := ValidateCacheTTL(d); err == nil {
			t.Errorf("ValidateCacheTTL(%s) accepted it", d)
		}
	}
}
