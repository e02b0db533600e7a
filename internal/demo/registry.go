package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/registry"
)

// Registry is the simulated image registry: tags 0.10.3, 0.10.4, 0.10.5
// and main, built days apart before the demo started.
type Registry struct {
	tags []registry.Tag
}

var _ chatops.Registry = (*Registry)(nil)

// NewRegistry returns the registry as of now.
func NewRegistry(now time.Time) *Registry {
	day := 24 * time.Hour
	r := &Registry{}
	for _, t := range []struct {
		name string
		age  time.Duration
	}{
		{"0.10.3", 27*day + 5*time.Hour},
		{"0.10.4", 12*day + 2*time.Hour},
		{"0.10.5", 2*day + 7*time.Hour},
		{"main", 3*time.Hour + 20*time.Minute},
	} {
		sum := sha256.Sum256([]byte(Repository + ":" + t.name))
		r.tags = append(r.tags, registry.Tag{
			Name: t.name, Created: now.Add(-t.age).Truncate(time.Minute), Digest: "sha256:" + hex.EncodeToString(sum[:]),
		})
	}
	registry.SortNewestFirst(r.tags)
	return r
}

// Tags lists the tags, newest first.
func (r *Registry) Tags(ctx context.Context) ([]registry.Tag, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return append([]registry.Tag(nil), r.tags...), nil
}

// Resolve looks one tag up, as /deploy does to pin its digest.
func (r *Registry) Resolve(ctx context.Context, tag string) (registry.Tag, error) {
	if err := ctx.Err(); err != nil {
		return registry.Tag{}, err
	}
	for _, t := range r.tags {
		if t.Name == tag {
			return t, nil
		}
	}
	return registry.Tag{}, fmt.Errorf("tag %q: %w", tag, registry.ErrTagNotFound)
}
