// Package leader elects one bot replica to poll Telegram, with client-go's
// leader election on a coordination.k8s.io Lease (Telegram allows one
// long-poller per token). Run campaigns until its context ends and calls
// lead while this replica holds the Lease; lead's context ends when the
// Lease is lost or at shutdown.
//
// Safety: a leader that cannot renew gives up after RenewDeadline (plus at
// most one RetryPeriod), while another replica may take over only
// LeaseDuration after it last saw a renewal. lead must return within
// StopBound, a part of that gap, so the two never poll or run commands at
// the same time. At shutdown lead returns first and the Lease is released
// after (ReleaseOnCancel), so the standby, which watches the Lease, takes
// over at once.
package leader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults: client-go's recommended timings, and the Lease outside the chart.
const (
	DefaultLease         = "derrick-bot"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config is the election's configuration (BOT_LEADER_ELECTION, BOT_LEASE_*).
type Config struct {
	Enabled       bool          // BOT_LEADER_ELECTION
	Lease         string        // BOT_LEASE_NAME
	Namespace     string        // POD_NAMESPACE
	Identity      string        // POD_NAME, else the hostname
	LeaseDuration time.Duration // BOT_LEASE_DURATION
	RenewDeadline time.Duration // BOT_LEASE_RENEW_DEADLINE
	RetryPeriod   time.Duration // BOT_LEASE_RETRY_PERIOD
}

// Validate refuses timings under which two replicas could lead at once.
func (c Config) Validate() error {
	switch {
	case c.Lease == "":
		return errors.New("BOT_LEASE_NAME must not be empty")
	case c.Identity == "":
		return errors.New("POD_NAME is not set and the hostname is unknown: set POD_NAME to a name unique to this replica")
	case c.RetryPeriod < 100*time.Millisecond:
		return fmt.Errorf("BOT_LEASE_RETRY_PERIOD must be at least 100ms, got %s", c.RetryPeriod)
	case float64(c.RenewDeadline) <= leaderelection.JitterFactor*float64(c.RetryPeriod):
		return fmt.Errorf("BOT_LEASE_RENEW_DEADLINE (%s) must be more than %.1f × BOT_LEASE_RETRY_PERIOD (%s)",
			c.RenewDeadline, leaderelection.JitterFactor, c.RetryPeriod)
	case c.LeaseDuration < c.RenewDeadline+500*time.Millisecond:
		return fmt.Errorf("BOT_LEASE_DURATION (%s) must be at least BOT_LEASE_RENEW_DEADLINE + 500ms (%s): "+
			"a leader that stops renewing must stop before another replica may take over",
			c.LeaseDuration, c.RenewDeadline+500*time.Millisecond)
	}
	return nil
}

// StopBound is how long lead may take to return once the Lease is lost
// (2s by default). lead's context ends RenewDeadline after the start of the
// last successful renewal; another replica may take over only
// LeaseDuration after it, so StopBound is at most half that gap. It is also
// at most RetryPeriod: client-go gives up (and releases the Lease) at least
// one RetryPeriod after lead's context ended, and lead must be done by then.
func (c Config) StopBound() time.Duration {
	return min(c.RetryPeriod, (c.LeaseDuration-c.RenewDeadline)/2)
}

// Elector campaigns for the Lease.
type Elector struct {
	cfg      Config
	kube     kubernetes.Interface
	log      *slog.Logger
	onChange func(leading bool)
	leading  atomic.Bool
	holder   atomic.Pointer[string]
}

// New returns an elector; onChange (optional) is told each time this
// replica becomes or stops being the leader.
func New(kube kubernetes.Interface, cfg Config, log *slog.Logger, onChange func(leading bool)) *Elector {
	e := &Elector{cfg: cfg, kube: kube, log: log, onChange: onChange}
	none := ""
	e.holder.Store(&none)
	return e
}

// Leading reports whether this replica holds the Lease now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Holder is the identity of the leader last seen ("" when unknown).
func (e *Elector) Holder() string { return *e.holder.Load() }

// Status is a line for /readyz: "leader …", or "standby …" with the leader
// last seen.
func (e *Elector) Status() string {
	if e.Leading() {
		return fmt.Sprintf("leader (lease %s, replica %s)", e.cfg.Lease, e.cfg.Identity)
	}
	return fmt.Sprintf("standby (lease %s held by %s; replica %s does not poll)", e.cfg.Lease, cmp.Or(e.Holder(), "none yet"), e.cfg.Identity)
}

// Run campaigns until ctx ends, calling lead while this replica leads. It
// returns nil when ctx ended, or lead's error: a lead that fails is not
// retried (the error is the operator's to fix) and the Lease is released.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	released := make(chan struct{}, 1)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go e.watchReleases(wctx, released)
	for ctx.Err() == nil {
		if err := e.term(ctx, lead, released); err != nil {
			return err
		}
	}
	return nil
}

