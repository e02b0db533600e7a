package chart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/registrytest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const (
	releaseNS = "derrick" // where the chart is installed
	appNS     = "oil"     // where the managed Deployment runs
)

// release is the chart installed on the test cluster.
type release struct {
	objs []*unstructured.Unstructured
	sa   string            // the bot's ServiceAccount
	env  map[string]string // the bot container's environment, secrets resolved
}

// createNamespace creates a namespace with labels unless it exists and
// waits for its default ServiceAccount.
func createNamespace(ctx context.Context, t testing.TB, c *clustertest.Cluster, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	c.SeedNamespace(ctx, t, name)
}

// restricted makes the API server's PodSecurity admission enforce the
// "restricted" profile: a pod of the chart that is not non-root, drops
// less than ALL or lacks the seccomp profile is refused.
var restricted = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
}

// e2eValues point the chart at the emulator and the registry.
func e2eValues(tg *telegramtest.Server, reg *registrytest.Registry, appNamespace string) map[string]any {
	return map[string]any{
		"telegram": map[string]any{"token": token, "apiURL": tg.URL()},
		"chatops":  map[string]any{"operators": []int64{operator}, "viewers": []int64{viewer}, "auditChatID": auditID},
		"app":      map[string]any{"namespace": appNamespace},
		"registry": map[string]any{
			"source": "oci", "image": reg.Host + "/oil/app",
			"username": reg.User, "password": reg.Password, "insecure": true,
		},
		// strangerReplyEvery: the stranger's every refusal is checked here,
		// not the once-per-10m rule (tested in bot/).
		"bot": map[string]any{"rolloutTimeout": "60s", "strangerReplyEvery": "1ns"},
	}
}

