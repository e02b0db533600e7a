package chart

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/watch"
)

// The pipeline watcher (watcher.enabled): its container, Secret key,
// state ConfigMap and the RBAC that lets it touch that ConfigMap only.

const (
	watcherFullname = "wbot-derrick-bot" // its own names, so nothing clashes with TestChartOnRealCluster's
	watcherNS       = "derrick-watcher"
	watcherAppNS    = "watcher-app"
	watcherGLToken  = "glpat-ChartWatcherSecret"
)

func watcherValues() map[string]any {
	return map[string]any{
		"fullnameOverride": watcherFullname,
		"telegram":         map[string]any{"token": token},
		"chatops":          map[string]any{"operators": []int64{operator}},
		"registry":         map[string]any{"image": "registry.example.com/oil/app"},
		"app":              map[string]any{"namespace": watcherAppNS},
		"watcher": map[string]any{
			"enabled": true, "chatID": int64(auditID), "projects": []any{42, "oil/refinery"}, "jobPrefix": "oil-",
			"gitlab": map[string]any{"url": "https://gitlab.example.com", "token": watcherGLToken},
		},
	}
}

// watcherEnv is the watcher container's environment as the pod gets it.
func watcherEnv(t testing.TB, objs []*unstructured.Unstructured, existing map[string]map[string]string) (corev1.Container, map[string]string) {
	t.Helper()
	secrets := map[string]map[string]string{}
	for k, v := range existing {
		secrets[k] = v
	}
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			s := typed[corev1.Secret](t, o)
			data := map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			secrets[s.Name] = data
		}
	}
	pod := deploymentOf(t, objs).Spec.Template.Spec
	i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == "watcher" })
	if i < 0 {
		t.Fatalf("no watcher container among %d", len(pod.Containers))
	}
	c := pod.Containers[i]
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
			continue
		}
		if f := e.ValueFrom.FieldRef; f != nil {
			env[e.Name] = "field:" + f.FieldPath
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		v, ok := secrets[ref.Name][ref.Key]
		if !ok {
			t.Fatalf("%s: key %q of Secret %q does not exist", e.Name, ref.Key, ref.Name)
		}
		env[e.Name] = v
	}
	return c, env
}

