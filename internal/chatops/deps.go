package chatops

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
	"gitlab.com/derrick-kit/derrick/internal/registry"
)

// Dependencies the bot calls, as DependencyError and Health name them.
const (
	DepKubernetes = "kubernetes"
	DepRegistry   = "registry"
	DepArgoCD     = "argocd"
)

// DependencyError says which dependency a failed call went to.
type DependencyError struct {
	Dependency string // DepKubernetes, DepRegistry or DepArgoCD
	Err        error
}

func (e *DependencyError) Error() string { return e.Err.Error() }
func (e *DependencyError) Unwrap() error { return e.Err }

// Health remembers, per dependency, how its last call ended, for /readyz.
// It is safe for concurrent use.
type Health struct {
	mu   sync.Mutex
	last map[string]healthEntry
	now  func() time.Time
}

type healthEntry struct {
	err error
	at  time.Time
}

func newHealth() *Health { return &Health{last: map[string]healthEntry{}, now: time.Now} }

// observe records the outcome of one call; a cancelled call (shutdown, or a
// command given up for another reason) says nothing about the dependency.
func (h *Health) observe(dep string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[dep] = healthEntry{err: err, at: h.now()}
}

// Failing returns one error per dependency among deps whose last call
// failed, sorted by dependency, or nil.
func (h *Health) Failing(deps ...string) []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, dep := range deps {
		if e, ok := h.last[dep]; ok && e.err != nil {
			errs = append(errs, fmt.Errorf("%s: last call %s ago failed: %w", dep, h.now().Sub(e.at).Round(time.Second), e.err))
		}
	}
	return errs
}

// track records the outcome in h and tags an error with its dependency.
func track(h *Health, dep string, err error) error {
	h.observe(dep, err)
	var de *DependencyError
	if err == nil || errors.As(err, &de) {
		return err
	}
	return &DependencyError{Dependency: dep, Err: err}
}

// callResult is one call's result on its way to the caller: tracked(call).as
// records it in h and tags its error with its dependency.
type callResult[T any] struct {
	v   T
	err error
}

func tracked[T any](v T, err error) callResult[T] { return callResult[T]{v, err} }

func (r callResult[T]) as(h *Health, dep string) (T, error) { return r.v, track(h, dep, r.err) }

// answered is as for a call whose error may be, or wrap, answer: the
// dependency answered (no such node, say), so it counts as a success and
// the error is returned as it is.
func (r callResult[T]) answered(h *Health, dep string, answer error) (T, error) {
	if errors.Is(r.err, answer) {
		h.observe(dep, nil)
		return r.v, r.err
	}
	return r.as(h, dep)
}

// trackedCluster tags the cluster's errors as Kubernetes'.
type trackedCluster struct {
	c Cluster
	h *Health
}

func (t trackedCluster) Nodes(ctx context.Context) ([]cluster.Node, error) {
	return tracked(t.c.Nodes(ctx)).as(t.h, DepKubernetes)
}

func (t trackedCluster) SetSchedulable(ctx context.Context, node string, schedulable bool) (bool, error) {
	return tracked(t.c.SetSchedulable(ctx, node, schedulable)).answered(t.h, DepKubernetes, cluster.ErrNodeNotFound)
}

func (t trackedCluster) Pods(ctx context.Context) ([]cluster.Pod, error) {
	return tracked(t.c.Pods(ctx)).as(t.h, DepKubernetes)
}

func (t trackedCluster) Logs(ctx context.Context, pod string, lines int64) ([]string, error) {
	return tracked(t.c.Logs(ctx, pod, lines)).answered(t.h, DepKubernetes, cluster.ErrPodNotInDeployment)
}

func (t trackedCluster) Deployment(ctx context.Context) (cluster.Deployment, error) {
	return tracked(t.c.Deployment(ctx)).as(t.h, DepKubernetes)
}

// trackedRegistry tags the registry's errors.
type trackedRegistry struct {
	r Registry
	h *Health
}

func (t trackedRegistry) Tags(ctx context.Context) ([]registry.Tag, error) {
	return tracked(t.r.Tags(ctx)).as(t.h, DepRegistry)
}

func (t trackedRegistry) Resolve(ctx context.Context, tag string) (registry.Tag, error) {
	return tracked(t.r.Resolve(ctx, tag)).answered(t.h, DepRegistry, registry.ErrTagNotFound)
}

// trackedDeployer tags the deployer's errors: reads go to Kubernetes, the
// change and its follow-up to Kubernetes or Argo CD (DEPLOY_VIA).
type trackedDeployer struct {
	d      Deployer
	h      *Health
	change string
}

func newTrackedDeployer(d Deployer, h *Health) trackedDeployer {
	change := DepKubernetes
	if d.Mode() == deploy.ArgoCD {
		change = DepArgoCD
	}
	return trackedDeployer{d: d, h: h, change: change}
}

func (t trackedDeployer) Mode() deploy.Mode { return t.d.Mode() }

func (t trackedDeployer) Current(ctx context.Context) (string, int32, error) {
	img, n, err := t.d.Current(ctx)
	if managed := (*deploy.ArgoManagedError)(nil); errors.As(err, &managed) {
		t.h.observe(DepKubernetes, nil) // Kubernetes answered
		return img, n, err
	}
	return img, n, track(t.h, DepKubernetes, err)
}

func (t trackedDeployer) SetImage(ctx context.Context, image, cause string) error {
	return track(t.h, t.change, t.d.SetImage(ctx, image, cause))
}

func (t trackedDeployer) SetReplicas(ctx context.Context, n int32) error {
	return track(t.h, t.change, t.d.SetReplicas(ctx, n))
}

func (t trackedDeployer) Wait(ctx context.Context, image string, report func(deploy.Progress)) (deploy.Progress, error) {
	p, err := t.d.Wait(ctx, image, report)
	if errors.Is(err, context.DeadlineExceeded) {
		// BOT_ROLLOUT_TIMEOUT ran out: the rollout is slow, the
		// dependency may be fine.
		return p, err
	}
	return p, track(t.h, t.change, err)
}

func (t trackedDeployer) History(ctx context.Context, limit int) ([]deploy.Rollout, error) {
	return tracked(t.d.History(ctx, limit)).as(t.h, t.change)
}

func (t trackedDeployer) Previous(ctx context.Context) (string, deploy.Rollout, bool, error) {
	cur, prev, ok, err := t.d.Previous(ctx)
	return cur, prev, ok, track(t.h, t.change, err)
}
