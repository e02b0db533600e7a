package cluster_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// status sets the Deployment's generation, spec.replicas and status:
// observed generation, replicas, updated, ready, available.
func status(gen, observed int64, desired, replicas, updated, ready, available int32) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Generation = gen
		*d.Spec.Replicas = desired
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas,
			UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available}
	}
}

func deadlineExceeded(d *appsv1.Deployment) {
	d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{
		Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
		Message: `ReplicaSet "oil-refinery-application-7d9" has timed out progressing.`,
	})
}

func TestRollout(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit []func(*appsv1.Deployment)
		want cluster.Rollout
	}{
		{"change not yet observed", []func(*appsv1.Deployment){status(2, 1, 2, 2, 2, 2, 2)},
			cluster.Rollout{Desired: 2, Updated: 2, Ready: 2, Available: 2, Message: "waiting for the deployment controller to observe the change"}},
		{"new replicas being created", []func(*appsv1.Deployment){status(2, 2, 3, 3, 1, 3, 3)},
			cluster.Rollout{Desired: 3, Updated: 1, Ready: 3, Available: 3, Message: "1 of 3 new replicas have been updated"}},
		{"old replicas pending termination", []func(*appsv1.Deployment){status(2, 2, 3, 4, 3, 4, 4)},
			cluster.Rollout{Desired: 3, Updated: 3, Ready: 4, Available: 4, Message: "1 old replicas are pending termination"}},
		{"updated replicas not yet available", []func(*appsv1.Deployment){status(2, 2, 3, 3, 3, 2, 1)},
			cluster.Rollout{Desired: 3, Updated: 3, Ready: 2, Available: 1, Message: "1 of 3 updated replicas are available"}},
		{"scale-down not yet finished", []func(*appsv1.Deployment){status(3, 3, 2, 3, 3, 3, 3)},
			cluster.Rollout{Desired: 2, Updated: 3, Ready: 3, Available: 3, Message: "1 surplus replicas are pending termination"}},
		{"done", []func(*appsv1.Deployment){status(2, 2, 3, 3, 3, 3, 3)},
			cluster.Rollout{Desired: 3, Updated: 3, Ready: 3, Available: 3, Done: true, Message: "deployment prod/oil-refinery-application successfully rolled out"}},
		{"done at zero replicas", []func(*appsv1.Deployment){status(2, 2, 0, 0, 0, 0, 0)},
			cluster.Rollout{Done: true, Message: "deployment prod/oil-refinery-application successfully rolled out"}},
		{"progress deadline exceeded", []func(*appsv1.Deployment){status(2, 2, 3, 4, 1, 3, 3), deadlineExceeded},
			cluster.Rollout{Desired: 3, Updated: 1, Ready: 3, Available: 3, Failed: true,
				Message: `deployment prod/oil-refinery-application exceeded its progress deadline: ReplicaSet "oil-refinery-application-7d9" has timed out progressing.`}},
		{"paused mid-rollout", []func(*appsv1.Deployment){status(2, 2, 3, 3, 0, 3, 3), func(d *appsv1.Deployment) { d.Spec.Paused = true }},
			cluster.Rollout{Desired: 3, Ready: 3, Available: 3, Failed: true,
				Message: "deployment prod/oil-refinery-application is paused (run kubectl rollout resume deployment/oil-refinery-application -n prod)"}},
		{"paused but rolled out", []func(*appsv1.Deployment){status(2, 2, 3, 3, 3, 3, 3), func(d *appsv1.Deployment) { d.Spec.Paused = true }},
			cluster.Rollout{Desired: 3, Updated: 3, Ready: 3, Available: 3, Done: true, Message: "deployment prod/oil-refinery-application successfully rolled out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cluster.New(fake.NewClientset(deployment(tc.edit...)), target).Rollout(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Rollout (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing deployment", func(t *testing.T) {
		_, err := cluster.New(fake.NewClientset(), target).Rollout(t.Context())
		if !errors.Is(err, cluster.ErrDeploymentNotFound) {
			t.Errorf("got %v, want ErrDeploymentNotFound", err)
		}
	})
}

// sequence makes the n-th get of the Deployment answer states[n] (the last
// one from then on); a nil state answers err instead.
func sequence(cs *fake.Clientset, states []*appsv1.Deployment, err error) {
	var mu sync.Mutex
	n := 0
	cs.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		s := states[min(n, len(states)-1)]
		n++
		if s == nil {
			return true, nil, err
		}
		return true, s, nil
	})
}