func saClient(ctx context.Context, t testing.TB, c *clustertest.Cluster, ns, name string) kubernetes.Interface {
	t.Helper()
	cfg := c.ServiceAccountConfig(ctx, t, ns, name)
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestChartOnRealCluster installs the chart on a real kube-apiserver and
// runs the bot as its ServiceAccount. The subtests build on each other.
func TestChartOnRealCluster(t *testing.T) {
	ctx := t.Context()
	c := clustertest.Shared(t)
	if _, err := helmPath(); err != nil {
		proctest.SkipOrFail(t, "%v", err)
	}
	c.SeedNodes(ctx, t)
	createNamespace(ctx, t, c, releaseNS, restricted)
	c.SeedApp(ctx, t, appNS, 2)
	createNamespace(ctx, t, c, "elsewhere", nil)

	reg := registrytest.Start(t)
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	pushed := map[string]string{}
	for i, tag := range []string{"0.10.3", "0.10.4", "main", "0.10.5"} {
		pushed[tag] = reg.Push(t, "oil/app", tag, base.Add(time.Duration(i)*24*time.Hour))
	}
	tg := bottest.Telegram(t, token)

	// Everything optional is on, so every template reaches the API server.
	values := e2eValues(tg, reg, appNS)
	values["service"] = map[string]any{"enabled": true}
	values["metrics"] = map[string]any{"serviceMonitor": map[string]any{"enabled": true}}
	values["networkPolicy"] = map[string]any{"enabled": true}
	valuesFile := writeValues(t, values)
	objs := render(t, releaseNS, "-f", valuesFile)
	rel := release{objs: objs, sa: deploymentOf(t, objs).Spec.Template.Spec.ServiceAccountName, env: envOf(t, objs, nil)}
	a := newApplier(t, c.Config)
	a.installServiceMonitorCRD(ctx, t)

	t.Run("server-side dry run", func(t *testing.T) {
		if err := a.apply(ctx, objs, true); err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if ok, err := a.exists(ctx, o); err != nil || ok {
				t.Errorf("%s %s after a dry run: exists %v, %v", o.GetKind(), o.GetName(), ok, err)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("apply", func(t *testing.T) {
		if err := a.apply(ctx, objs, false); err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if ok, err := a.exists(ctx, o); err != nil || !ok {
				t.Errorf("%s %s after apply: exists %v, %v", o.GetKind(), o.GetName(), ok, err)
			}
		}
		// The bot's pod passes PodSecurity "restricted" and gets created
		// (kwok plays it; nothing pulls the image).
		d := deploymentOf(t, objs)
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := c.Client.AppsV1().Deployments(releaseNS).Get(ctx, d.Name, metav1.GetOptions{})
			return err == nil && got.Status.ReadyReplicas == 1, nil
		})
		if err != nil {
			events, _ := c.Client.CoreV1().Events(releaseNS).List(ctx, metav1.ListOptions{})
			var msgs []string
			for _, e := range events.Items {
				msgs = append(msgs, e.Reason+": "+e.Message)
			}
			t.Fatalf("the bot's Deployment did not get a ready pod: %v\nevents:\n%s", err, strings.Join(msgs, "\n"))
		}
	})
	if t.Failed() {
		return
	}

	t.Run("NOTES", func(t *testing.T) {
		out, stderr, err := helm(t, "install", "notes", chartDir, "-n", "notes", "-f", valuesFile,
			"--dry-run=client", "--kubeconfig", c.Kubeconfig)
		if err != nil {
			t.Fatalf("helm install --dry-run: %v\n%s", err, stderr)
		}
		notes := out[strings.Index(out, "NOTES:"):]
		for _, want := range []string{"Ваш Telegram ID: 123456789", "/start", "/help", "chatops.operators", "logs deployment/notes-derrick-bot"} {
			if !strings.Contains(notes, want) {
				t.Errorf("NOTES lack %q:\n%s", want, notes)
			}
		}
	})

	t.Run("access matrix", func(t *testing.T) { testAccessMatrix(ctx, t, c, rel.sa) })
	t.Run("node patch policy", func(t *testing.T) { testNodePatchPolicy(ctx, t, c, rel.sa) })
	t.Run("deployment patch policy", func(t *testing.T) { testDeploymentPatchPolicy(ctx, t, c, rel.sa) })

	// The bot binary with the chart's environment, authenticated with a
	// token of the chart's ServiceAccount instead of the pod's mounted one.
	env := rel.env
	env["KUBECONFIG"] = c.ServiceAccountKubeconfig(ctx, t, releaseNS, rel.sa)
	env["BOT_HTTP_ADDR"] = "127.0.0.1:0"
	w := &chat{tg: tg, bot: startBot(t, env)}

	t.Run("every command", func(t *testing.T) { testEveryCommand(ctx, t, c, w, reg.Host+"/oil/app", pushed["0.10.5"]) })
	t.Run("get_logs of a look-alike pod", func(t *testing.T) { testLogsOfLookAlike(ctx, t, c, w) })
	t.Run("apiserver outage", func(t *testing.T) { testAPIServerOutage(ctx, t, c, w) })
}

// access is one question to the authorizer.
type access struct {
	verb, group, resource, sub, ns, name string
}

func (a access) String() string {
	r := a.resource
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.group != "" {
		r += "." + a.group
	}
	return fmt.Sprintf("%s %s %s/%s", a.verb, r, a.ns, a.name)
}

// checkAccess asks the authorizer whether cs may do a, as `kubectl auth can-i` does.
func checkAccess(ctx context.Context, t *testing.T, cs kubernetes.Interface, a access, want bool) {
	t.Helper()
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns, Name: a.name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if r.Status.Allowed != want {
		t.Errorf("%s: allowed %v, want %v (%s)", a, r.Status.Allowed, want, r.Status.Reason)
	}
}

// rulesOf lists what the authorizer allows cs in namespace ns, sorted, less
// what every authenticated user may do (discovery, self reviews).
func rulesOf(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) []string {
	t.Helper()
	rr, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rr.Status.ResourceRules {
		if slices.Contains(r.APIGroups, "authorization.k8s.io") || slices.Contains(r.APIGroups, "authentication.k8s.io") {
			continue
		}
		got = append(got, fmt.Sprintf("%v %v %v %v", r.APIGroups, r.Resources, r.ResourceNames, r.Verbs))
	}
	slices.Sort(got)
	return got
}

func testAccessMatrix(ctx context.Context, t *testing.T, c *clustertest.Cluster, sa string) {
	const app = clustertest.AppName
	allowed := []access{
		{"list", "", "nodes", "", "", ""},
		{"get", "", "nodes", "", "", "node-ready"},
		{"patch", "", "nodes", "", "", "node-ready"},
		{"get", "apps", "deployments", "", appNS, app},
		{"patch", "apps", "deployments", "", appNS, app},
		{"list", "", "pods", "", appNS, ""},
		{"get", "", "pods", "", appNS, "any-pod"},
		{"get", "", "pods", "log", appNS, "any-pod"},
		{"get", "apps", "replicasets", "", appNS, "any-rs"},
		{"list", "apps", "replicasets", "", appNS, ""},
	}
	denied := []access{
		// secrets, anywhere, the bot's own token included
		{"get", "", "secrets", "", releaseNS, "oil-bot-derrick-bot"},
		{"list", "", "secrets", "", releaseNS, ""},
		{"get", "", "secrets", "", appNS, "db-password"},
		{"list", "", "secrets", "", appNS, ""},
		{"list", "", "secrets", "", "", ""},
		{"get", "", "configmaps", "", appNS, "settings"},
		// other namespaces
		{"get", "apps", "deployments", "", "elsewhere", app},
		{"patch", "apps", "deployments", "", "elsewhere", app},
		{"patch", "apps", "deployments", "", "kube-system", app},
		{"list", "", "pods", "", "elsewhere", ""},
		{"list", "", "pods", "", "kube-system", ""},
		{"get", "", "pods", "log", "kube-system", "kube-proxy"},
		{"list", "", "pods", "", "", ""},
		{"get", "apps", "deployments", "", releaseNS, "oil-bot-derrick-bot"},
		{"patch", "apps", "deployments", "", releaseNS, "oil-bot-derrick-bot"},
		// deleting anything
		{"delete", "", "nodes", "", "", "node-ready"},
		{"deletecollection", "", "nodes", "", "", ""},
		{"delete", "apps", "deployments", "", appNS, app},
		{"delete", "", "pods", "", appNS, "any-pod"},
		{"deletecollection", "", "pods", "", appNS, ""},
		{"delete", "", "namespaces", "", "", appNS},
		// writing anything but nodes and the app Deployment
		{"patch", "apps", "deployments", "", appNS, "other-app"},
		{"get", "apps", "deployments", "", appNS, "other-app"},
		{"list", "apps", "deployments", "", appNS, ""},
		{"watch", "apps", "deployments", "", appNS, ""},
		{"update", "apps", "deployments", "", appNS, app},
		{"create", "apps", "deployments", "", appNS, ""},
		{"patch", "apps", "deployments", "scale", appNS, app},
		{"update", "apps", "deployments", "scale", appNS, app},
		{"patch", "apps", "replicasets", "", appNS, "x"},
		{"watch", "apps", "replicasets", "", appNS, ""},
		{"get", "apps", "replicasets", "", "elsewhere", "x"},
		{"get", "apps", "replicasets", "", releaseNS, "x"},
		{"list", "apps", "replicasets", "", "elsewhere", ""},
		{"list", "apps", "replicasets", "", "", ""},
		{"create", "", "pods", "", appNS, ""},
		{"patch", "", "pods", "", appNS, "any-pod"},
		{"create", "", "pods", "exec", appNS, "any-pod"},
		{"get", "", "pods", "exec", appNS, "any-pod"},
		{"create", "", "pods", "portforward", appNS, "any-pod"},
		{"create", "", "pods", "eviction", appNS, "any-pod"},
		{"create", "", "nodes", "", "", ""},
		{"update", "", "nodes", "", "", "node-ready"},
		{"patch", "", "nodes", "status", "", "node-ready"},
		{"get", "", "nodes", "proxy", "", "node-ready"},
		{"watch", "", "nodes", "", "", ""},
		{"patch", "", "namespaces", "", "", appNS},
		{"create", "", "serviceaccounts", "token", releaseNS, sa},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", appNS, ""},
		{"patch", "rbac.authorization.k8s.io", "roles", "", appNS, "oil-bot-derrick-bot"},
		{"bind", "rbac.authorization.k8s.io", "clusterroles", "", "", "cluster-admin"},
		{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", "", ""},
		{"impersonate", "", "users", "", "", "admin"},
		{"impersonate", "", "serviceaccounts", "", releaseNS, "default"},
		{"patch", "admissionregistration.k8s.io", "validatingadmissionpolicies", "", "", ""},
	}
	cs := saClient(ctx, t, c, releaseNS, sa)
	check := func(a access, want bool) { t.Helper(); checkAccess(ctx, t, cs, a, want) }
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}

	// Nothing more than the chart's rules, in any namespace: what the
	// authorizer lists for the ServiceAccount, less what every
	// authenticated user may do (discovery, self reviews).
	for _, ns := range []string{appNS, releaseNS, "kube-system"} {
		got := rulesOf(ctx, t, cs, ns)
		want := []string{"[] [nodes] [] [get list patch]"}
		if ns == appNS {
			want = append(want, "[] [pods/log] [] [get]", "[] [pods] [] [get list]",
				"[apps] [deployments] ["+clustertest.AppName+"] [get patch]", "[apps] [replicasets] [] [get list]")
			slices.Sort(want)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rules of the ServiceAccount in namespace %s (-want +got):\n%s", ns, diff)
		}
	}

	// And for real: reading the bot's own token Secret is refused.
	if _, err := cs.CoreV1().Secrets(releaseNS).Get(ctx, "oil-bot-derrick-bot", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("get the bot's Secret as its ServiceAccount: %v, want Forbidden", err)
	}
	if err := cs.CoreV1().Pods(appNS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete the app's pods as the bot's ServiceAccount: %v, want Forbidden", err)
	}
}

// testNodePatchPolicy: RBAC allows patching nodes; the chart's admission
// policy lets the ServiceAccount change spec.unschedulable only.
func testNodePatchPolicy(ctx context.Context, t *testing.T, c *clustertest.Cluster, sa string) {
	cs := saClient(ctx, t, c, releaseNS, sa)
	nodes := cs.CoreV1().Nodes()
	const node = clustertest.NodeReady
	label := []byte(`{"metadata":{"labels":{"derrick.example.com/pwned":"true"}}}`)
	// The policy takes effect once the apiserver has loaded it: wait
	// with a dry run, which goes through admission but stores nothing.
	var err error
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = nodes.Patch(ctx, node, types.StrategicMergePatchType, label, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, nil
	})
	const msg = "the derrick bot may change only spec.unschedulable of a node"
	for name, patch := range map[string]string{
		"label":       string(label),
		"annotation":  `{"metadata":{"annotations":{"x":"y"}}}`,
		"taint":       `{"spec":{"taints":[{"key":"evil","effect":"NoSchedule"}]}}`,
		"provider id": `{"spec":{"providerID":"kwok://elsewhere"}}`,
	} {
		_, err := nodes.Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("patch of a node's %s as the bot: %v, want a refusal %q", name, err, msg)
		}
	}
	for _, patch := range []string{`{"spec":{"unschedulable":true}}`, `{"spec":{"unschedulable":null}}`} {
		if _, err := nodes.Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Errorf("cordon/uncordon patch %s as the bot: %v", patch, err)
		}
	}
	// Others (the admin here) are not affected.
	if _, err := c.Client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, label, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the policy also refuses the admin: %v", err)
	}
}

