package argocd_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

// States of a promotion of 0.10.5, as merge patches on testdata/app.json.
const (
	// The spec has the new image; the controller has not compared it yet.
	stSpecChanged = `{"spec":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.5"]}}}}`
	// Compared: out of sync, auto-sync running.
	stSyncing = `{"status":{"sync":{"status":"OutOfSync","comparedTo":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.5"]}}}},
		"operationState":{"phase":"Running","message":"one or more tasks are running","syncResult":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.5"]}}}}}}`
	stRollingOut = `{"status":{"sync":{"status":"Synced"},"health":{"status":"Progressing","message":"Waiting for rollout to finish"},
		"operationState":{"phase":"Succeeded","message":"successfully synced (all tasks run)"},
		"summary":{"images":["registry.example.com/oil/app:0.10.4","registry.example.com/oil/app:0.10.5"]}}}`
	stHealthy  = `{"status":{"health":{"status":"Healthy","message":null}}}`
	stDegraded = `{"status":{"health":{"status":"Degraded","message":"Deployment \"oil-refinery-application\" exceeded its progress deadline"}}}`
	stFailed   = `{"status":{"operationState":{"phase":"Failed","message":"one or more objects failed to apply: image is invalid"}}}`
)

// script makes the fake move through states, one per GET after the first
// after, each applied on top of the previous ones.
func script(f *fakeArgo, after int, states ...string) {
	var mu sync.Mutex
	gets := 0
	f.answer = func(r request) (int, string) {
		if r.Method != "GET" {
			return 0, ""
		}
		mu.Lock()
		defer mu.Unlock()
		gets++
		if i := gets - 1 - after; i >= 0 && i < len(states) {
			f.set(states[i])
		}
		return 0, ""
	}
}

func TestWaitHealthy(t *testing.T) {
	tests := []struct {
		name    string
		states  []string
		wantErr error
		// want is the sequence of reports, by App.String.
		want []string
	}{
		{
			name:   "promotion",
			states: []string{stSpecChanged, stSpecChanged, stSyncing, stRollingOut, stRollingOut, stHealthy},
			want: []string{
				"sync Synced, health Healthy, operation Succeeded (successfully synced (all tasks run)), comparison pending",
				"sync OutOfSync, health Healthy, operation Running (one or more tasks are running)",
				"sync Synced, health Progressing (Waiting for rollout to finish), operation Succeeded (successfully synced (all tasks run))",
				"sync Synced, health Healthy, operation Succeeded (successfully synced (all tasks run))",
			},
		},
		{
			name:    "degraded",
			states:  []string{stSpecChanged, stSyncing, stRollingOut, stDegraded},
			wantErr: argocd.ErrDegraded,
		},
		{
			name:    "sync failed",
			states:  []string{stSpecChanged, stSyncing, stFailed},
			wantErr: argocd.ErrSyncFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			script(f, 0, tt.states...)
			var got []string
			app, err := f.client(t).WaitHealthy(t.Context(), "registry.example.com/oil/app:0.10.5", func(a argocd.App) {
				got = append(got, a.String())
			})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), `application "oil-refinery-application"`) {
					t.Fatalf("WaitHealthy() = %v, want %v naming the app", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !app.Settled() || !app.RunsImage("registry.example.com/oil/app:0.10.5") {
				t.Errorf("WaitHealthy() returned %v, images %v", app, app.Images)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWaitDegradedBeforeChangeIsNotFinal(t *testing.T) {
	// The app was Degraded before the promotion; until the controller has
	// compared the new spec that says nothing about the new image.
	f := newFakeArgo(t)
	f.set(stDegraded)
	script(f, 0, stSpecChanged, `{"status":{"health":{"status":"Progressing"}}}`, stSyncing, stRollingOut, stHealthy)
	if _, err := f.client(t).WaitHealthy(t.Context(), "registry.example.com/oil/app:0.10.5", nil); err != nil {
		t.Fatalf("WaitHealthy() = %v", err)
	}
}

func TestWaitTimeoutNamesLastState(t *testing.T) {
	f := newFakeArgo(t)
	f.set(stSpecChanged)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := f.client(t).WaitHealthy(ctx, "registry.example.com/oil/app:0.10.5", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHealthy() = %v, want a deadline error", err)
	}
	want := `wait for application "oil-refinery-application": context deadline exceeded; last state: sync Synced, health Healthy, operation Succeeded (successfully synced (all tasks run)), comparison pending`
	if err.Error() != want {
		t.Errorf("WaitHealthy() = %q, want %q", err, want)
	}
}

func TestWaitRetriesServerErrors(t *testing.T) {
	f := newFakeArgo(t)
	var mu sync.Mutex
	gets := 0
	f.answer = func(r request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		if gets <= 2 {
			return 503, `{"error":"redis unavailable","code":14,"message":"redis unavailable"}`
		}
		return 0, ""
	}
	if _, err := f.client(t).WaitHealthy(t.Context(), "", nil); err != nil {
		t.Fatalf("WaitHealthy() = %v, want it to outlast two 503s", err)
	}
}

func TestWaitStopsOnAuthErrors(t *testing.T) {
	f := newFakeArgo(t)
	c := f.client(t, func(c *argocd.Config) { c.Token = "wrong-token" })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := c.WaitHealthy(ctx, "", nil)
	if !errors.Is(err, argocd.ErrUnauthorized) || ctx.Err() != nil {
		t.Fatalf("WaitHealthy() = %v, want ErrUnauthorized at once", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("WaitHealthy() = %q prints the token", err)
	}
}

// replicasOf returns the kustomize replicas override for name, if any.
func replicasOf(a argocd.App, name string) (int32, bool) {
	for _, r := range a.Replicas {
		if r.Name == name {
			return r.Count, true
		}
	}
	return 0, false
}

func TestWaitCustomCondition(t *testing.T) {
	f := newFakeArgo(t)
	script(f, 1, `{"spec":{"source":{"kustomize":{"replicas":[{"name":"oil-refinery-application","count":3}]}}}}`)
	app, err := f.client(t).Wait(t.Context(), func(a argocd.App) bool {
		n, ok := replicasOf(a, testApp)
		return ok && n == 3
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := replicasOf(app, testApp); n != 3 {
		t.Errorf("replicas = %d, want 3", n)
	}
}