func TestWaitRollout(t *testing.T) {
	var (
		observing = deployment(status(2, 1, 3, 2, 2, 2, 2))
		creating  = deployment(status(2, 2, 3, 3, 1, 2, 2))
		draining  = deployment(status(2, 2, 3, 4, 3, 3, 3))
		done      = deployment(status(2, 2, 3, 3, 3, 3, 3))
		failed    = deployment(status(2, 2, 3, 4, 1, 3, 3), deadlineExceeded)
	)
	rollout := func(d *appsv1.Deployment) cluster.Rollout {
		r, err := cluster.New(fake.NewClientset(d), target).Rollout(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name       string
		states     []*appsv1.Deployment // nil: the API answers err
		err        error
		timeout    time.Duration
		wantReport []cluster.Rollout
		wantLast   cluster.Rollout
		wantIs     error
		wantAPI    func(error) bool
	}{
		{
			name:       "reports each change once, then done",
			states:     []*appsv1.Deployment{observing, observing, creating, creating, creating, draining, done},
			wantReport: []cluster.Rollout{rollout(observing), rollout(creating), rollout(draining), rollout(done)},
			wantLast:   rollout(done),
		},
		{
			name:       "already done",
			states:     []*appsv1.Deployment{done},
			wantReport: []cluster.Rollout{rollout(done)},
			wantLast:   rollout(done),
		},
		{
			name:       "fails on progress deadline",
			states:     []*appsv1.Deployment{creating, failed},
			wantReport: []cluster.Rollout{rollout(creating), rollout(failed)},
			wantLast:   rollout(failed),
			wantIs:     cluster.ErrRolloutFailed,
		},
		{
			name:       "retries server errors",
			states:     []*appsv1.Deployment{creating, nil, nil, done},
			err:        apierrors.NewInternalError(errors.New("etcd leader changed")),
			wantReport: []cluster.Rollout{rollout(creating), rollout(done)},
			wantLast:   rollout(done),
		},
		{
			// One poll hit the request timeout (Config's), while the wait
			// itself has time left: try again.
			name:       "retries a request that timed out",
			states:     []*appsv1.Deployment{creating, nil, done},
			err:        &url.Error{Op: "Get", URL: "https://k8s/apis/apps/v1", Err: context.DeadlineExceeded},
			wantReport: []cluster.Rollout{rollout(creating), rollout(done)},
			wantLast:   rollout(done),
		},
		{
			name:       "stops on Forbidden",
			states:     []*appsv1.Deployment{creating, nil},
			err:        forbidden("deployments.apps", testDeploy),
			wantReport: []cluster.Rollout{rollout(creating)},
			wantLast:   rollout(creating),
			wantAPI:    apierrors.IsForbidden,
		},
		{
			name:       "times out",
			states:     []*appsv1.Deployment{creating},
			timeout:    50 * time.Millisecond,
			wantReport: []cluster.Rollout{rollout(creating)},
			wantLast:   rollout(creating),
			wantIs:     context.DeadlineExceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			sequence(cs, tc.states, tc.err)
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			var reports []cluster.Rollout
			last, err := cluster.New(cs, target).WaitRollout(ctx, time.Millisecond, func(r cluster.Rollout) { reports = append(reports, r) })
			switch {
			case tc.wantIs == nil && tc.wantAPI == nil && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			case tc.wantAPI != nil && !tc.wantAPI(err):
				t.Errorf("error %v is not the API error", err)
			}
			if err != nil && !strings.Contains(err.Error(), "deployment prod/oil-refinery-application") {
				t.Errorf("error %q does not name the deployment", err)
			}
			if diff := cmp.Diff(tc.wantReport, reports); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLast, last); diff != "" {
				t.Errorf("last Rollout (-want +got):\n%s", diff)
			}
		})
	}
}
