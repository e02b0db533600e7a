package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

// progressDeadlineExceeded is the reason of the Progressing condition when
// a rollout made no progress for spec.progressDeadlineSeconds.
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// Rollout is the progress of the Deployment's rollout.
type Rollout struct {
	// Desired is spec.replicas; Updated, Ready and Available count the
	// replicas on the current pod template, ready, and available
	// (status.updatedReplicas, readyReplicas, availableReplicas).
	Desired, Updated, Ready, Available int32
	// Done: the controller has seen the latest spec, every desired replica
	// runs the current template and is available, and no other replica is
	// left (as `kubectl rollout status` decides, and also waiting for
	// surplus replicas to go after a scale-down).
	Done bool
	// Failed: the rollout will not finish by itself: the Progressing
	// condition says ProgressDeadlineExceeded, or the Deployment is paused.
	Failed bool
	// Message says what the rollout waits for, or why it failed.
	Message string
}

// Rollout reads the Deployment and reports its rollout.
func (c *Client) Rollout(ctx context.Context) (Rollout, error) {
	d, err := c.get(ctx)
	if err != nil {
		return Rollout{}, err
	}
	return rolloutOf(d), nil
}

func rolloutOf(d *appsv1.Deployment) Rollout {
	st := d.Status
	r := Rollout{
		Desired:   ptr.Deref(d.Spec.Replicas, 1),
		Updated:   st.UpdatedReplicas,
		Ready:     st.ReadyReplicas,
		Available: st.AvailableReplicas,
	}
	if d.Generation > st.ObservedGeneration {
		r.Message = "waiting for the deployment controller to observe the change"
		return r
	}
	for _, cond := range st.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == progressDeadlineExceeded {
			r.Failed = true
			r.Message = fmt.Sprintf("deployment %s/%s exceeded its progress deadline: %s", d.Namespace, d.Name, cond.Message)
			return r
		}
	}
	switch {
	case st.UpdatedReplicas < r.Desired:
		r.Message = fmt.Sprintf("%d of %d new replicas have been updated", st.UpdatedReplicas, r.Desired)
	case st.Replicas > st.UpdatedReplicas:
		r.Message = fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.UpdatedReplicas > r.Desired:
		r.Message = fmt.Sprintf("%d surplus replicas are pending termination", st.UpdatedReplicas-r.Desired)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.Message = fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.Done = true
		r.Message = fmt.Sprintf("deployment %s/%s successfully rolled out", d.Namespace, d.Name)
		return r
	}
	if d.Spec.Paused {
		r.Failed = true
		r.Message = fmt.Sprintf("deployment %s/%s is paused (run kubectl rollout resume deployment/%s -n %s)", d.Namespace, d.Name, d.Name, d.Namespace)
	}
	return r
}

// WaitRollout checks the rollout every interval (1s if every <= 0) until
// it is done, has failed, or ctx ends. It calls report, when not nil, with
// the first figures and then whenever they change. It returns the last
// Rollout seen and nil when done; an error wrapping ErrRolloutFailed when
// failed; ctx's error when ctx ended first. Errors that may pass (network,
// 429, 5xx) are retried until ctx ends; others end the wait.
func (c *Client) WaitRollout(ctx context.Context, every time.Duration, report func(Rollout)) (Rollout, error) {
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var (
		last    Rollout
		seen    bool
		lastErr error
	)
	for {
		r, err := c.Rollout(ctx)
		switch {
		case err != nil && ctx.Err() == nil && retryable(err):
			lastErr = err
		case err != nil:
			return last, fmt.Errorf("wait for rollout of deployment %s: %w", c.t, err)
		default:
			lastErr = nil
			if !seen || r != last {
				seen, last = true, r
				if report != nil {
					report(r)
				}
			}
			if r.Done {
				return r, nil
			}
			if r.Failed {
				return r, fmt.Errorf("rollout of deployment %s: %w: %s", c.t, ErrRolloutFailed, r.Message)
			}
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("wait for rollout of deployment %s: %w (%s)", c.t, ctx.Err(), last.Message)
			if lastErr != nil {
				err = errors.Join(err, lastErr)
			}
			return last, err
		case <-tick.C:
		}
	}
}
