package deploy

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// fakeArgo records the calls of ArgoCDDeployer; WaitHealthy reports states
// and ends with err.
type fakeArgo struct {
	calls  []string
	fail   map[string]error // by call name: "set image", "set replicas", "sync"
	states []argocd.App
	err    error
	// current and history are History's answer, prev and ok
	// PreviousImage's.
	current string
	history []argocd.Deployed
	prev    argocd.Deployed
	ok      bool
}

var _ ArgoClient = (*fakeArgo)(nil)

func (f *fakeArgo) History(_ context.Context, repository string) (string, []argocd.Deployed, error) {
	if err := f.call("history", " "+repository); err != nil {
		return "", nil, err
	}
	return f.current, f.history, nil
}

func (f *fakeArgo) PreviousImage(_ context.Context, repository string) (string, argocd.Deployed, bool, error) {
	if err := f.call("previous image", " "+repository); err != nil {
		return "", argocd.Deployed{}, false, err
	}
	return f.current, f.prev, f.ok, nil
}

func (f *fakeArgo) call(name, detail string) error {
	f.calls = append(f.calls, name+detail)
	return f.fail[name]
}

func (f *fakeArgo) SetImage(_ context.Context, image string) error {
	return f.call("set image", " "+image)
}

func (f *fakeArgo) SetReplicas(_ context.Context, workload string, n int32) error {
	return f.call("set replicas", fmt.Sprintf(" %s=%d", workload, n))
}

func (f *fakeArgo) Sync(context.Context) error { return f.call("sync", "") }

func (f *fakeArgo) WaitHealthy(_ context.Context, image string, report func(argocd.App)) (argocd.App, error) {
	f.calls = append(f.calls, "wait "+image)
	var last argocd.App
	for _, a := range f.states {
		report(a)
		last = a
	}
	return last, f.err
}

type fakeDeployment struct{ d cluster.Deployment }

func (f fakeDeployment) Deployment(context.Context) (cluster.Deployment, error) { return f.d, nil }

func newArgoDeployer(f *fakeArgo) *ArgoCDDeployer {
	return &ArgoCDDeployer{Argo: f, Workload: "oil-refinery-application",
		Cluster: fakeDeployment{cluster.Deployment{Image: "registry.example.com/oil/app:0.10.4", Replicas: 2}}}
}

func TestArgoCDDeployerChanges(t *testing.T) {
	errAPI := errors.New("argo cd: 403 permission denied")
	for _, tc := range []struct {
		name      string
		fail      map[string]error
		change    func(context.Context, *ArgoCDDeployer) error
		wantCalls []string
		wantErr   error
	}{
		{"image then sync", nil, func(ctx context.Context, d *ArgoCDDeployer) error {
			return d.SetImage(ctx, "registry.example.com/oil/app:0.10.5", "/deploy 0.10.5 by 1001")
		}, []string{"set image registry.example.com/oil/app:0.10.5", "sync"}, nil},
		{"replicas of the workload then sync", nil, func(ctx context.Context, d *ArgoCDDeployer) error {
			return d.SetReplicas(ctx, 3)
		}, []string{"set replicas oil-refinery-application=3", "sync"}, nil},
		{"no sync when the image is refused", map[string]error{"set image": errAPI}, func(ctx context.Context, d *ArgoCDDeployer) error {
			return d.SetImage(ctx, "registry.example.com/oil/app:0.10.5", "/deploy 0.10.5 by 1001")
		}, []string{"set image registry.example.com/oil/app:0.10.5"}, errAPI},
		{"no sync when the replicas are refused", map[string]error{"set replicas": errAPI}, func(ctx context.Context, d *ArgoCDDeployer) error {
			return d.SetReplicas(ctx, 0)
		}, []string{"set replicas oil-refinery-application=0"}, errAPI},
		{"a failed sync fails the change", map[string]error{"sync": errAPI}, func(ctx context.Context, d *ArgoCDDeployer) error {
			return d.SetImage(ctx, "registry.example.com/oil/app:0.10.5", "/deploy 0.10.5 by 1001")
		}, []string{"set image registry.example.com/oil/app:0.10.5", "sync"}, errAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeArgo{fail: tc.fail}
			err := tc.change(context.Background(), newArgoDeployer(f))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantCalls, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgoCDDeployerCurrentReadsTheDeployment(t *testing.T) {
	img, n, err := newArgoDeployer(&fakeArgo{}).Current(context.Background())
	if err != nil || img != "registry.example.com/oil/app:0.10.4" || n != 2 {
		t.Errorf("Current = %q, %d, %v", img, n, err)
	}
}

func TestArgoCDDeployerWait(t *testing.T) {
	running := argocd.App{Sync: "OutOfSync", Health: "Healthy", Compared: true, Operation: argocd.Operation{Phase: "Running"}}
	settled := argocd.App{Sync: "Synced", Health: "Healthy", Compared: true, Operation: argocd.Operation{Phase: "Succeeded", Message: "successfully synced"}}
	degraded := argocd.App{Sync: "Synced", Health: "Degraded", HealthMessage: "Deployment exceeded its progress deadline", Compared: true}
	pRunning := Progress{Mode: ArgoCD, Argo: argocd.App{Sync: "OutOfSync", Health: "Healthy", Operation: argocd.Operation{Phase: "Running"}, Compared: true}}
	pSettled := Progress{Mode: ArgoCD, Argo: argocd.App{Sync: "Synced", Health: "Healthy", Operation: argocd.Operation{Phase: "Succeeded", Message: "successfully synced"}, Compared: true}}
	pDegraded := Progress{Mode: ArgoCD, Argo: argocd.App{Sync: "Synced", Health: "Degraded", HealthMessage: "Deployment exceeded its progress deadline", Compared: true}}
	errDegraded := fmt.Errorf(`application "oil": %w: Deployment exceeded its progress deadline`, argocd.ErrDegraded)
	errSync := fmt.Errorf(`application "oil": %w: operation Failed: one or more objects failed to apply`, argocd.ErrSyncFailed)
	errTimeout := fmt.Errorf(`wait for application "oil": %w; last state: sync OutOfSync`, context.DeadlineExceeded)
	errStopped := fmt.Errorf(`wait for application "oil": %w; last state: sync OutOfSync`, context.Canceled)

	done, failed := func(p Progress) Progress { p.Done = true; return p }, func(p Progress, err error) Progress {
		p.Failed, p.Message = true, err.Error()
		return p
	}
	for _, tc := range []struct {
		name       string
		states     []argocd.App
		err        error
		wantReport []Progress
		want       Progress
	}{
		{"synced and healthy", []argocd.App{running, settled}, nil, []Progress{pRunning, pSettled}, done(pSettled)},
		{"degraded fails", []argocd.App{running, degraded}, errDegraded, []Progress{pRunning, pDegraded}, failed(pDegraded, errDegraded)},
		{"failed sync fails", []argocd.App{running}, errSync, []Progress{pRunning}, failed(pRunning, errSync)},
		{"timeout is neither done nor failed", []argocd.App{running}, errTimeout, []Progress{pRunning}, pRunning},
		{"cancel is neither done nor failed", []argocd.App{running}, errStopped, []Progress{pRunning}, pRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeArgo{states: tc.states, err: tc.err}
			var reported []Progress
			got, err := newArgoDeployer(f).Wait(context.Background(), "registry.example.com/oil/app:0.10.5", func(p Progress) {
				reported = append(reported, p)
			})
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantReport, reported); diff != "" {
				t.Errorf("reported (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"wait registry.example.com/oil/app:0.10.5"}, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