// digest is the one of 0.10.5, which /deploy pins.
func testEveryCommand(ctx context.Context, t *testing.T, c *clustertest.Cluster, w *chat, repo, digest string) {
	kube := c.Client
	check := func(t *testing.T, user int64, cmd string, want ...string) string {
		t.Helper()
		got := bottest.Plain(w.say(t, user, cmd, nil))
		for _, s := range want {
			if !strings.Contains(got, s) {
				t.Errorf("%s: answer lacks %q:\n%s", cmd, s, got)
			}
		}
		return got
	}
	t.Run("start and help", func(t *testing.T) {
		check(t, operator, "/start", "Ваша роль: оператор", "/deploy")
		check(t, viewer, "/help", "наблюдатель")
		check(t, stranger, "/start", "Ваш Telegram ID: 3003")
		check(t, stranger, "/get_nodes", "Доступ запрещён. Ваш Telegram ID: 3003")
		check(t, viewer, "/cordon node-ready", "только операторам")
	})
	t.Run("get_nodes", func(t *testing.T) {
		bottest.CheckSeededNodes(t, check(t, viewer, "/get_nodes"))
	})
	t.Run("cordon and uncordon", func(t *testing.T) {
		check(t, operator, "/cordon node-ready", "выведена")
		if n, _ := kube.CoreV1().Nodes().Get(ctx, "node-ready", metav1.GetOptions{}); !n.Spec.Unschedulable {
			t.Errorf("node-ready is schedulable after /cordon")
		}
		check(t, operator, "/uncordon node-ready", "снова доступна")
		if n, _ := kube.CoreV1().Nodes().Get(ctx, "node-ready", metav1.GetOptions{}); n.Spec.Unschedulable {
			t.Errorf("node-ready is cordoned after /uncordon")
		}
		check(t, operator, "/cordon node-nowhere", "нет в кластере")
		// The audit chat heard of both changes.
		audit := bottest.Plain(w.tg.Messages(auditID))
		if strings.Count(audit, "node-ready") < 2 {
			t.Errorf("audit chat %d:\n%s", auditID, audit)
		}
	})
	t.Run("get_pods and get_logs", func(t *testing.T) {
		pods, err := kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + clustertest.AppName})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("app pods: %v", err)
		}
		got := check(t, viewer, "/get_pods")
		for _, p := range pods.Items {
			if !strings.Contains(got, p.Name) {
				t.Errorf("/get_pods lacks %s:\n%s", p.Name, got)
			}
		}
		all := clustertest.AppLogLines()
		check(t, viewer, "/get_logs "+pods.Items[0].Name, all[len(all)-1], all[len(all)-30])
		check(t, viewer, "/get_logs kube-apiserver-0", "/get_pods")
	})
	t.Run("showcontainers", func(t *testing.T) {
		got := check(t, viewer, "/showcontainers")
		if !regexp.MustCompile(`(?s)0\.10\.5.*main.*0\.10\.4.*0\.10\.3`).MatchString(got) {
			t.Errorf("/showcontainers not newest first:\n%s", got)
		}
	})
	t.Run("set_replicas", func(t *testing.T) {
		check(t, operator, "/set_replicas 3", "2 → 3")
		if d, _ := kube.AppsV1().Deployments(appNS).Get(ctx, clustertest.AppName, metav1.GetOptions{}); *d.Spec.Replicas != 3 {
			t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
		}
		check(t, operator, "/set_replicas 11", "от 0 до 10")
		check(t, operator, "/set_replicas 2", "3 → 2")
	})
	t.Run("deploy", func(t *testing.T) {
		check(t, operator, "/deploy 9.9.9", "нет в реестре")
		msgs := w.say(t, operator, "/deploy 0.10.5", func(last telegramtest.Message) bool {
			return strings.Contains(last.Plain, "развёрнута") || strings.Contains(last.Plain, "не ")
		})
		if want, last := "✅ 0.10.5 ("+digest[:19]+") развёрнута", msgs[len(msgs)-1]; !strings.HasPrefix(last.Plain, want) {
			t.Fatalf("/deploy ended with %q, want %q… (history %q)", last.Plain, want, last.History)
		}
		d, _ := kube.AppsV1().Deployments(appNS).Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if img, want := d.Spec.Template.Spec.Containers[0].Image, repo+":0.10.5@"+digest; img != want {
			t.Errorf("image %q, want %q", img, want)
		}
	})
	w.bot.Running(t)
	if logs := w.bot.Logs(); strings.Contains(logs, "forbidden") || strings.Contains(logs, "Forbidden") {
		t.Errorf("the bot met a permission error with the chart's RBAC:\n%s", logs)
	}
}

