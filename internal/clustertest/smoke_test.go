package clustertest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// report prints a measurement as a plain line under -v, else via t.Log.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	if testing.Verbose() {
		fmt.Printf("clustertest: "+format+"\n", args...)
		return
	}
	t.Logf(format, args...)
}

func TestSmoke(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := t.Context()
	report(t, "start-to-ready %v", c.ReadyAfter.Round(time.Millisecond))
	c.SeedNodes(ctx, t)
	const ns = "smoke"
	c.SeedApp(ctx, t, ns, 2)
	t.Cleanup(func() {
		// Leave the shared cluster as found; deletion finishes in the background.
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	t.Run("nodes keep ExternalIP and show their state", func(t *testing.T) {
		type state struct {
			ExternalIP    string
			Ready         corev1.ConditionStatus
			Unschedulable bool
			Dedicated     bool
		}
		want := map[string]state{
			clustertest.NodeReady:    {ExternalIP: "203.0.113.10", Ready: corev1.ConditionTrue},
			clustertest.NodeCordoned: {ExternalIP: "203.0.113.11", Ready: corev1.ConditionTrue, Unschedulable: true},
			clustertest.NodeTainted:  {ExternalIP: "203.0.113.12", Ready: corev1.ConditionTrue, Dedicated: true},
			clustertest.NodeNotReady: {ExternalIP: "203.0.113.13", Ready: corev1.ConditionFalse},
		}
		got := map[string]state{}
		for name := range want {
			node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var s state
			for _, a := range node.Status.Addresses {
				if a.Type == corev1.NodeExternalIP {
					s.ExternalIP = a.Address
				}
			}
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					s.Ready = cond.Status
				}
			}
			s.Unschedulable = node.Spec.Unschedulable
			for _, taint := range node.Spec.Taints {
				if taint.Key == clustertest.TaintDedicated.Key && taint.Effect == corev1.TaintEffectNoSchedule {
					s.Dedicated = true
				}
			}
			got[name] = s
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})

	t.Run("app pods run only on the schedulable node", func(t *testing.T) {
		pods := appPods(ctx, t, c.Client, ns)
		if len(pods) != 2 {
			t.Fatalf("got %d pods, want 2", len(pods))
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != clustertest.NodeReady {
				t.Errorf("pod %s: phase %s on node %q, want Running on %q", p.Name, p.Status.Phase, p.Spec.NodeName, clustertest.NodeReady)
			}
		}
	})

	t.Run("pod logs honour tailLines", func(t *testing.T) {
		pod := appPods(ctx, t, c.Client, ns)[0]
		for _, tc := range []struct {
			name      string
			tailLines *int64
			want      []string
		}{
			{"tail 30", ptr.To[int64](30), clustertest.AppLogLines()[70:]},
			{"whole log", nil, clustertest.AppLogLines()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stream, err := c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{
					Container: clustertest.AppContainer, TailLines: tc.tailLines,
				}).Stream(ctx)
				if err != nil {
					t.Fatalf("get logs of %s: %v", pod.Name, err)
				}
				defer stream.Close()
				data, err := io.ReadAll(stream)
				if err != nil {
					t.Fatal(err)
				}
				got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("log lines (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("cordoned node gets no new pods", func(t *testing.T) {
		const spare = "node-spare"
		c.SeedNodes(ctx, t, clustertest.NodeSpec{Name: spare, ExternalIP: "203.0.113.20"})
		t.Cleanup(func() {
			_ = c.Client.CoreV1().Nodes().Delete(context.Background(), spare, metav1.DeleteOptions{})
		})
		// Uncordoned, the spare node takes new pods: the scheduler spreads them.
		c.ScaleApp(ctx, t, ns, 4)
		if n := countOn(appPods(ctx, t, c.Client, ns), spare); n == 0 {
			t.Fatalf("no pod on uncordoned %s; the check below would prove nothing", spare)
		}

		patch := []byte(`{"spec":{"unschedulable":true}}`)
		node, err := c.Client.CoreV1().Nodes().Patch(ctx, spare, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("cordon %s: %v", spare, err)
		}
		if !node.Spec.Unschedulable {
			t.Fatalf("after cordon patch %s has spec.unschedulable=false", spare)
		}
		before := map[string]bool{}
		for _, p := range appPods(ctx, t, c.Client, ns) {
			before[p.Name] = true
		}
		c.ScaleApp(ctx, t, ns, 8)
		var newPods int
		for _, p := range appPods(ctx, t, c.Client, ns) {
			if before[p.Name] {
				continue
			}
			newPods++
			if p.Spec.NodeName != clustertest.NodeReady {
				t.Errorf("new pod %s scheduled on %q, want %q", p.Name, p.Spec.NodeName, clustertest.NodeReady)
			}
		}
		if newPods != 4 {
			t.Errorf("got %d new pods, want 4", newPods)
		}
	})

	t.Run("service account can do what its role allows", func(t *testing.T) {
		const sa = "derrick"
		if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: sa},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}},
			},
		}
		if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: sa},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		saClient, err := kubernetes.NewForConfig(c.ServiceAccountConfig(ctx, t, ns, sa))
		if err != nil {
			t.Fatal(err)
		}
		review, err := saClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":"+sa; got != want {
			t.Errorf("token authenticates as %q, want %q", got, want)
		}

		type check struct {
			ns, verb, group, resource, sub string
		}
		matrix := map[check]bool{
			{ns, "list", "", "pods", ""}:                           true,
			{ns, "get", "", "pods", "log"}:                         true,
			{ns, "patch", "apps", "deployments", ""}:               true,
			{ns, "delete", "", "pods", ""}:                         false,
			{ns, "create", "", "pods", "exec"}:                     false,
			{ns, "delete", "apps", "deployments", ""}:              false,
			{ns, "get", "", "secrets", ""}:                         false,
			{"default", "list", "", "pods", ""}:                    false,
			{"", "list", "", "nodes", ""}:                          false,
			{"", "patch", "", "nodes", ""}:                         false,
			{ns, "update", "apps", "deployments", "scale"}:         false,
			{ns, "list", "rbac.authorization.k8s.io", "roles", ""}: false,
		}
		can := func(ctx context.Context, ch check) (bool, error) {
			r, err := saClient.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ch.ns, Verb: ch.verb, Group: ch.group, Resource: ch.resource, Subresource: ch.sub,
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			return r.Status.Allowed, nil
		}
		// The RBAC authorizer sees the new binding through an informer.
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			return can(ctx, check{ns, "list", "", "pods", ""})
		}); err != nil {
			t.Fatalf("role binding never took effect: %v", err)
		}
		got := map[check]bool{}
		for ch := range matrix {
			allowed, err := can(ctx, ch)
			if err != nil {
				t.Fatal(err)
			}
			got[ch] = allowed
		}
		if diff := cmp.Diff(matrix, got); diff != "" {
			t.Errorf("access matrix (-want +got):\n%s", diff)
		}

		// Real requests agree with the reviews.
		if _, err := saClient.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list pods as %s: %v", sa, err)
		}
		if _, err := saClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list nodes as %s: got %v, want Forbidden", sa, err)
		}

		// Impersonating the service account gives the same answers.
		imp, err := kubernetes.NewForConfig(c.ImpersonatedConfig("system:serviceaccount:"+ns+":"+sa,
			"system:serviceaccounts", "system:serviceaccounts:"+ns, "system:authenticated"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := imp.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list pods impersonating %s: %v", sa, err)
		}
		if _, err := imp.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets impersonating %s: got %v, want Forbidden", sa, err)
		}
	})

	t.Run("kubeconfig files work", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, wantNamespace string
		}{
			{"admin", c.Kubeconfig, ""},
			{"service account", c.ServiceAccountKubeconfig(ctx, t, ns, "default"), ns},
		} {
			t.Run(tc.name, func(t *testing.T) {
				loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
					&clientcmd.ClientConfigLoadingRules{ExplicitPath: tc.path}, nil)
				gotNS, _, err := loader.Namespace()
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantNamespace != "" && gotNS != tc.wantNamespace {
					t.Errorf("namespace %q, want %q", gotNS, tc.wantNamespace)
				}
				cfg, err := loader.ClientConfig()
				if err != nil {
					t.Fatal(err)
				}
				client, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					t.Fatal(err)
				}
				// Every authenticated user may discover the server version.
				v, err := client.Discovery().ServerVersion()
				if err != nil {
					t.Fatal(err)
				}
				if want := "v" + clustertest.KubeVersion; v.GitVersion != want {
					t.Errorf("server version %q, want %q", v.GitVersion, want)
				}
			})
		}
	})

	rss, err := c.RSS()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	parts := make([]string, 0, len(rss))
	for _, p := range rss {
		total += p.Bytes
		parts = append(parts, fmt.Sprintf("%s %d MB", p.Name, p.Bytes>>20))
	}
	report(t, "RSS %d MB (%s)", total>>20, strings.Join(parts, ", "))
}

// appPods lists the live pods of the app, sorted by name.
func appPods(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(clustertest.AppSelector).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func countOn(pods []corev1.Pod, node string) int {
	var n int
	for _, p := range pods {
		if p.Spec.NodeName == node {
			n++
		}
	}
	return n
}