func TestTemplateWatcher(t *testing.T) {
	// Off by default: one container, no watcher objects.
	off := render(t, "oil", "-f", minimalValues)
	if n := len(deploymentOf(t, off).Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("%d containers with the watcher off, want 1", n)
	}
	for _, o := range off {
		if strings.Contains(o.GetName(), "watcher") {
			t.Errorf("%s %s rendered with the watcher off", o.GetKind(), o.GetName())
		}
	}

	objs := render(t, watcherNS, "-f", writeValues(t, watcherValues()))
	c, env := watcherEnv(t, objs, nil)
	if c.Image != "registry.gitlab.com/derrick-kit/derrick/notifier:0.1.0" || !slices.Equal(c.Args, []string{"watch"}) {
		t.Errorf("watcher container image %q args %q", c.Image, c.Args)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.Resources.Limits.Memory().String() != "64Mi" {
		t.Errorf("probe %+v resources %+v", c.LivenessProbe, c.Resources)
	}
	if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("watcher security context %+v", sc)
	}
	// The watcher's own parser accepts the chart's environment.
	cfg, err := watch.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the watcher refuses the chart's environment: %v", err)
	}
	want := watch.Config{GitLabToken: watcherGLToken, GitLabURL: "https://gitlab.example.com", Projects: []string{"42", "oil/refinery"},
		JobPrefix: "oil-", ConfigMap: "wbot-derrick-bot-watcher-state", Namespace: watcherNS, HTTPAddr: ":8081",
		Interval: watch.DefaultInterval, CreatedGrace: watch.DefaultCreatedGrace, Since: watch.DefaultSince, RequestTimeout: watch.DefaultRequestTimeout}
	got := cfg
	got.Notify = watch.Config{}.Notify
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("watcher configuration (-want +got):\n%s", diff)
	}
	if cfg.Notify.Token != token || cfg.Notify.ChatID != "-1001234567890" || cfg.Notify.Location.String() != "Europe/Moscow" {
		t.Errorf("telegram settings: %+v", cfg.Notify)
	}

	if _, ok := env["WATCH_LEASE"]; ok {
		t.Errorf("WATCH_LEASE set with one replica and no leader election")
	}
	// Prometheus scrapes the watcher's /metrics through the Service too.
	scraped := watcherValues()
	scraped["metrics"] = map[string]any{"serviceMonitor": map[string]any{"enabled": true}}
	scrapedObjs := render(t, watcherNS, "-f", writeValues(t, scraped))
	var ports []string
	for _, p := range typed[corev1.Service](t, find(t, scrapedObjs, "Service")).Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s %d->%s", p.Name, p.Port, p.TargetPort.String()))
	}
	if want := []string{"http 8080->http", "watcher-http 8081->watcher-http"}; !slices.Equal(ports, want) {
		t.Errorf("Service ports %q, want %q", ports, want)
	}
	endpoints, _, _ := unstructured.NestedSlice(find(t, scrapedObjs, "ServiceMonitor").Object, "spec", "endpoints")
	var scrapes []string
	for _, e := range endpoints {
		e := e.(map[string]any)
		scrapes = append(scrapes, fmt.Sprint(e["port"], " ", e["path"]))
	}
	if want := []string{"http /metrics", "watcher-http /metrics"}; !slices.Equal(scrapes, want) {
		t.Errorf("ServiceMonitor scrapes %q, want %q", scrapes, want)
	}
	// Two replicas: only the watcher of the Lease's holder posts.
	two := watcherValues()
	two["replicaCount"] = 2
	twoObjs := render(t, watcherNS, "-f", writeValues(t, two))
	_, twoEnv := watcherEnv(t, twoObjs, nil)
	if twoEnv["POD_NAME"] != "field:metadata.name" {
		t.Errorf("watcher POD_NAME = %q, want the pod's name from the downward API", twoEnv["POD_NAME"])
	}
	twoEnv["POD_NAME"] = "wbot-derrick-bot-5d8c7-x2x9q" // as the pod gets it
	twoCfg, err := watch.LoadConfig(func(k string) string { return twoEnv[k] })
	if err != nil || twoCfg.Lease != "oil-bot-bot" || twoCfg.Identity != "wbot-derrick-bot-5d8c7-x2x9q" {
		t.Errorf("with replicaCount 2 the watcher gets lease %q identity %q (%v), want the bot's Lease oil-bot-bot", twoCfg.Lease, twoCfg.Identity, err)
	}

	// With existingSecret the GitLab token comes from its own key.
	ex := watcherValues()
	ex["telegram"] = map[string]any{"existingSecret": "ops", "existingSecretKeys": map[string]any{"watcherGitlabToken": "gl-watch"}}
	ex["watcher"].(map[string]any)["gitlab"] = map[string]any{"url": "https://gitlab.example.com"}
	exObjs := render(t, watcherNS, "-f", writeValues(t, ex))
	_, exEnv := watcherEnv(t, exObjs, map[string]map[string]string{"ops": {"TELEGRAM_BOT_TOKEN": token, "gl-watch": "from-existing"}})
	if exEnv["GITLAB_TOKEN"] != "from-existing" {
		t.Errorf("GITLAB_TOKEN with existingSecret = %q", exEnv["GITLAB_TOKEN"])
	}

	for _, tt := range []struct{ name, set, want string }{
		{"no chat", "watcher.chatID=null", "watcher.chatID is required"},
		{"no projects", "watcher.projects=null", "watcher.projects is required"},
		{"no url", "watcher.gitlab.url=", "watcher.gitlab.url is required"},
		{"no token", "watcher.gitlab.token=", "watcher.gitlab.token (or its key in telegram.existingSecret) is required"},
		{"bad interval", "watcher.interval=often", "/watcher/interval"},
		{"bad project", "watcher.projects[0]=https://x", "/watcher/projects/0"},
		{"bad prefix", "watcher.jobPrefix=a b", "/watcher/jobPrefix"},
		{"unknown key", "watcher.intervall=20s", "intervall"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := helm(t, "template", "oil-bot", chartDir, "-n", watcherNS, "-f", writeValues(t, watcherValues()), "--set", tt.set)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Errorf("helm template --set %s: %v, stderr %q; want a refusal naming %q", tt.set, err, stderr, tt.want)
			}
		})
	}
}

