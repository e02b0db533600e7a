package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// With the bot's leader election (several replicas, each pod with a
// watcher), only the watcher of the pod that holds the bot's Lease looks
// and posts: two watchers could otherwise both post a line before either
// saved that it did. The watcher does not take part in the election; it
// reads the Lease the bot's elector keeps, by name (the bot's Role already
// allows get on it), before each look and before each line it posts.

// Gate says whether this watcher may act now; *LeaseGate is the
// production one. Without a gate (one replica) the watcher always acts.
type Gate interface {
	// Leading reports whether this watcher may act, and who holds the
	// lease, for the log.
	Leading(ctx context.Context) (leading bool, holder string, err error)
}

// lease is the part of a coordination.k8s.io/v1 Lease the gate reads.
type lease struct {
	Spec struct {
		HolderIdentity       *string    `json:"holderIdentity"`
		LeaseDurationSeconds *int32     `json:"leaseDurationSeconds"`
		RenewTime            *time.Time `json:"renewTime"` // a MicroTime: RFC 3339 with microseconds
	} `json:"spec"`
}

type leaseGetter interface {
	getLease(ctx context.Context) (lease, error)
}

type kubeLeases struct {
	api             *kubeAPI
	namespace, name string
}

func (k kubeLeases) getLease(ctx context.Context) (lease, error) {
	var l lease
	err := k.api.do(ctx, http.MethodGet, "/apis/coordination.k8s.io/v1/namespaces/"+url.PathEscape(k.namespace)+
		"/leases/"+url.PathEscape(k.name), nil, &l)
	return l, err
}

// LeaseGate lets the watcher act while Identity holds the Lease and its
// last renewal is younger than the lease's duration, as client-go's
// elector judges it.
type LeaseGate struct {
	leases   leaseGetter
	identity string
	what     string
	now      func() time.Time
}

// LeaseGate returns the gate on Lease name in the store's namespace, read
// over the store's connection to the API server, for this replica's
// identity (POD_NAME). It makes no request.
func (c *ConfigMapStore) LeaseGate(name, identity string) *LeaseGate {
	return newLeaseGate(kubeLeases{api: c.api, namespace: c.namespace, name: name}, c.namespace, name, identity)
}

func newLeaseGate(l leaseGetter, namespace, name, identity string) *LeaseGate {
	return &LeaseGate{leases: l, identity: identity, what: fmt.Sprintf("Lease %s/%s (WATCH_LEASE)", namespace, name), now: time.Now}
}

// Leading fails closed: a Lease that cannot be read is not ours.
func (g *LeaseGate) Leading(ctx context.Context) (bool, string, error) {
	l, err := g.leases.getLease(ctx)
	switch code := statusCode(err); {
	case code == http.StatusNotFound:
		return false, "", fmt.Errorf("%s not found: the bot creates it with leader election (the chart does, with replicaCount > 1)", g.what)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return false, "", fmt.Errorf("%s: the ServiceAccount may not get it: grant get on this Lease name: %w", g.what, err)
	case err != nil:
		return false, "", fmt.Errorf("get %s: %w", g.what, err)
	}
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" {
		return false, "", nil
	}
	holder := *s.HolderIdentity
	if holder != g.identity {
		return false, holder, nil
	}
	if s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return false, holder, errors.New(g.what + " names this replica but has no renewTime or leaseDurationSeconds")
	}
	expires := s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
	return g.now().Before(expires), holder, nil
}
