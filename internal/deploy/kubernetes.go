package deploy

import (
	"context"
	"fmt"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// KubernetesDeployer patches the Deployment (DEPLOY_VIA=kubernetes).
type KubernetesDeployer struct {
	Cluster Cluster
	// Every is how often the rollout is polled.
	Every time.Duration
}

// Cluster is what KubernetesDeployer does to the Deployment;
// *cluster.Client is the production one.
type Cluster interface {
	Deployment(ctx context.Context) (cluster.Deployment, error)
	Scale(ctx context.Context, replicas int32) (prev int32, err error)
	SetImageCause(ctx context.Context, image, cause string) (prev string, err error)
	WaitRollout(ctx context.Context, every time.Duration, report func(cluster.Rollout)) (cluster.Rollout, error)
}

var _ Cluster = (*cluster.Client)(nil)

// Mode is Kubernetes.
func (k *KubernetesDeployer) Mode() Mode { return Kubernetes }

// Current is the application container's image and the replicas. It
// refuses a Deployment managed by Argo CD with *ArgoManagedError.
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

// SetImage patches the application container's image, writing cause as
// the Deployment's kubernetes.io/change-cause in the same patch ("" leaves
// it alone).
func (k *KubernetesDeployer) SetImage(ctx context.Context, image, cause string) error {
	_, err := k.Cluster.SetImageCause(ctx, image, cause)
	return err
}

// SetReplicas scales the Deployment.
func (k *KubernetesDeployer) SetReplicas(ctx context.Context, n int32) error {
	_, err := k.Cluster.Scale(ctx, n)
	return err
}

// Wait follows the rollout until it is done, failed, or ctx ends, calling
// report when its figures change. image, when not empty, must be what the
// Deployment runs at the end: a rollout that another change superseded is
// reported failed.
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
	return Progress{Mode: Kubernetes, Done: r.Done, Failed: r.Failed, Message: r.Message,
		Desired: r.Desired, Updated: r.Updated, Ready: r.Ready, Available: r.Available}
}