// term is one campaign: acquire, lead until the Lease is lost or ctx ends,
// release. A release seen while campaigning restarts it at once (client-go
// would wait up to RetryPeriod × 2.2).
func (e *Elector) term(ctx context.Context, lead func(ctx context.Context) error, released <-chan struct{}) error {
	// The elector outlives ctx: at shutdown lead stops first, then the
	// Lease is released.
	ectx, cancelElection := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelElection()
	var (
		mu      sync.Mutex
		started bool
		leadErr = make(chan error, 1)
	)
	lock := &renewals{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: e.cfg.Lease, Namespace: e.cfg.Namespace},
		Client:     e.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            e.cfg.Lease,
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				mu.Lock()
				started = true
				mu.Unlock()
				e.set(true)
				runCtx, cancel := context.WithCancel(lctx)
				stop := context.AfterFunc(ctx, cancel)
				lost := make(chan time.Time, 1)
				go lock.watchdog(runCtx, e.cfg.RenewDeadline, func() { lost <- time.Now(); cancel() })
				err := lead(runCtx)
				stop()
				cancel()
				if ctx.Err() == nil && err == nil { // neither shutdown nor a fatal error: lost
					var since time.Time
					select {
					case since = <-lost:
					default:
						since = time.Now()
					}
					e.log.Warn("leader: lost the lease (no renewal within the renew deadline); stopped polling", "lease", e.cfg.Lease,
						"stopped_in", time.Since(since).Round(time.Millisecond).String())
				}
				leadErr <- err
				cancelElection() // give the Lease up now that nothing runs
			},
			OnStoppedLeading: func() { e.set(false) },
			OnNewLeader: func(id string) {
				e.holder.Store(&id)
				if id != e.cfg.Identity {
					e.log.Info("leader: another replica leads; standing by", "lease", e.cfg.Lease, "leader", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-released:
		case <-ectx.Done():
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !started { // a leader stops through lead returning
			cancelElection()
		}
	}()
	le.Run(ectx)
	mu.Lock()
	wasLeader := started
	mu.Unlock()
	e.set(false)
	if !wasLeader {
		return nil
	}
	return <-leadErr
}

// renewals is the Lease lock, remembering when the last successful write
// of this replica's record started: the API server stored it no earlier,
// so no other replica may take over before LeaseDuration after that.
type renewals struct {
	resourcelock.Interface
	last atomic.Int64 // unix nanos
}

// Create and Update record a write of this replica's record. Go evaluates
// time.Now() before the write, the arguments being called left to right.
func (r *renewals) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return r.record(time.Now(), ler, r.Interface.Create(ctx, ler))
}

func (r *renewals) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return r.record(time.Now(), ler, r.Interface.Update(ctx, ler))
}

func (r *renewals) record(start time.Time, ler resourcelock.LeaderElectionRecord, err error) error {
	if err == nil && ler.HolderIdentity == r.Identity() {
		r.last.Store(start.UnixNano())
	}
	return err
}

// watchdog calls lost once renewDeadline has passed since the start of
// the last successful renewal, or returns when ctx ends. It does not wait
// for client-go, which notices up to one RetryPeriod later and only then
// ends the leader's context.
func (r *renewals) watchdog(ctx context.Context, renewDeadline time.Duration, lost func()) {
	for {
		deadline := time.Unix(0, r.last.Load()).Add(renewDeadline)
		wait := time.Until(deadline)
		if wait <= 0 {
			lost()
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// set records a change of leadership.
func (e *Elector) set(leading bool) {
	if e.leading.Swap(leading) == leading {
		return
	}
	if leading {
		me := e.cfg.Identity
		e.holder.Store(&me)
		e.log.Info("leader: this replica leads; polling Telegram", "lease", e.cfg.Lease, "replica", me)
	}
	if e.onChange != nil {
		e.onChange(leading)
	}
}

// watchReleases signals on released when the Lease is seen without a
// holder (released at a leader's shutdown), while this replica does not
// lead. Watch failures are retried every RetryPeriod; the election itself
// never depends on the watch.
func (e *Elector) watchReleases(ctx context.Context, released chan<- struct{}) {
	leases := e.kube.CoordinationV1().Leases(e.cfg.Namespace)
	for ctx.Err() == nil {
		w, err := leases.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + e.cfg.Lease})
		if err == nil {
			e.forwardReleases(w, released)
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.RetryPeriod):
		}
	}
}

// forwardReleases reads w until it ends, signalling each release.
func (e *Elector) forwardReleases(w watch.Interface, released chan<- struct{}) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		l, ok := ev.Object.(*coordinationv1.Lease)
		if !ok || ev.Type == watch.Deleted || e.Leading() {
			continue
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			select {
			case released <- struct{}{}:
			default:
			}
		}
	}
}
