package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

const app = "registry.example.com/oil/app"

var (
	monday  = time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	tuesday = monday.Add(24 * time.Hour)
)

func TestKubernetesDeployerHistory(t *testing.T) {
	revs := []cluster.Revision{
		{Revision: 3, ReplicaSet: "app-7d9f", Image: app + ":0.10.5", ChangeCause: "/deploy 0.10.5 by @ops (1001)", Created: tuesday, Replicas: 3},
		{Revision: 2, ReplicaSet: "app-6c8e", Image: app + ":0.10.4", Created: monday},
		{Revision: 1, ReplicaSet: "app-5b7d", Image: app + ":0.10.3", ChangeCause: "kubectl apply"},
	}
	all := []Rollout{
		{Revision: 3, Image: app + ":0.10.5", Cause: "/deploy 0.10.5 by @ops (1001)", When: tuesday},
		{Revision: 2, Image: app + ":0.10.4", When: monday},
		{Revision: 1, Image: app + ":0.10.3", Cause: "kubectl apply"},
	}
	for _, tc := range []struct {
		name  string
		limit int
		want  []Rollout
	}{
		{"all of them", 10, all},
		{"the limit", 2, all[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCluster{revisions: revs}
			got, err := (&KubernetesDeployer{Cluster: f}).History(context.Background(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("History (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]int{tc.limit}, f.limits); diff != "" {
				t.Errorf("limit asked of the cluster (-want +got):\n%s", diff)
			}
		})
	}

	errAPI := errors.New(`list replicasets of deployment oil/app: forbidden`)
	if got, err := (&KubernetesDeployer{Cluster: &fakeCluster{historyErr: errAPI}}).History(context.Background(), 10); !errors.Is(err, errAPI) || got != nil {
		t.Errorf("History = %v, %v; want nothing and %v", got, err, errAPI)
	}
}

func TestKubernetesDeployerPrevious(t *testing.T) {
	errAPI := errors.New(`list replicasets of deployment oil/app: forbidden`)
	back := cluster.Revision{Revision: 2, ReplicaSet: "app-6c8e", Image: app + ":0.10.4", ChangeCause: "/deploy 0.10.4 by @ops (1001)", Created: monday}
	for _, tc := range []struct {
		name        string
		f           *fakeCluster
		wantCurrent string
		wantPrev    Rollout
		wantOK      bool
		wantErr     error
	}{
		{"back to the previous image", &fakeCluster{d: cluster.Deployment{Image: app + ":0.10.5"}, prev: back, ok: true},
			app + ":0.10.5", Rollout{Revision: 2, Image: app + ":0.10.4", Cause: "/deploy 0.10.4 by @ops (1001)", When: monday}, true, nil},
		{"nothing to go back to", &fakeCluster{d: cluster.Deployment{Image: app + ":0.10.5"}}, app + ":0.10.5", Rollout{}, false, nil},
		{"the cluster's error", &fakeCluster{historyErr: errAPI}, "", Rollout{}, false, errAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current, prev, ok, err := (&KubernetesDeployer{Cluster: tc.f}).Previous(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if current != tc.wantCurrent || ok != tc.wantOK {
				t.Errorf("current %q, ok %v; want %q, %v", current, ok, tc.wantCurrent, tc.wantOK)
			}
			if diff := cmp.Diff(tc.wantPrev, prev); diff != "" {
				t.Errorf("previous (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgoCDDeployerHistory(t *testing.T) {
	history := []argocd.Deployed{
		{ID: 4, Revision: "abc123", DeployedAt: tuesday, InitiatedBy: "ci", KustomizeImages: []string{app + ":0.10.5"}, Image: app + ":0.10.5"},
		{ID: 3, Revision: "abc123", DeployedAt: monday, InitiatedBy: "automated", Image: app + ":0.10.4"},
		{ID: 2, Revision: "def456"},
	}
	all := []Rollout{
		{Revision: 4, Image: app + ":0.10.5", Cause: "ci", When: tuesday},
		{Revision: 3, Image: app + ":0.10.4", Cause: "automated", When: monday},
		{Revision: 2},
	}
	for _, tc := range []struct {
		name  string
		limit int
		want  []Rollout
	}{
		{"all of them", 10, all},
		{"the limit", 2, all[:2]},
		{"no limit", 0, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeArgo{current: app + ":0.10.5", history: history}
			d := newArgoDeployer(f)
			d.Repository = app
			got, err := d.History(context.Background(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("History (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"history " + app}, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}

	errAPI := errors.New("argo cd: 403 permission denied")
	if got, err := newArgoDeployer(&fakeArgo{fail: map[string]error{"history": errAPI}}).History(context.Background(), 10); !errors.Is(err, errAPI) || got != nil {
		t.Errorf("History = %v, %v; want nothing and %v", got, err, errAPI)
	}
}

func TestArgoCDDeployerPrevious(t *testing.T) {
	errAPI := errors.New("argo cd: 403 permission denied")
	back := argocd.Deployed{ID: 3, Revision: "abc123", DeployedAt: monday, InitiatedBy: "admin", Image: app + ":0.10.4"}
	for _, tc := range []struct {
		name        string
		f           *fakeArgo
		wantCurrent string
		wantPrev    Rollout
		wantOK      bool
		wantErr     error
	}{
		{"back to the previous image", &fakeArgo{current: app + ":0.10.5", prev: back, ok: true},
			app + ":0.10.5", Rollout{Revision: 3, Image: app + ":0.10.4", Cause: "admin", When: monday}, true, nil},
		{"nothing to go back to", &fakeArgo{current: app + ":0.10.5"}, app + ":0.10.5", Rollout{}, false, nil},
		{"Argo CD's error", &fakeArgo{fail: map[string]error{"previous image": errAPI}}, "", Rollout{}, false, errAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newArgoDeployer(tc.f)
			d.Repository = app
			current, prev, ok, err := d.Previous(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if current != tc.wantCurrent || ok != tc.wantOK {
				t.Errorf("current %q, ok %v; want %q, %v", current, ok, tc.wantCurrent, tc.wantOK)
			}
			if diff := cmp.Diff(tc.wantPrev, prev); diff != "" {
				t.Errorf("previous (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"previous image " + app}, tc.f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
