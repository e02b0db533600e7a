package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// historyRuns numbers the namespaces of TestHistoryAndRollback, so that
// -count=N starts each run on a Deployment with one revision.
var historyRuns atomic.Int32

// historyRow is a row of a /history reply: revision, version (tag and
// short digest) and who.
type historyRow struct{ Revision, Version, By string }

var (
	wideSpace = regexp.MustCompile(`\s{2,}`)
	whenUTC   = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d UTC$`)
	tags      = regexp.MustCompile(`<[^>]+>`)
)

// historyRows parses the table of a /history reply.
func historyRows(t *testing.T, reply string) []historyRow {
	t.Helper()
	_, table, ok := strings.Cut(reply, "REVISION")
	if !ok {
		t.Fatalf("/history has no table:\n%s", reply)
	}
	var rows []historyRow
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		f := wideSpace.Split(strings.TrimSpace(line), -1)
		if len(f) != 4 || !whenUTC.MatchString(f[2]) {
			t.Fatalf("/history row %q: want revision, version, when (UTC), by\n%s", line, reply)
		}
		rows = append(rows, historyRow{f[0], f[1], f[3]})
	}
	return rows
}

// shown is how a reply names tag pinned to digest: "0.10.5 (sha256:ab12cd34ef56)".
func shown(tag, digest string) string { return tag + " (" + digest[:len("sha256:")+12] + ")" }

// ended: the follow-up of a change has said how it ended.
func ended(last telegramtest.Message) bool {
	return strings.HasPrefix(last.Plain, "✅") || strings.HasPrefix(last.Plain, "❌") || strings.HasPrefix(last.Plain, "⏱")
}

// TestHistoryAndRollback: two /deploys and a rollout made with client-go
// show in /history, newest first, with their change-causes; /rollback puts
// the Deployment and its pods back on the previous distinct image. A
// Deployment of its own: the test starts with nothing to roll back to.
func TestHistoryAndRollback(t *testing.T) {
	ctx := context.Background()
	app := fmt.Sprintf("oil-history-%d", historyRuns.Add(1))
	w := newWorld(t, "APP_NAMESPACE="+app, "BOT_CONFIRM=none")
	w.cluster.SeedApp(ctx, t, app, 2)
	deploys := w.cluster.Client.AppsV1().Deployments(app)
	get := func() (image, cause string) {
		t.Helper()
		d, err := deploys.Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image, d.Annotations[cluster.ChangeCauseAnnotation]
	}
	v := func(tag string) string { return shown(tag, w.digests[tag]) }
	deploy := func(tag string) string {
		t.Helper()
		msgs := w.say(t, operator, "/deploy "+tag, ended)
		if last := msgs[len(msgs)-1]; !strings.HasPrefix(last.Plain, "✅ "+v(tag)+" развёрнута") {
			t.Fatalf("/deploy %s ended with %q (history %q)", tag, last.Plain, last.History)
		}
		want := w.repo + ":" + tag + "@" + w.digests[tag]
		if img, _ := get(); img != want {
			t.Fatalf("after /deploy %s the Deployment runs %q, want %q", tag, img, want)
		}
		return want
	}
	history := func(user int64) []historyRow {
		t.Helper()
		got := w.say(t, user, "/history", nil)
		if len(got) != 1 {
			t.Fatalf("/history from %d: %d answers, want 1", user, len(got))
		}
		return historyRows(t, got[0].Plain)
	}
	by := func(cmd string) string { return fmt.Sprintf("%s by @user%d (%d)", cmd, operator, operator) }
	seeded := historyRow{"1", "1.4.2", "—"}

	t.Run("nothing to roll back to", func(t *testing.T) {
		if diff := cmp.Diff([]historyRow{seeded}, history(viewer)); diff != "" {
			t.Errorf("viewer /history of a fresh Deployment (-want +got):\n%s", diff)
		}
		before, _ := get()
		got := w.say(t, operator, "/rollback", nil)
		if len(got) != 1 || !strings.Contains(got[0].Plain, "не к чему откатывать") || !strings.Contains(got[0].Plain, "(1.4.2)") {
			t.Errorf("/rollback with one revision: %+v", got)
		}
		if img, _ := get(); img != before {
			t.Errorf("the Deployment changed: %s, was %s", img, before)
		}
	})

	deploy("0.10.4")
	img05 := deploy("0.10.5")
	t.Run("history of two deploys", func(t *testing.T) {
		want := []historyRow{{"3", v("0.10.5"), by("/deploy 0.10.5")}, {"2", v("0.10.4"), by("/deploy 0.10.4")}, seeded}
		if diff := cmp.Diff(want, history(operator)); diff != "" {
			t.Errorf("/history (-want +got):\n%s", diff)
		}
	})

	// Someone rolls out with client-go, writing no change-cause.
	elsewhere := w.repo + ":main"
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, clustertest.AppContainer, elsewhere)
	if _, err := deploys.Patch(ctx, clustertest.AppName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	w.cluster.WaitForApp(ctx, t, app)
	t.Run("a rollout made elsewhere shows no cause", func(t *testing.T) {
		want := []historyRow{{"4", "main", "—"}, {"3", v("0.10.5"), by("/deploy 0.10.5")}, {"2", v("0.10.4"), by("/deploy 0.10.4")}, seeded}
		if diff := cmp.Diff(want, history(viewer)); diff != "" {
			t.Errorf("/history (-want +got):\n%s", diff)
		}
	})

	t.Run("a viewer's rollback is refused", func(t *testing.T) {
		if got := w.say(t, viewer, "/rollback", nil); len(got) != 1 || !strings.Contains(got[0].Plain, "только операторам") {
			t.Errorf("viewer /rollback: %+v", got)
		}
		if img, _ := get(); img != elsewhere {
			t.Errorf("the Deployment runs %s after a viewer's /rollback, want %s", img, elsewhere)
		}
	})

	t.Run("rollback to the previous distinct image", func(t *testing.T) {
		msgs := w.say(t, operator, "/rollback", ended)
		from := "Откатываю oil-refinery-application: main → " + v("0.10.5") + "…"
		if len(msgs) != 1 || len(msgs[0].History) == 0 || tags.ReplaceAllString(msgs[0].History[0], "") != from {
			t.Fatalf("/rollback: %+v, want one message that first said %q", msgs, from)
		}
		if !strings.HasPrefix(msgs[0].Plain, "✅ "+v("0.10.5")+" развёрнута") {
			t.Fatalf("/rollback ended with %q (history %q)", msgs[0].Plain, msgs[0].History)
		}
		img, cause := get()
		if img != img05 || cause != by("/rollback to 0.10.5") {
			t.Errorf("the Deployment runs %s with change-cause %q, want %s and %q", img, cause, img05, by("/rollback to 0.10.5"))
		}
		waitPodsRun(ctx, t, w.cluster.Client, app, img05)
		want := []historyRow{{"5", v("0.10.5"), by("/rollback to 0.10.5")}, {"4", "main", "—"}, {"2", v("0.10.4"), by("/deploy 0.10.4")}, seeded}
		if diff := cmp.Diff(want, history(operator)); diff != "" {
			t.Errorf("/history after /rollback (-want +got):\n%s", diff)
		}
	})
}

// waitPodsRun waits until every pod of the Deployment in namespace app that
// is not going away runs image, as many as the Deployment wants.
func waitPodsRun(ctx context.Context, t *testing.T, kube kubernetes.Interface, app, image string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := kube.AppsV1().Deployments(app).Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := kube.CoreV1().Pods(app).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(clustertest.AppSelector).String()})
		if err != nil {
			return false, err
		}
		var b strings.Builder
		ok, n := true, int32(0)
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			n++
			fmt.Fprintf(&b, "%s %s %s; ", p.Name, p.Status.Phase, p.Spec.Containers[0].Image)
			ok = ok && p.Status.Phase == "Running" && p.Spec.Containers[0].Image == image
		}
		last = b.String()
		return ok && n == *d.Spec.Replicas, nil
	})
	if err != nil {
		t.Fatalf("pods of %s/%s never all ran %s: %v; last: %s", app, clustertest.AppName, image, err, last)
	}
}
