package registry

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of the settings both sources share.
const (
	// DefaultCacheTTL is how long a listing is reused (REGISTRY_CACHE_TTL).
	DefaultCacheTTL = 30 * time.Second
	// MaxCacheTTL bounds REGISTRY_CACHE_TTL: a new tag must show up some day.
	MaxCacheTTL = time.Hour
	// DefaultRequestTimeout bounds each HTTP request to GitLab or a registry.
	DefaultRequestTimeout = 15 * time.Second
	// maxListing bounds one whole listing, whoever waits for it.
	maxListing = 5 * time.Minute
)

// ValidateCacheTTL checks a REGISTRY_CACHE_TTL value.
func ValidateCacheTTL(d time.Duration) error {
	if d < 0 || d > MaxCacheTTL {
		return fmt.Errorf("REGISTRY_CACHE_TTL must be a Go duration from 0s (no cache) to %s such as 30s, got %s", MaxCacheTTL, d)
	}
	return nil
}

// listing is what both sources share: Tags through one
// listingCache, and the log of tags listed without details.
type listing struct {
	cache    listingCache
	failures detailFailures
}

// init sets up the listing of source what (for messages), listed by fetch.
func (l *listing) init(what string, ttl time.Duration, log *slog.Logger, fetch func(ctx context.Context) ([]Tag, error)) {
	l.failures.log, l.failures.what = cmp.Or(log, slog.Default()), what
	l.cache.ttl, l.cache.what, l.cache.fetch, l.cache.now = ttl, what, fetch, time.Now
}

// Tags lists every tag with its build time and manifest digest, newest
// first. A listing is reused for REGISTRY_CACHE_TTL; concurrent calls share
// one listing.
func (l *listing) Tags(ctx context.Context) ([]Tag, error) { return l.cache.get(ctx) }

// listingCache keeps the last listing for ttl and runs one listing at a time
// for all callers: concurrent commands wait for the same requests instead
// of sending their own. A listing that fails is not kept.
type listingCache struct {
	ttl   time.Duration
	what  string // the source, for errors: "registry of HOST/NAME", "GitLab at URL"
	fetch func(ctx context.Context) ([]Tag, error)
	now   func() time.Time

	mu     sync.Mutex
	tags   []Tag
	at     time.Time
	flight *flight
}

type flight struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int
	tags    []Tag
	err     error
}

// get returns the cached listing while it is fresh, else waits for the
// listing under way or starts one. The listing runs on its own context
// (bounded by maxListing) so that one caller's deadline does not fail the
// others; it is cancelled once nobody waits for it any more.
func (c *listingCache) get(ctx context.Context) ([]Tag, error) {
	c.mu.Lock()
	if c.tags != nil && c.now().Sub(c.at) < c.ttl {
		tags := slices.Clone(c.tags)
		c.mu.Unlock()
		return tags, nil
	}
	f := c.flight
	if f == nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxListing)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		c.flight = f
		go c.run(fctx, f)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return slices.Clone(f.tags), nil
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 && c.flight == f {
			c.flight = nil // the next caller starts afresh
			f.cancel()
		}
		c.mu.Unlock()
		return nil, fmt.Errorf("%s did not finish listing tags in time: %w", c.what, context.Cause(ctx))
	}
}

func (c *listingCache) run(ctx context.Context, f *flight) {
	defer f.cancel()
	tags, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.flight == f {
		c.tags, c.at = tags, c.now()
	}
	if c.flight == f {
		c.flight = nil
	}
	f.tags, f.err = tags, err
	close(f.done)
}

// detailFailures logs tags listed without their details (build
// time, digest) because fetching those failed. The same set of failing tags
// is logged once, not on every listing.
type detailFailures struct {
	log  *slog.Logger
	what string

	mu   sync.Mutex
	last string // the failing tags of the previous report
}

// report records the failures of one listing: tag name -> error.
func (d *detailFailures) report(failed map[string]error) {
	if len(failed) == 0 {
		d.mu.Lock()
		d.last = ""
		d.mu.Unlock()
		return
	}
	names := slices.Sorted(maps.Keys(failed))
	key := strings.Join(names, "\x00")
	d.mu.Lock()
	same := key == d.last
	d.last = key
	d.mu.Unlock()
	if same {
		return
	}
	shown := names[:min(len(names), 5)]
	d.log.Warn("tags listed without build time: reading their details failed",
		"source", d.what, "tags", len(names), "examples", strings.Join(shown, ", "),
		"error", failed[names[0]].Error())
}
