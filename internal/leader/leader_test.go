package leader

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fast timings for the fake API: StopBound = 250ms.
func fast(id string) Config {
	return Config{Enabled: true, Lease: "derrick-bot", Namespace: "oil", Identity: id,
		LeaseDuration: 1500 * time.Millisecond, RenewDeadline: time.Second, RetryPeriod: 250 * time.Millisecond}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func holder(t *testing.T, kube *fake.Clientset) string {
	t.Helper()
	l, err := kube.CoordinationV1().Leases("oil").Get(context.Background(), "derrick-bot", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, d, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("not within %s: %s", d, what)
	}
}

func TestValidateDefaults(t *testing.T) {
	c := Config{Lease: DefaultLease, Identity: "a", LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := fast("a").Validate(); err != nil {
		t.Fatal(err)
	}
}

// At shutdown lead stops first, the Lease is released after, and the
// standby takes over at once (it watches the Lease) instead of after a
// retry period.
func TestShutdownReleasesAfterLeadStopped(t *testing.T) {
	kube := fake.NewClientset()
	// A long retry period: client-go alone would take 1-2.2s to notice.
	slow := func(id string) Config {
		c := fast(id)
		c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = 4*time.Second, 3*time.Second, time.Second
		return c
	}
	a, b := New(kube, slow("a"), quiet, nil), New(kube, slow("b"), quiet, nil)
	actx, stopA := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	var heldAtStop atomic.Value
	go func() {
		aDone <- a.Run(actx, func(ctx context.Context) error {
			<-ctx.Done()
			heldAtStop.Store(holder(t, kube)) // not yet released
			return nil
		})
	}()
	eventually(t, 5*time.Second, "a leads", a.Leading)
	bLeads := make(chan time.Time, 1)
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go func() {
		_ = b.Run(bctx, func(ctx context.Context) error { bLeads <- time.Now(); <-ctx.Done(); return nil })
	}()
	eventually(t, 5*time.Second, "b sees a lead", func() bool { return b.Holder() == "a" })
	if b.Leading() {
		t.Fatal("b leads while a holds the Lease")
	}
	stopped := time.Now()
	stopA()
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if got := heldAtStop.Load(); got != "a" {
		t.Errorf("holder when a's lead stopped = %v, want a (release only after)", got)
	}
	select {
	case at := <-bLeads:
		// Without the watch, client-go's next try comes 1-2.2s later.
		if took := at.Sub(stopped); took > 500*time.Millisecond {
			t.Errorf("b took over %s after a stopped", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not take over")
	}
	if a.Leading() || !b.Leading() {
		t.Errorf("leading: a %v, b %v", a.Leading(), b.Leading())
	}
}

// A leader whose renewals fail stops lead within RenewDeadline +
// StopBound, before LeaseDuration has passed since its last renewal.
func TestLostLeaseStopsLeadBeforeAnotherMayTakeOver(t *testing.T) {
	kube := fake.NewClientset()
	var failing atomic.Bool
	var lastOK atomic.Int64
	kube.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failing.Load() {
			return true, nil, errors.New("apiserver unreachable")
		}
		lastOK.Store(time.Now().UnixNano())
		return false, nil, nil
	})
	cfg := fast("a")
	var changes []bool
	e := New(kube, cfg, quiet, func(l bool) { changes = append(changes, l) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stoppedAt := make(chan time.Time, 1)
	go func() {
		_ = e.Run(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			stoppedAt <- time.Now()
			return nil
		})
	}()
	eventually(t, 5*time.Second, "a leads", e.Leading)
	eventually(t, 5*time.Second, "a renews", func() bool { return lastOK.Load() != 0 })
	failing.Store(true)
	at := <-stoppedAt
	since := at.Sub(time.Unix(0, lastOK.Load()))
	if since > cfg.LeaseDuration || since < cfg.RenewDeadline-cfg.RetryPeriod {
		t.Errorf("lead stopped %s after the last renewal, want between renew deadline and lease duration (%s)", since, cfg.LeaseDuration)
	}
	eventually(t, 5*time.Second, "not leading", func() bool { return !e.Leading() })
	if len(changes) < 2 || !changes[0] || changes[1] {
		t.Errorf("changes %v, want [true false ...]", changes)
	}
}

func TestLeadErrorEndsRun(t *testing.T) {
	kube := fake.NewClientset()
	e := New(kube, fast("a"), quiet, nil)
	want := errors.New("token rejected")
	err := e.Run(context.Background(), func(context.Context) error { return want })
	if !errors.Is(err, want) {
		t.Fatalf("Run = %v, want %v", err, want)
	}
	if h := holder(t, kube); h != "" {
		t.Errorf("holder after a failed lead = %q, want released", h)
	}
}
