package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestRealHistory rolls the app out three times with pinned images and
// change-causes (the last a rollback), and reads the ReplicaSets the
// Deployment controller made back as revisions.
func TestRealHistory(t *testing.T) {
	const ns = "derrick-cluster-history"
	c, _ := realApp(t, ns, 1)
	rec, cs := recording(t, c.Config)
	cl := cluster.New(cs, cluster.Target{Namespace: ns, Deployment: clustertest.AppName})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	repo := strings.TrimSuffix(clustertest.AppImage, ":1.4.2")
	pinned := func(tag string, b byte) string { return repo + ":" + tag + "@sha256:" + strings.Repeat(string(b), 64) }
	first, second := pinned("1.4.3", 'a'), pinned("1.4.3", 'b') // the branch 1.4.3 pushed again

	if _, _, ok, err := cl.PreviousImage(ctx); err != nil || ok {
		t.Fatalf("PreviousImage of a fresh Deployment: ok %v, %v; want nothing to go back to", ok, err)
	}
	roll := func(image, cause string) {
		t.Helper()
		rec.reset()
		if _, err := cl.SetImageCause(ctx, image, cause); err != nil {
			t.Fatal(err)
		}
		if w := rec.writes(); len(w) != 1 || !strings.HasPrefix(w[0], "PATCH ") {
			t.Errorf("SetImageCause wrote %v, want one PATCH", w)
		}
		if r, err := cl.WaitRollout(ctx, 100*time.Millisecond, nil); err != nil {
			t.Fatalf("WaitRollout to %s: %v (last %+v)", image, err, r)
		}
	}
	roll(first, "/deploy 1.4.3 by @alice (1001)")
	roll(second, "/deploy 1.4.3 by @alice (1001)")

	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, clustertest.AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Annotations[cluster.ChangeCauseAnnotation]; got != "/deploy 1.4.3 by @alice (1001)" {
		t.Errorf("the Deployment's change-cause is %q", got)
	}
	// A ReplicaSet with the app's labels that another owner controls is not the Deployment's.
	stranger := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: ns, Labels: clustertest.AppSelector,
			Annotations: map[string]string{cluster.RevisionAnnotation: "99"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner",
				UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: d.Spec.Selector,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: clustertest.AppSelector},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: clustertest.AppContainer, Image: repo + ":0.0.1"}}}}},
	}
	if _, err := c.Client.AppsV1().ReplicaSets(ns).Create(ctx, stranger, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	current, prev, ok, err := cl.PreviousImage(ctx)
	if err != nil || !ok || current != second || prev.Image != first || prev.Revision != 2 {
		t.Fatalf("PreviousImage = %q, %+v, %v, %v; want %q and revision 2 on %q", current, prev, ok, err, second, first)
	}
	roll(prev.Image, "/rollback by @bob (1002)")

	got, err := cl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Revision     int64
		Image, Cause string
	}
	var rows []row
	for _, r := range got {
		rows = append(rows, row{r.Revision, r.Image, r.ChangeCause})
		if r.Created.IsZero() || r.ReplicaSet == "" || r.ReplicaSet == "stranger" {
			t.Errorf("revision %+v: no creation time or name, or not the Deployment's", r)
		}
	}
	// The rollback reuses revision 2's ReplicaSet: it becomes revision 4 with the new cause.
	want := []row{
		{4, first, "/rollback by @bob (1002)"},
		{3, second, "/deploy 1.4.3 by @alice (1001)"},
		{1, clustertest.AppImage, ""},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
	if got[0].Replicas != 1 {
		t.Errorf("the current revision has %d pods, want 1", got[0].Replicas)
	}
	if two, err := cl.History(ctx, 2); err != nil || len(two) != 2 || two[0].Revision != 4 {
		t.Errorf("History(2) = %+v, %v; want revisions 4 and 3", two, err)
	}
	if _, prev, ok, err := cl.PreviousImage(ctx); err != nil || !ok || prev.Image != second || prev.Revision != 3 {
		t.Errorf("PreviousImage after the rollback = %+v, %v, %v; want revision 3 on %q", prev, ok, err, second)
	}
}
