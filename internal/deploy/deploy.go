// Package deploy changes what the application runs — its image and its
// number of replicas — and follows the change until it is rolled out.
// DEPLOY_VIA picks the deployer: KubernetesDeployer patches the Deployment,
// ArgoCDDeployer changes the Argo CD Application.
package deploy

import (
	"fmt"
	"log/slog"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

// Mode is how a change reaches the application, as DEPLOY_VIA names it.
type Mode string

// Modes.
const (
	Kubernetes Mode = "kubernetes"
	ArgoCD     Mode = "argocd"
)

// Progress is how far a change has got, in either mode.
type Progress struct {
	Mode         Mode
	Done, Failed bool
	Message      string // why it failed
	// Rollout figures of the Deployment (Mode Kubernetes).
	Desired, Updated, Ready, Available int32
	// Argo is Argo CD's view of the application (Mode ArgoCD).
	Argo argocd.App
}

// LogValue logs the figures of p's mode.
func (p Progress) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("mode", string(p.Mode)), slog.Bool("done", p.Done), slog.Bool("failed", p.Failed)}
	if p.Mode == ArgoCD {
		attrs = append(attrs, slog.String("argocd", p.Argo.String()))
	} else {
		attrs = append(attrs, slog.Int("updated", int(p.Updated)), slog.Int("available", int(p.Available)), slog.Int("desired", int(p.Desired)))
	}
	return slog.GroupValue(attrs...)
}

// ArgoManagedError refuses a direct change of a Deployment that Argo CD
// manages: its self-heal would silently revert it.
type ArgoManagedError struct {
	Deployment, App, TrackedBy string
}

func (e *ArgoManagedError) Error() string {
	return fmt.Sprintf("deployment %s is managed by Argo CD application %q (%s): set DEPLOY_VIA=argocd", e.Deployment, e.App, e.TrackedBy)
}

// Rollout is one entry of the application's rollout history, in either
// mode: a ReplicaSet of the Deployment, or an entry of the Argo CD
// Application's status.history.
type Rollout struct {
	// Revision is the ReplicaSet's revision, or the history entry's id.
	Revision int64
	// Image is the application image of the rollout, "" when unknown.
	Image string
	// Cause is who made it: the kubernetes.io/change-cause, or Argo CD's
	// initiatedBy; "" when nothing was recorded.
	Cause string
	When  time.Time
}
