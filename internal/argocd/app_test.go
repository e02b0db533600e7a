package argocd_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

func TestApplication(t *testing.T) {
	synced := argocd.App{
		Name:       testApp,
		Project:    "default",
		SourceType: "Kustomize",
		Sync:       "Synced",
		Revision:   "3f1c2a9d0b8e7f6a5c4d3e2f1a0b9c8d7e6f5a4b",
		Health:     "Healthy",
		Compared:   true,
		Operation: argocd.Operation{
			Phase:      "Succeeded",
			Message:    "successfully synced (all tasks run)",
			Current:    true,
			StartedAt:  time.Date(2026, 11, 26, 6, 0, 1, 0, time.UTC),
			FinishedAt: time.Date(2026, 11, 26, 6, 0, 2, 0, time.UTC),
		},
		Images:          []string{"registry.example.com/oil/app:0.10.4", "registry.example.com/oil/sidecar:1.2"},
		KustomizeImages: []string{"registry.example.com/oil/app:0.10.4", "registry.example.com/oil/sidecar:1.2"},
		Replicas:        []argocd.Replica{{Name: testApp, Count: 2}, {Name: "worker", Count: 4}},
		Conditions:      []string{"SyncError: an old one"},
	}
	tests := []struct {
		name    string
		patch   string // merge patch on testdata/app.json
		want    func(a *argocd.App)
		settled bool
	}{
		{name: "synced and healthy", want: func(*argocd.App) {}, settled: true},
		{
			name:  "spec changed, not compared yet",
			patch: `{"spec":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.5"]}}}}`,
			want: func(a *argocd.App) {
				a.KustomizeImages = []string{"registry.example.com/oil/app:0.10.5"}
				a.Compared, a.Operation.Current = false, false
			},
		},
		{
			name: "syncing",
			patch: `{"status":{"sync":{"status":"OutOfSync"},"health":{"status":"Progressing","message":"Waiting for rollout"},
				"operationState":{"phase":"Running","message":"waiting for healthy state of apps/Deployment/oil-refinery-application","finishedAt":null}}}`,
			want: func(a *argocd.App) {
				a.Sync, a.Health, a.HealthMessage = "OutOfSync", "Progressing", "Waiting for rollout"
				a.Operation.Phase = "Running"
				a.Operation.Message = "waiting for healthy state of apps/Deployment/oil-refinery-application"
				a.Operation.FinishedAt = time.Time{}
			},
		},
		{
			name:  "operation still running on a synced app",
			patch: `{"status":{"operationState":{"phase":"Running"}}}`,
			want:  func(a *argocd.App) { a.Operation.Phase = "Running" },
		},
		{
			name:  "never reconciled: no status",
			patch: `{"status":null}`,
			want: func(a *argocd.App) {
				*a = argocd.App{
					Name: testApp, Project: "default", SourceType: "Kustomize",
					KustomizeImages: a.KustomizeImages, Replicas: a.Replicas,
				}
			},
		},
		{
			name:  "helm source",
			patch: `{"spec":{"source":{"kustomize":null,"chart":"oil","helm":{"parameters":[{"name":"image.tag","value":"1","forceString":true}]}}},"status":{"sourceType":null}}`,
			want: func(a *argocd.App) {
				a.SourceType = "Helm"
				a.KustomizeImages, a.Replicas, a.Compared, a.Operation.Current = nil, nil, false, false
				a.HelmParameters = []argocd.HelmParameter{{Name: "image.tag", Value: "1", ForceString: true}}
			},
		},
		{
			name:  "multi-source",
			patch: `{"spec":{"source":null,"sources":[{"repoURL":"x"}]},"status":{"sourceType":"Directory"}}`,
			want: func(a *argocd.App) {
				a.SourceType, a.MultiSource = "Directory", true
				a.KustomizeImages, a.Replicas, a.Compared, a.Operation.Current = nil, nil, false, false
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			if tt.patch != "" {
				f.set(tt.patch)
			}
			got, err := f.client(t).Application(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := synced
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Application() (-want +got):\n%s", diff)
			}
			if got.Settled() != tt.settled {
				t.Errorf("Settled() = %v, want %v", got.Settled(), tt.settled)
			}
		})
	}
}

func TestAppString(t *testing.T) {
	tests := []struct {
		name string
		app  argocd.App
		want string
	}{
		{name: "empty", want: "sync Unknown, health Unknown, comparison pending"},
		{
			name: "progressing",
			app: argocd.App{Sync: "Synced", Health: "Progressing", HealthMessage: "Waiting for rollout", Compared: true,
				Operation: argocd.Operation{Phase: "Running", Message: "waiting for healthy state"}},
			want: "sync Synced, health Progressing (Waiting for rollout), operation Running (waiting for healthy state)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.app.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
