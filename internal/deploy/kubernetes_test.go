package deploy

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// fakeCluster is a Deployment whose rollout reports rollouts in order; the
// Deployment ends up running after.
type fakeCluster struct {
	d        cluster.Deployment
	rollouts []cluster.Rollout
	err      error // of WaitRollout
	after    string
	changes  []string
	// revisions are History's answer (it keeps limit of them), prev and
	// ok PreviousImage's; historyErr fails both.
	revisions  []cluster.Revision
	prev       cluster.Revision
	ok         bool
	historyErr error
	limits     []int
}

var _ Cluster = (*fakeCluster)(nil)

func (f *fakeCluster) History(_ context.Context, limit int) ([]cluster.Revision, error) {
	f.limits = append(f.limits, limit)
	if f.historyErr != nil {
		return nil, f.historyErr
	}
	return f.revisions[:min(limit, len(f.revisions))], nil
}

func (f *fakeCluster) PreviousImage(context.Context) (string, cluster.Revision, bool, error) {
	if f.historyErr != nil {
		return "", cluster.Revision{}, false, f.historyErr
	}
	return f.d.Image, f.prev, f.ok, nil
}

func (f *fakeCluster) Deployment(context.Context) (cluster.Deployment, error) { return f.d, nil }

func (f *fakeCluster) Scale(_ context.Context, n int32) (int32, error) {
	f.changes = append(f.changes, fmt.Sprintf("scale %d", n))
	prev := f.d.Replicas
	f.d.Replicas = n
	return prev, nil
}

func (f *fakeCluster) SetImageCause(_ context.Context, image, cause string) (string, error) {
	f.changes = append(f.changes, "image "+image+" cause "+cause)
	prev := f.d.Image
	f.d.Image = image
	return prev, nil
}

func (f *fakeCluster) WaitRollout(_ context.Context, _ time.Duration, report func(cluster.Rollout)) (cluster.Rollout, error) {
	var last cluster.Rollout
	for _, r := range f.rollouts {
		report(r)
		last = r
	}
	if f.after != "" {
		f.d.Image = f.after
	}
	return last, f.err
}

func TestKubernetesDeployerRefusesArgoManaged(t *testing.T) {
	f := &fakeCluster{d: cluster.Deployment{Name: "oil-refinery-application", Image: "app:1", Replicas: 2,
		ArgoApp: "oil-app", ArgoTrackedBy: "label argocd.argoproj.io/instance"}}
	_, _, err := (&KubernetesDeployer{Cluster: f}).Current(context.Background())
	var managed *ArgoManagedError
	if !errors.As(err, &managed) || *managed != (ArgoManagedError{Deployment: "oil-refinery-application", App: "oil-app", TrackedBy: "label argocd.argoproj.io/instance"}) {
		t.Fatalf("error %v, want *ArgoManagedError", err)
	}
	if want := `deployment oil-refinery-application is managed by Argo CD application "oil-app" (label argocd.argoproj.io/instance): set DEPLOY_VIA=argocd`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestKubernetesDeployerChanges(t *testing.T) {
	f := &fakeCluster{d: cluster.Deployment{Image: "app:1", Replicas: 2}}
	k := &KubernetesDeployer{Cluster: f}
	ctx := context.Background()
	if err := k.SetImage(ctx, "app:2", "/deploy 2 by @ops (1001)"); err != nil {
		t.Fatal(err)
	}
	if err := k.SetReplicas(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if img, n, err := k.Current(ctx); err != nil || img != "app:2" || n != 3 {
		t.Errorf("Current = %q, %d, %v", img, n, err)
	}
	if diff := cmp.Diff([]string{"image app:2 cause /deploy 2 by @ops (1001)", "scale 3"}, f.changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestKubernetesDeployerWait(t *testing.T) {
	halfway := cluster.Rollout{Desired: 3, Updated: 1, Ready: 2, Available: 2}
	rolled := cluster.Rollout{Desired: 3, Updated: 3, Ready: 3, Available: 3, Done: true}
	stuck := cluster.Rollout{Desired: 3, Updated: 1, Failed: true, Message: `ReplicaSet "x" has timed out progressing`}
	pHalfway := Progress{Mode: Kubernetes, Desired: 3, Updated: 1, Ready: 2, Available: 2}
	pRolled := Progress{Mode: Kubernetes, Desired: 3, Updated: 3, Ready: 3, Available: 3, Done: true}
	for _, tc := range []struct {
		name     string
		image    string
		rollouts []cluster.Rollout
		err      error
		after    string // image the Deployment runs once the rollout ends
		want     Progress
	}{
		{"done with our image", "app:2", []cluster.Rollout{halfway, rolled}, nil, "", pRolled},
		{"scaled, no image to check", "", []cluster.Rollout{rolled}, nil, "app:3", pRolled},
		{"superseded by another image", "app:2", []cluster.Rollout{halfway, rolled}, nil, "app:3",
			Progress{Mode: Kubernetes, Desired: 3, Updated: 3, Ready: 3, Available: 3, Failed: true, Message: "superseded: the Deployment now runs app:3"}},
		{"progress deadline exceeded", "app:2", []cluster.Rollout{stuck}, nil, "",
			Progress{Mode: Kubernetes, Desired: 3, Updated: 1, Failed: true, Message: `ReplicaSet "x" has timed out progressing`}},
		{"timeout", "app:2", []cluster.Rollout{halfway}, context.DeadlineExceeded, "", pHalfway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCluster{d: cluster.Deployment{Image: "app:2", Replicas: 3}, rollouts: tc.rollouts, err: tc.err, after: tc.after}
			var reported []Progress
			got, err := (&KubernetesDeployer{Cluster: f}).Wait(context.Background(), tc.image, func(p Progress) { reported = append(reported, p) })
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if len(reported) != len(tc.rollouts) || !cmp.Equal(reported[0], progressOf(tc.rollouts[0])) || reported[0].Mode != Kubernetes {
				t.Errorf("reported %+v for rollouts %+v", reported, tc.rollouts)
			}
		})
	}
}
