package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestDigestRedeployOfARepushedTag: a branch tag pushed again is a new
// image under the same name. /deploy pins the digest, so deploying the tag
// again after the push rolls out a new ReplicaSet on the new digest, and
// deploying what already runs changes nothing.
func TestDigestRedeployOfARepushedTag(t *testing.T) {
	w := newWorld(t, "BOT_CONFIRM=none")
	ctx := context.Background()
	first := w.digests["0.10.5"]

	deploy := func(t *testing.T, digest string) {
		t.Helper()
		msgs := w.say(t, operator, "/deploy 0.10.5", ended)
		if want := "✅ 0.10.5 (" + digest[:19] + ") развёрнута"; !strings.HasPrefix(msgs[len(msgs)-1].Plain, want) {
			t.Fatalf("/deploy 0.10.5 ended with %q, want %q…", msgs[len(msgs)-1].Plain, want)
		}
		waitPodsRun(context.Background(), t, w.cluster.Client, ns, w.repo+":0.10.5@"+digest)
	}

	deploy(t, first)
	before := replicaSets(t, w)

	second := w.registry.Push(t, "oil/app", "0.10.5", time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	if second == first {
		t.Fatalf("the second push of 0.10.5 has the first one's digest %s", first)
	}
	got := bottest.Plain(w.say(t, viewer, "/showcontainers", nil))
	if want := "⚠ 0.10.5 теперь указывает на " + second[:19] + ", а запущен " + first[:19]; !strings.Contains(got, want) {
		t.Errorf("/showcontainers after the push:\n%s\nwant it to say %q", got, want)
	}

	deploy(t, second)
	after := replicaSets(t, w)
	var fresh []string
	for name, image := range after {
		if _, ok := before[name]; !ok {
			fresh = append(fresh, image)
		}
	}
	if want := w.repo + ":0.10.5@" + second; len(fresh) != 1 || fresh[0] != want {
		t.Errorf("images of the ReplicaSets the second /deploy made: %q, want one of %s", fresh, want)
	}

	got = bottest.Plain(w.say(t, operator, "/deploy 0.10.5", nil))
	if want := "oil-refinery-application уже работает на 0.10.5 (" + second[:19] + ")"; !strings.HasPrefix(got, want) {
		t.Errorf("/deploy of what runs: %q, want %q…", got, want)
	}
	if again := replicaSets(t, w); !maps.Equal(again, after) {
		t.Errorf("/deploy of what runs changed the ReplicaSets:\nbefore %v\nafter  %v", after, again)
	}
	d, err := w.cluster.Client.AppsV1().Deployments(ns).Get(ctx, clustertest.AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != w.repo+":0.10.5@"+second {
		t.Errorf("image %s after /deploy of what runs, want the second digest", img)
	}
	got = bottest.Plain(w.say(t, viewer, "/showcontainers", nil))
	if strings.Contains(got, "⚠") || !slices.ContainsFunc(strings.Split(got, "\n"), func(l string) bool {
		return strings.HasPrefix(l, "0.10.5 ") && strings.HasSuffix(l, "←")
	}) {
		t.Errorf("/showcontainers with the new digest running:\n%s\nwant 0.10.5 marked and no warning", got)
	}
}

// replicaSets maps the names of the application's ReplicaSets to their
// pod template's image.
func replicaSets(t *testing.T, w *world) map[string]string {
	t.Helper()
	list, err := w.cluster.Client.AppsV1().ReplicaSets(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(clustertest.AppSelector).String()})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(list.Items))
	for _, rs := range list.Items {
		if owned(rs) {
			out[rs.Name] = rs.Spec.Template.Spec.Containers[0].Image
		}
	}
	return out
}

func owned(rs appsv1.ReplicaSet) bool {
	c := metav1.GetControllerOf(&rs)
	return c != nil && c.Kind == "Deployment" && c.Name == clustertest.AppName
}