// TestWatcherOnRealCluster applies the chart with the watcher to a real
// kube-apiserver and proves the ServiceAccount may touch the state
// ConfigMap, by name, with get and update only.
func TestWatcherOnRealCluster(t *testing.T) {
	ctx := t.Context()
	c := clustertest.Shared(t)
	if _, err := helmPath(); err != nil {
		proctest.SkipOrFail(t, "%v", err)
	}
	// NOTES first: helm refuses to install over objects of another release.
	out, stderr, err := helm(t, "install", "notes", chartDir, "-n", "notes", "-f", writeValues(t, watcherValues()), "--dry-run=client", "--kubeconfig", c.Kubeconfig)
	if err != nil {
		t.Fatalf("helm install --dry-run: %v\n%s", err, stderr)
	}
	notes := out[strings.Index(out, "NOTES:"):]
	for _, want := range []string{"Pipeline watcher", "https://gitlab.example.com", "42, oil/refinery", "-1001234567890",
		"ConfigMap notes/wbot-derrick-bot-watcher-state", "-c watcher", ":8081/healthz"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}

	c.SeedNodes(ctx, t)
	createNamespace(ctx, t, c, watcherNS, restricted)
	createNamespace(ctx, t, c, watcherAppNS, nil)
	values := watcherValues()
	values["networkPolicy"] = map[string]any{"enabled": true}
	objs := render(t, watcherNS, "-f", writeValues(t, values))
	a := newApplier(t, c.Config)
	if err := a.apply(ctx, objs, false); err != nil {
		t.Fatal(err)
	}
	d := deploymentOf(t, objs)
	sa := d.Spec.Template.Spec.ServiceAccountName
	// Both containers pass PodSecurity "restricted"; kwok plays the pod.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := c.Client.AppsV1().Deployments(watcherNS).Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && got.Status.ReadyReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("the Deployment with the watcher did not get a ready pod: %v", err)
	}

	const state = "wbot-derrick-bot-watcher-state"
	cs := saClient(ctx, t, c, watcherNS, sa)
	check := func(a access, want bool) { t.Helper(); checkAccess(ctx, t, cs, a, want) }
	for _, v := range []string{"get", "update"} {
		check(access{v, "", "configmaps", "", watcherNS, state}, true)
	}
	for _, a := range []access{
		{"patch", "", "configmaps", "", watcherNS, state},
		{"delete", "", "configmaps", "", watcherNS, state},
		{"create", "", "configmaps", "", watcherNS, ""},
		{"list", "", "configmaps", "", watcherNS, ""},
		{"watch", "", "configmaps", "", watcherNS, ""},
		{"get", "", "configmaps", "", watcherNS, "kube-root-ca.crt"},
		{"update", "", "configmaps", "", watcherNS, "kube-root-ca.crt"},
		{"get", "", "configmaps", "", watcherAppNS, state},
		{"update", "", "configmaps", "", "kube-system", state},
		{"get", "", "configmaps", "", "", ""},
		{"get", "", "secrets", "", watcherNS, "wbot-derrick-bot"},
		{"create", "coordination.k8s.io", "leases", "", watcherNS, ""},
		{"create", "", "events", "", watcherNS, ""},
	} {
		check(a, false)
	}
	// What the ServiceAccount may do in the release namespace: the nodes
	// (cluster-wide, the bot's) and the one ConfigMap, nothing else.
	var got []string
	for _, r := range rulesOf(ctx, t, cs, watcherNS) {
		if !strings.Contains(r, "[nodes]") {
			got = append(got, r)
		}
	}
	if diff := cmp.Diff([]string{"[] [configmaps] [" + state + "] [get update]"}, got); diff != "" {
		t.Errorf("rules of the ServiceAccount in %s besides nodes (-want +got):\n%s", watcherNS, diff)
	}

	// And for real: the watcher's store reads and writes the chart's
	// ConfigMap as that ServiceAccount; another one is refused.
	store, err := watch.OpenConfigMapStore(c.ServiceAccountKubeconfig(ctx, t, watcherNS, sa), watcherNS, state)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Load(ctx)
	if err != nil {
		t.Fatalf("load the state as the chart's ServiceAccount: %v", err)
	}
	s.Projects["oil/refinery"] = &watch.ProjectState{Cursor: time.Now().UTC(), Pipelines: map[int64]*watch.Entry{7: {Status: "canceled", Done: "cf"}}}
	if err := store.Save(ctx, s); err != nil {
		t.Fatalf("save the state as the chart's ServiceAccount: %v", err)
	}
	cm, err := c.Client.CoreV1().ConfigMaps(watcherNS).Get(ctx, state, metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["state.json"], "oil/refinery") {
		t.Errorf("state ConfigMap after save: %v %v", cm.Data, err)
	}
	// Someone else changes the ConfigMap in between (a label, and a line
	// settled elsewhere): the update conflicts on the real API server, the
	// store re-reads, merges and keeps both.
	cm.Labels["touched"] = "yes"
	cm.Data["state.json"] = strings.Replace(cm.Data["state.json"], `"pipelines":{`, `"pipelines":{"8":{"s":"failed","d":"cf"},`, 1)
	if _, err := c.Client.CoreV1().ConfigMaps(watcherNS).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Projects["oil/refinery"].Pipelines[9] = &watch.Entry{Status: "pending", Done: "c"}
	if err := store.Save(ctx, s); err != nil {
		t.Fatalf("save over a newer copy: %v", err)
	}
	fresh, err := watch.OpenConfigMapStore(c.ServiceAccountKubeconfig(ctx, t, watcherNS, sa), watcherNS, state)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := fresh.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := merged.Projects["oil/refinery"].Pipelines; len(p) != 3 || p[8] == nil || p[9] == nil {
		t.Errorf("after a conflict the state holds %v, want pipelines 7, 8 and 9", p)
	}
	if cm, err := c.Client.CoreV1().ConfigMaps(watcherNS).Get(ctx, state, metav1.GetOptions{}); err != nil || cm.Labels["touched"] != "yes" {
		t.Errorf("the watcher's update dropped another writer's label: %v %v", cm.Labels, err)
	}
	// Re-applying the chart (helm upgrade) keeps what the watcher wrote.
	if err := a.apply(ctx, objs, false); err != nil {
		t.Fatal(err)
	}
	if cm, err := c.Client.CoreV1().ConfigMaps(watcherNS).Get(ctx, state, metav1.GetOptions{}); err != nil || cm.Data["state.json"] == "" {
		t.Errorf("state lost on re-apply: %v %v", cm.Data, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(watcherNS).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("get another ConfigMap as the ServiceAccount: %v, want Forbidden", err)
	}
}
