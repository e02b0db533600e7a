package chatops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// Deployer changes what the application runs — its image and its number of
// replicas — and follows the change until it is rolled out. DEPLOY_VIA
// picks one: the Deployment patched directly, or Argo CD.
type Deployer interface {
	// Current is the application container's image and the replicas.
	Current(ctx context.Context) (image string, replicas int32, err error)
	SetImage(ctx context.Context, image string) error
	SetReplicas(ctx context.Context, n int32) error
	// Wait follows the last change until it is done, failed, or ctx ends,
	// calling report when the progress changes. image, when not empty, must
	// be what the application runs at the end.
	Wait(ctx context.Context, image string, report func(Progress)) (Progress, error)
}

// Progress is how far a change has got.
type Progress struct {
	Done, Failed bool
	Message      string // why it failed
	// Rollout figures of the Deployment (DEPLOY_VIA=kubernetes).
	Desired, Updated, Ready, Available int32
	// Argo CD's view (DEPLOY_VIA=argocd), e.g. "sync Synced, health
	// Progressing, operation Running"; empty otherwise.
	Argo string
}

// ArgoManagedError refuses a direct change of a Deployment that Argo CD
// manages: its self-heal would silently revert it.
type ArgoManagedError struct {
	Deployment, App, TrackedBy string
}

func (e *ArgoManagedError) Error() string {
	return fmt.Sprintf("deployment %s is managed by Argo CD application %q (%s): set DEPLOY_VIA=argocd", e.Deployment, e.App, e.TrackedBy)
}

// KubernetesDeployer patches the Deployment (DEPLOY_VIA=kubernetes).
type KubernetesDeployer struct {
	Cluster interface {
		Deployment(ctx context.Context) (cluster.Deployment, error)
		Scale(ctx context.Context, replicas int32) (prev int32, err error)
		SetImage(ctx context.Context, image string) (prev string, err error)
		WaitRollout(ctx context.Context, every time.Duration, report func(cluster.Rollout)) (cluster.Rollout, error)
	}
	// Every is how often the rollout is polled.
	Every time.Duration
}

var _ Deployer = (*KubernetesDeployer)(nil)

// Current refuses a Deployment managed by Argo CD with *ArgoManagedError.
func (k *KubernetesDeployer) Current(ctx context.Context) (string, int32, error) {
	d, err := k.Cluster.Deployment(ctx)
	if err != nil {
		return "", 0, err
	}
	if d.ArgoApp != "" {
		return "", 0, &ArgoManagedError{Deployment: d.Name, App: d.ArgoApp, TrackedBy: d.ArgoTrackedBy}
	}
	return d.Image, d.Replicas, nil
}

func (k *KubernetesDeployer) SetImage(ctx context.Context, image string) error {
	_, err := k.Cluster.SetImage(ctx, image)
	return err
}

func (k *KubernetesDeployer) SetReplicas(ctx context.Context, n int32) error {
	_, err := k.Cluster.Scale(ctx, n)
	return err
}

func (k *KubernetesDeployer) Wait(ctx context.Context, image string, report func(Progress)) (Progress, error) {
	r, err := k.Cluster.WaitRollout(ctx, k.Every, func(r cluster.Rollout) { report(progressOf(r)) })
	p := progressOf(r)
	if err != nil || !p.Done || image == "" {
		return p, err
	}
	// A later change (another /deploy, kubectl) may have finished instead:
	// report the rollout as ours only when it runs our image.
	d, err := k.Cluster.Deployment(ctx)
	if err != nil {
		return p, err
	}
	if d.Image != image {
		p.Done, p.Failed = false, true
		p.Message = fmt.Sprintf("superseded: the Deployment now runs %s", d.Image)
	}
	return p, nil
}

func progressOf(r cluster.Rollout) Progress {
	return Progress{Done: r.Done, Failed: r.Failed, Message: r.Message,
		Desired: r.Desired, Updated: r.Updated, Ready: r.Ready, Available: r.Available}
}

// ArgoCDDeployer changes the Argo CD Application (DEPLOY_VIA=argocd): the
// kustomize image and replicas overrides, then a sync, then it waits until
// the application is Synced and Healthy. It reads the current state from the
// Deployment, which Argo CD keeps in step.
type ArgoCDDeployer struct {
	Argo    *argocd.Client
	Cluster interface {
		Deployment(ctx context.Context) (cluster.Deployment, error)
	}
	// Workload is the name the replicas override applies to (the Deployment).
	Workload string
}

var _ Deployer = (*ArgoCDDeployer)(nil)

func (a *ArgoCDDeployer) Current(ctx context.Context) (string, int32, error) {
	d, err := a.Cluster.Deployment(ctx)
	if err != nil {
		return "", 0, err
	}
	return d.Image, d.Replicas, nil
}

func (a *ArgoCDDeployer) SetImage(ctx context.Context, image string) error {
	if err := a.Argo.SetImage(ctx, image); err != nil {
		return err
	}
	return a.Argo.Sync(ctx)
}

func (a *ArgoCDDeployer) SetReplicas(ctx context.Context, n int32) error {
	if err := a.Argo.SetReplicas(ctx, a.Workload, n); err != nil {
		return err
	}
	return a.Argo.Sync(ctx)
}

func (a *ArgoCDDeployer) Wait(ctx context.Context, image string, report func(Progress)) (Progress, error) {
	app, err := a.Argo.WaitHealthy(ctx, image, func(app argocd.App) { report(Progress{Argo: app.String()}) })
	p := Progress{Argo: app.String(), Done: err == nil}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		p.Failed, p.Message = true, err.Error()
	}
	return p, err
}
