package deploy

import (
	"context"
	"errors"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// ArgoCDDeployer changes the Argo CD Application (DEPLOY_VIA=argocd): the
// kustomize image and replicas overrides, then a sync, then it waits until
// the application is Synced and Healthy. It reads the current state from the
// Deployment, which Argo CD keeps in step.
type ArgoCDDeployer struct {
	Argo    ArgoClient
	Cluster interface {
		Deployment(ctx context.Context) (cluster.Deployment, error)
	}
	// Workload is the name the replicas override applies to (the Deployment).
	Workload string
	// Repository is the application image's repository without tag
	// (REGISTRY_IMAGE): the override the history is read from.
	Repository string
}

// ArgoClient is what ArgoCDDeployer asks of Argo CD; *argocd.Client is the
// production one.
type ArgoClient interface {
	SetImage(ctx context.Context, image string) error
	SetReplicas(ctx context.Context, workload string, n int32) error
	Sync(ctx context.Context) error
	WaitHealthy(ctx context.Context, image string, report func(argocd.App)) (argocd.App, error)
	History(ctx context.Context, repository string) (current string, history []argocd.Deployed, err error)
	PreviousImage(ctx context.Context, repository string) (current string, prev argocd.Deployed, ok bool, err error)
}

var _ ArgoClient = (*argocd.Client)(nil)

// Mode is ArgoCD.
func (a *ArgoCDDeployer) Mode() Mode { return ArgoCD }

// Current is the application container's image and the replicas, as the
// Deployment has them.
func (a *ArgoCDDeployer) Current(ctx context.Context) (string, int32, error) {
	d, err := a.Cluster.Deployment(ctx)
	if err != nil {
		return "", 0, err
	}
	return d.Image, d.Replicas, nil
}

// SetImage sets the application's image override and syncs. cause is not
// recorded yet: the Application's history has no field for it.
func (a *ArgoCDDeployer) SetImage(ctx context.Context, image, _ string) error {
	if err := a.Argo.SetImage(ctx, image); err != nil {
		return err
	}
	return a.Argo.Sync(ctx)
}

// SetReplicas sets the replicas override of Workload and syncs.
func (a *ArgoCDDeployer) SetReplicas(ctx context.Context, n int32) error {
	if err := a.Argo.SetReplicas(ctx, a.Workload, n); err != nil {
		return err
	}
	return a.Argo.Sync(ctx)
}

// Wait follows the application until it is Synced and Healthy (and runs
// image, when not empty), calling report when Argo CD's view changes. A
// sync that failed or a Degraded application is reported failed; when ctx
// ends, the progress is neither done nor failed and the error is ctx's.
func (a *ArgoCDDeployer) Wait(ctx context.Context, image string, report func(Progress)) (Progress, error) {
	app, err := a.Argo.WaitHealthy(ctx, image, func(app argocd.App) { report(argoProgress(app)) })
	p := argoProgress(app)
	p.Done = err == nil
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		p.Failed, p.Message = true, err.Error()
	}
	return p, err
}

func argoProgress(app argocd.App) Progress { return Progress{Mode: ArgoCD, Argo: app} }

// History lists the last limit entries of the Application's history,
// newest first.
func (a *ArgoCDDeployer) History(ctx context.Context, limit int) ([]Rollout, error) {
	_, history, err := a.Argo.History(ctx, a.Repository)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(history) > limit {
		history = history[:limit]
	}
	out := make([]Rollout, len(history))
	for i, d := range history {
		out[i] = deployedRollout(d)
	}
	return out, nil
}

// Previous is what a rollback goes back to: the newest history entry whose
// image differs from the current one; ok is false when there is none.
func (a *ArgoCDDeployer) Previous(ctx context.Context) (current string, prev Rollout, ok bool, err error) {
	current, d, ok, err := a.Argo.PreviousImage(ctx, a.Repository)
	return current, deployedRollout(d), ok, err
}

func deployedRollout(d argocd.Deployed) Rollout {
	return Rollout{Revision: d.ID, Image: d.Image, Cause: d.InitiatedBy, When: d.DeployedAt}
}
