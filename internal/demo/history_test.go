package demo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

type rev struct {
	Revision int64
	Image    string
	Cause    string
}

func history(t *testing.T, ctx context.Context, kc *cluster.Client) []rev {
	t.Helper()
	h, err := kc.History(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var out []rev
	for _, r := range h {
		out = append(out, rev{r.Revision, r.Image, r.ChangeCause})
	}
	return out
}

// waitHistory waits until the history is want or the deadline passes.
func waitHistory(t *testing.T, ctx context.Context, kc *cluster.Client, want []rev) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := history(t, ctx, kc)
		diff := cmp.Diff(want, got)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("History (-want +got):\n%s", diff)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHistoryFollowsRollouts(t *testing.T) {
	c, kc := running(t, fast)
	ctx := t.Context()
	img := func(tag string) string { return Repository + ":" + tag }
	seed := []rev{{2, img("0.10.4"), seedCause}, {1, img("0.10.3"), ""}}
	waitHistory(t, ctx, kc, seed)
	cur, prev, ok, err := kc.PreviousImage(ctx)
	if err != nil || !ok || cur != img("0.10.4") || prev.Image != img("0.10.3") || prev.Revision != 1 {
		t.Fatalf("PreviousImage at the seed = %q, %+v, %v, %v; want 0.10.4 back to 0.10.3 (revision 1)", cur, prev, ok, err)
	}

	deploy := "/deploy 0.10.5 by @olga_ops (314159265)"
	if _, err := kc.SetImageCause(ctx, img("0.10.5"), deploy); err != nil {
		t.Fatal(err)
	}
	waitHistory(t, ctx, kc, []rev{{3, img("0.10.5"), deploy}, seed[0], seed[1]})
	cur, prev, ok, err = kc.PreviousImage(ctx)
	if err != nil || !ok || cur != img("0.10.5") || prev.Image != img("0.10.4") || prev.Revision != 2 {
		t.Fatalf("PreviousImage after the deploy = %q, %+v, %v, %v; want 0.10.5 back to 0.10.4", cur, prev, ok, err)
	}

	// A rollback reuses the old ReplicaSet under the next revision.
	back := "/rollback by @olga_ops (314159265)"
	if _, err := kc.SetImageCause(ctx, img("0.10.4"), back); err != nil {
		t.Fatal(err)
	}
	waitHistory(t, ctx, kc, []rev{{4, img("0.10.4"), back}, {3, img("0.10.5"), deploy}, seed[1]})
	h, err := kc.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	watch(t, kc, 5*time.Second)
	pods, err := c.Clientset().CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.OwnerReferences[0].Name != h[0].ReplicaSet {
			t.Errorf("pod %s is owned by %s, want the current ReplicaSet %s", p.Name, p.OwnerReferences[0].Name, h[0].ReplicaSet)
		}
	}
}

// Old ReplicaSets without pods beyond spec.revisionHistoryLimit go, oldest
// revision first, as the Deployment controller prunes them; the current one
// stays whatever the limit.
func TestHistoryKeepsRevisionHistoryLimit(t *testing.T) {
	c, kc := running(t, fast)
	ctx := t.Context()
	img := func(tag string) string { return Repository + ":" + tag }
	seed := []rev{{2, img("0.10.4"), seedCause}, {1, img("0.10.3"), ""}}
	waitHistory(t, ctx, kc, seed)

	limit := func(n int) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"revisionHistoryLimit":%d}}`, n)
		if _, err := c.Clientset().AppsV1().Deployments(Namespace).Patch(ctx, Deployment, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	roll := func(tag string) string {
		t.Helper()
		cause := "/deploy " + tag + " by @olga_ops (314159265)"
		if _, err := kc.SetImageCause(ctx, img(tag), cause); err != nil {
			t.Fatal(err)
		}
		return cause
	}

	limit(1) // one old ReplicaSet besides the current one: the seed's two stay
	waitHistory(t, ctx, kc, seed)
	deployed := roll("0.10.5")
	waitHistory(t, ctx, kc, []rev{{3, img("0.10.5"), deployed}, seed[0]})
	main := roll("main")
	waitHistory(t, ctx, kc, []rev{{4, img("main"), main}, {3, img("0.10.5"), deployed}})

	limit(0)
	waitHistory(t, ctx, kc, []rev{{4, img("main"), main}})
	if _, _, ok, err := kc.PreviousImage(ctx); err != nil || ok {
		t.Errorf("PreviousImage with no old revision kept: ok %v, %v; want nothing to go back to", ok, err)
	}
}
