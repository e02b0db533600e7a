package chart

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/leader"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// With replicaCount 2 the chart creates the Lease and a Role on that one
// name (get, update, watch; no create, which RBAC cannot limit by name),
// and the bot's election works with exactly that.
func TestLeaderElectionAccess(t *testing.T) {
	ctx := t.Context()
	c := clustertest.Shared(t)
	if _, err := helmPath(); err != nil {
		proctest.SkipOrFail(t, "%v", err)
	}
	const ns, appNamespace, lease = "derrick-ha", "oil-ha", "oil-bot-bot"
	createNamespace(ctx, t, c, ns, restricted)
	createNamespace(ctx, t, c, appNamespace, nil)
	values := writeValues(t, map[string]any{
		"replicaCount": 2,
		"telegram":     map[string]any{"token": token},
		"chatops":      map[string]any{"operators": []int64{operator}},
		"app":          map[string]any{"namespace": appNamespace},
		"registry":     map[string]any{"source": "oci", "image": "registry.example.com/oil/app"},
	})
	objs := render(t, ns, "-f", values)
	var mine []*unstructured.Unstructured
	for _, o := range objs {
		if slices.Contains([]string{"ServiceAccount", "Lease", "Role", "RoleBinding"}, o.GetKind()) {
			mine = append(mine, o)
		}
	}
	if err := newApplier(t, c.Config).apply(ctx, mine, false); err != nil {
		t.Fatal(err)
	}
	sa := deploymentOf(t, objs).Spec.Template.Spec.ServiceAccountName
	cs := saClient(ctx, t, c, ns, sa)
	for _, tt := range []struct {
		a    access
		want bool
	}{
		{access{"get", "coordination.k8s.io", "leases", "", ns, lease}, true},
		{access{"update", "coordination.k8s.io", "leases", "", ns, lease}, true},
		{access{"watch", "coordination.k8s.io", "leases", "", ns, lease}, true},
		{access{"create", "coordination.k8s.io", "leases", "", ns, ""}, false},
		{access{"list", "coordination.k8s.io", "leases", "", ns, ""}, false},
		{access{"watch", "coordination.k8s.io", "leases", "", ns, ""}, false},
		{access{"delete", "coordination.k8s.io", "leases", "", ns, lease}, false},
		{access{"patch", "coordination.k8s.io", "leases", "", ns, lease}, false},
		{access{"get", "coordination.k8s.io", "leases", "", ns, "kube-controller-manager"}, false},
		{access{"update", "coordination.k8s.io", "leases", "", ns, "other"}, false},
		{access{"update", "coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler"}, false},
		{access{"get", "coordination.k8s.io", "leases", "", appNamespace, lease}, false},
	} {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: tt.a.verb, Group: tt.a.group, Resource: tt.a.resource, Namespace: tt.a.ns, Name: tt.a.name,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.a, err)
		}
		if r.Status.Allowed != tt.want {
			t.Errorf("%s: allowed %v, want %v", tt.a, r.Status.Allowed, tt.want)
		}
	}

	// The election itself, as the ServiceAccount: the standby's watch of
	// the one Lease, and acquiring the chart's Lease without create.
	w, err := cs.CoordinationV1().Leases(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + lease})
	if err != nil {
		t.Fatalf("watch of the Lease as the bot: %v", err)
	}
	w.Stop()
	e := leader.New(cs, leader.Config{Enabled: true, Lease: lease, Namespace: ns, Identity: "oil-bot-0",
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	led := make(chan struct{})
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = e.Run(ectx, func(context.Context) error { close(led); cancel(); return nil })
	select {
	case <-led:
	default:
		t.Fatalf("the ServiceAccount could not take the chart's Lease (Run: %v)", err)
	}
	l, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions < 0 || l.Spec.AcquireTime == nil {
		t.Errorf("the Lease was not acquired: %+v", l.Spec)
	}
}
