package chatops

import (
	"context"
	"fmt"

	"gitlab.com/derrick-kit/derrick/internal/deploy"
)

// Deployer changes what the application runs — its image and its number of
// replicas — and follows the change until it is rolled out. DEPLOY_VIA
// picks one of the deployers of package deploy.
type Deployer interface {
	// Mode says which dependency the changes go to.
	Mode() deploy.Mode
	// Current is the application container's image and the replicas; a
	// *deploy.ArgoManagedError refuses a direct change.
	Current(ctx context.Context) (image string, replicas int32, err error)
	// SetImage makes the application run image; cause (such as "/deploy
	// 0.10.5 by @user (1001)") is recorded where the mode can keep it.
	SetImage(ctx context.Context, image, cause string) error
	SetReplicas(ctx context.Context, n int32) error
	// Wait follows the last change until it is done, failed, or ctx ends,
	// calling report when the progress changes. image, when not empty, must
	// be what the application runs at the end.
	Wait(ctx context.Context, image string, report func(deploy.Progress)) (deploy.Progress, error)
}

var (
	_ Deployer = (*deploy.KubernetesDeployer)(nil)
	_ Deployer = (*deploy.ArgoCDDeployer)(nil)
)

// change is what follow follows: the /deploy of version, or the
// /set_replicas whose first answer was set.
type change struct{ version, set string }

// progressText renders how far a change has got, while it goes on and once
// it is done, for either deploy mode.
func (c *Core) progressText(ch change, p deploy.Progress, done bool) string {
	argo := p.Mode == deploy.ArgoCD
	if ch.set == "" {
		v := esc(ch.version)
		switch {
		case argo && done:
			return fmt.Sprintf(c.t.DeployDoneArgo, v)
		case argo:
			return fmt.Sprintf(c.t.DeployArgo, v, esc(p.Argo.String()))
		case done:
			return fmt.Sprintf(c.t.DeployDone, v, p.Available, p.Desired)
		default:
			return fmt.Sprintf(c.t.DeployProgress, v, p.Updated, p.Desired, p.Ready, p.Desired, p.Available, p.Desired)
		}
	}
	s := ch.set + " " + fmt.Sprintf(c.t.ReplicasProgress, p.Ready, p.Desired, p.Available, p.Desired)
	if argo {
		s = ch.set + " Argo CD: " + esc(p.Argo.String())
	}
	if done {
		s = "✅ " + s
	}
	return s
}
