package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"gitlab.com/derrick-kit/derrick/internal/argocdtest"
	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/registrytest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// The bot against a real Argo CD that manages the Deployment with
// automated sync and selfHeal (internal/argocdtest), on a cluster of its own.

const glToken = "glpat-bot-e2e-secret"

// fakeGitLabRegistry serves GitLab's API for one registry repository
// (registry.example.com/oil/app, the image Argo CD deploys); each tag's
// digest is the sha256 of its name.
func fakeGitLabRegistry(t *testing.T, tags ...string) (*registrytest.GitLab, *httptest.Server) {
	t.Helper()
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	created := make(map[string]string, len(tags))
	digests := make(map[string]string, len(tags))
	for i, tag := range tags {
		created[tag] = base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		digests[tag] = registrytest.Digest([]byte(tag))
	}
	fake := &registrytest.GitLab{Project: "oil%2Fapp", Token: glToken, Tags: map[int64][]string{1: tags}, Created: created,
		Digests: digests, Repos: []registrytest.GitLabRepo{{ID: 1, Path: "oil/app", Location: "registry.example.com/oil/app"}}}
	return fake, fake.Start(t)
}

func TestDeployThroughArgoCD(t *testing.T) {
	ctx := context.Background()
	c := clustertest.Start(ctx, t)
	c.SeedNodes(ctx, t)
	argo := argocdtest.Start(ctx, t, c)
	registry, gitlab := fakeGitLabRegistry(t, "0.10.4", "0.10.5")
	const repo = "registry.example.com/oil/app"
	deploys := c.Client.AppsV1().Deployments(argo.Namespace)

	env := func(tg *telegramtest.Server, via string) []string {
		return []string{
			"TELEGRAM_BOT_TOKEN=" + token, "TELEGRAM_API_URL=" + tg.URL(),
			fmt.Sprintf("CHATOPS_OPERATORS=%d", operator),
			"KUBECONFIG=" + c.Kubeconfig, "APP_NAMESPACE=" + argo.Namespace,
			"REGISTRY_SOURCE=gitlab", "GITLAB_URL=" + gitlab.URL, "GITLAB_TOKEN=" + glToken, "GITLAB_PROJECT=oil/app",
			"REGISTRY_IMAGE=registry.example.com/oil/app",
			"DEPLOY_VIA=" + via, "ARGOCD_SERVER=" + argo.ServerURL, "ARGOCD_AUTH_TOKEN=" + argo.Token,
			"ARGOCD_APP=" + argo.AppName, "ARGOCD_INSECURE=true",
			"BOT_HTTP_ADDR=127.0.0.1:0", "BOT_ROLLOUT_TIMEOUT=90s", "BOT_CONFIRM=none",
		}
	}
	newTG := func() *telegramtest.Server { return bottest.Telegram(t, token) }
	image := func() (string, int32) {
		d, err := deploys.Get(ctx, argocdtest.AppName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas
	}

	t.Run("DEPLOY_VIA=kubernetes refuses an Argo CD-managed Deployment", func(t *testing.T) {
		tg := newTG()
		w := &world{tg: tg, bot: startBot(t, env(tg, "kubernetes"))}
		beforeImage, beforeReplicas := image()
		for _, cmd := range []string{"/deploy 0.10.5", "/set_replicas 1"} {
			got := bottest.Plain(w.say(t, operator, cmd, nil))
			if !strings.Contains(got, "управляется Argo CD (приложение "+argo.AppName) || !strings.Contains(got, "DEPLOY_VIA=argocd") {
				t.Errorf("%s: %s", cmd, got)
			}
		}
		if img, n := image(); img != beforeImage || n != beforeReplicas {
			t.Errorf("the Deployment changed: %s x%d, was %s x%d", img, n, beforeImage, beforeReplicas)
		}
	})

	t.Run("DEPLOY_VIA=argocd deploys and scales through Argo CD", func(t *testing.T) {
		tg := newTG()
		w := &world{tg: tg, bot: startBot(t, env(tg, "argocd"))}
		deployed := func(t *testing.T, digest string) {
			t.Helper()
			start := time.Now()
			msgs := w.say(t, operator, "/deploy 0.10.5", ended)
			t.Logf("/deploy 0.10.5 to Healthy through Argo CD: %v", time.Since(start).Round(10*time.Millisecond))
			last := msgs[len(msgs)-1]
			if want := "✅ 0.10.5 (" + digest[:19] + ") развёрнута через Argo CD"; !strings.HasPrefix(last.Plain, want) {
				t.Fatalf("/deploy ended with %q, want %q… (history %q)", last.Plain, want, last.History)
			}
			if len(last.History) == 0 || !strings.Contains(strings.Join(last.History, "\n"), "через Argo CD: sync") {
				t.Errorf("the progress message did not show Argo CD's states: %q", last.History)
			}
			want := "registry.example.com/oil/app:0.10.5@" + digest
			if img, _ := image(); img != want {
				t.Errorf("Deployment image %s, want %s", img, want)
			}
			pods, err := c.Client.CoreV1().Pods(argo.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(argocdtest.AppLabels).String()})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != want {
					t.Errorf("pod %s runs %s, want %s", p.Name, p.Spec.Containers[0].Image, want)
				}
			}
		}
		deployed(t, registrytest.Digest([]byte("0.10.5")))

		msgs := w.say(t, operator, "/set_replicas 3", ended)
		if last := msgs[len(msgs)-1]; !strings.HasPrefix(last.Plain, "✅ Реплик у oil-refinery-application: 2 → 3") {
			t.Fatalf("/set_replicas ended with %q", last.Plain)
		}
		// The change went through Argo CD, so selfHeal keeps it: once Argo
		// CD has compared the application again and done what it decided,
		// the Deployment still has 3.
		argo.WaitReconciled(ctx, t, time.Now())
		if _, n := image(); n != 3 {
			t.Errorf("replicas %d after Argo CD reconciled /set_replicas 3: reverted", n)
		}

		// The branch is pushed again: the same tag, another digest,
		// rolled out through the Application; then nothing left to do.
		repushed := registrytest.Digest([]byte("0.10.5 pushed again"))
		registry.Repush("0.10.5", repushed)
		deployed(t, repushed)
		if got := bottest.Plain(w.say(t, operator, "/deploy 0.10.5", nil)); !strings.HasPrefix(got, "oil-refinery-application уже работает на 0.10.5 ("+repushed[:19]+")") {
			t.Errorf("/deploy of what runs through Argo CD: %q", got)
		}
	})
	t.Run("DEPLOY_VIA=argocd: /history from the Application, /rollback through it", func(t *testing.T) {
		tg := newTG()
		w := &world{tg: tg, bot: startBot(t, env(tg, "argocd"))}
		d04, first, repushed := registrytest.Digest([]byte("0.10.4")), registrytest.Digest([]byte("0.10.5")), registrytest.Digest([]byte("0.10.5 pushed again"))
		img05 := repo + ":0.10.5@" + repushed // what the subtest above left running
		if img, _ := image(); img != img05 {
			t.Fatalf("the Deployment runs %s, want %s", img, img05)
		}
		msgs := w.say(t, operator, "/deploy 0.10.4", ended)
		if last := msgs[len(msgs)-1]; !strings.HasPrefix(last.Plain, "✅ "+shown("0.10.4", d04)+" развёрнута через Argo CD") {
			t.Fatalf("/deploy 0.10.4 ended with %q (history %q)", last.Plain, last.History)
		}
		if img, _ := image(); img != repo+":0.10.4@"+d04 {
			t.Fatalf("after /deploy 0.10.4 the Deployment runs %s", img)
		}
		known := []string{"—", shown("0.10.4", d04), shown("0.10.5", first), shown("0.10.5", repushed)}

		// /history lists status.history newest first: the ids Argo CD
		// appended, from the last; the newest deployed 0.10.4, and 0.10.5
		// before it.
		checkHistory := func(newest, before string) {
			t.Helper()
			// Read status.history around /history until no sync came between.
			var rows []historyRow
			var ids []string
			for range 5 {
				read := appHistoryIDs(ctx, t, c)
				rows = historyRows(t, bottest.Plain(w.say(t, operator, "/history", nil)))
				if ids = appHistoryIDs(ctx, t, c); slices.Equal(read, ids) {
					break
				}
			}
			t.Logf("/history %+v; status.history ids %v", rows, ids)
			var want []string
			for i := len(ids) - 1; i >= 0 && len(want) < 10; i-- {
				want = append(want, ids[i])
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Revision)
				if !slices.Contains(known, r.Version) {
					t.Errorf("/history row %+v: version not one of %q", r, known)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/history revisions, want status.history's ids newest first (-want +got):\n%s\n%+v", diff, rows)
			}
			i := slices.IndexFunc(rows, func(r historyRow) bool { return r.Version != newest })
			if len(rows) == 0 || rows[0].Version != newest || i < 0 || rows[i].Version != before {
				t.Errorf("/history: want %s newest, then %s: %+v", newest, before, rows)
			}
		}
		checkHistory(shown("0.10.4", d04), shown("0.10.5", repushed))

		msgs = w.say(t, operator, "/rollback", ended)
		from := "Откатываю oil-refinery-application: " + shown("0.10.4", d04) + " → " + shown("0.10.5", repushed) + "…"
		if len(msgs) != 1 || len(msgs[0].History) == 0 || tags.ReplaceAllString(msgs[0].History[0], "") != from {
			t.Fatalf("/rollback: %+v, want one message that first said %q", msgs, from)
		}
		if !strings.HasPrefix(msgs[0].Plain, "✅ "+shown("0.10.5", repushed)+" развёрнута через Argo CD") {
			t.Fatalf("/rollback ended with %q (history %q)", msgs[0].Plain, msgs[0].History)
		}
		if got := appImages(ctx, t, c); !slices.Contains(got, img05) {
			t.Errorf("the Application's image overrides are %q, want %s", got, img05)
		}
		if img, _ := image(); img != img05 {
			t.Errorf("the Deployment runs %s after /rollback, want %s", img, img05)
		}
		waitPodsRun(ctx, t, c.Client, argo.Namespace, img05)
		checkHistory(shown("0.10.5", repushed), shown("0.10.4", d04))
	})
}

// application reads the Argo CD Application argocdtest manages.
func application(ctx context.Context, t *testing.T, c *clustertest.Cluster) *unstructured.Unstructured {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	app, err := dyn.Resource(gvr).Namespace(argocdtest.ArgoNamespace).Get(ctx, argocdtest.AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// appHistoryIDs are the ids of the Application's status.history, in Argo
// CD's order.
func appHistoryIDs(ctx context.Context, t *testing.T, c *clustertest.Cluster) []string {
	t.Helper()
	history, _, err := unstructured.NestedSlice(application(ctx, t, c).Object, "status", "history")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range history {
		id, _, _ := unstructured.NestedFieldNoCopy(h.(map[string]any), "id")
		ids = append(ids, fmt.Sprint(id))
	}
	return ids
}

// appImages is the Application's spec.source.kustomize.images.
func appImages(ctx context.Context, t *testing.T, c *clustertest.Cluster) []string {
	t.Helper()
	images, _, err := unstructured.NestedStringSlice(application(ctx, t, c).Object, "spec", "source", "kustomize", "images")
	if err != nil {
		t.Fatal(err)
	}
	return images
}