// testAPIServerOutage kills kube-apiserver while an operator uses the bot.
func testAPIServerOutage(ctx context.Context, t *testing.T, c *clustertest.Cluster, w *chat) {
	base := "http://" + w.bot.HTTPAddr()
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz = %d before the outage", got)
	}

	down := time.Now()
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	up := false
	t.Cleanup(func() {
		if !up {
			if err := c.StartAPIServer(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	for _, cmd := range []string{"/get_nodes", "/cordon node-tainted", "/get_pods", "/set_replicas 1"} {
		start := time.Now()
		got := bottest.Plain(w.say(t, operator, cmd, nil))
		name := strings.Fields(cmd)[0][1:]
		if !strings.Contains(got, "Не удалось выполнить /"+name) || !strings.Contains(got, "Kubernetes API server is unreachable") {
			t.Errorf("%s while the apiserver is down: %q, want an error naming Kubernetes", cmd, got)
		}
		t.Logf("%s answered in %v: %q", cmd, time.Since(start).Round(time.Millisecond), got)
		time.Sleep(time.Second) // an operator trying again and again, for a few seconds
	}
	if got := status("/readyz"); got == http.StatusOK {
		t.Errorf("/readyz = 200 while the apiserver is down")
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d while the apiserver is down: the pod would be restarted for nothing", got)
	}
	w.bot.Running(t)

	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	up = true
	t.Logf("apiserver down for %v", time.Since(down).Round(time.Millisecond))

	// Back: the same bot process answers again.
	if got := bottest.Plain(w.say(t, operator, "/get_nodes", nil)); !strings.Contains(got, "node-ready") {
		t.Errorf("/get_nodes after the restart: %s", got)
	}
	if got := bottest.Plain(w.say(t, operator, "/cordon node-tainted", nil)); !strings.Contains(got, "выведена") {
		t.Errorf("/cordon after the restart: %s", got)
	}
	if got := bottest.Plain(w.say(t, operator, "/uncordon node-tainted", nil)); !strings.Contains(got, "снова доступна") {
		t.Errorf("/uncordon after the restart: %s", got)
	}
	if d, err := c.Client.AppsV1().Deployments(appNS).Get(ctx, clustertest.AppName, metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("the app Deployment after the outage: %v (replicas must still be 2: /set_replicas failed)", err)
	}
	if got := status("/readyz"); got != http.StatusOK {
		t.Errorf("/readyz = %d after the apiserver is back", got)
	}
	w.bot.Running(t)
}
