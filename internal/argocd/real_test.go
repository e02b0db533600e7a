package argocd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/argocdtest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

const newImage = "registry.example.com/oil/app:0.10.5"

// TestRealArgoCD drives the Application of a real Argo CD (see argocdtest)
// and checks the Deployment and pods it manages in the real cluster.
func TestRealArgoCD(t *testing.T) {
	c := clustertest.Shared(t)
	argo := argocdtest.Start(t.Context(), t, c)
	t.Logf("Argo CD ready in %s (components up after %s)", argo.ReadyAfter.Round(time.Millisecond),
		argo.ComponentsReadyAfter.Round(time.Millisecond))
	newClient := func(t *testing.T, mod func(*argocd.Config)) *argocd.Client {
		cfg := argocd.Config{Server: argo.ServerURL, Token: argo.Token, App: argo.AppName, PollInterval: 200 * time.Millisecond}
		if mod != nil {
			mod(&cfg)
		}
		client, err := argocd.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return client
	}
	client := newClient(t, nil)

	t.Run("initial state", func(t *testing.T) {
		a, err := client.Application(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !a.Settled() || a.SourceType != argocd.SourceKustomize || !a.RunsImage(argocdtest.AppImage) || len(a.KustomizeImages) != 0 {
			t.Fatalf("Application() = %v, source %s, images %v, overrides %v; want settled Kustomize on %s without overrides",
				a, a.SourceType, a.Images, a.KustomizeImages, argocdtest.AppImage)
		}
	})

	t.Run("promote", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		if err := client.SetImage(ctx, newImage); err != nil {
			t.Fatal(err)
		}
		if err := client.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		a, err := client.WaitHealthy(ctx, newImage, func(a argocd.App) {
			t.Logf("%6s %s; images %v", time.Since(start).Round(time.Millisecond), a, a.Images)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SetImage to Healthy on %s: %s", newImage, time.Since(start).Round(time.Millisecond))
		if !a.Settled() || !a.RunsImage(newImage) {
			t.Errorf("WaitHealthy() = %v, images %v", a, a.Images)
		}
		if want := []string{newImage}; fmt.Sprint(a.KustomizeImages) != fmt.Sprint(want) {
			t.Errorf("kustomize images = %v, want %v", a.KustomizeImages, want)
		}
		// status.history records the sync with the override; the first
		// syncs had none, so there is no image to roll back to yet.
		repo := newImage[:strings.LastIndex(newImage, ":")]
		current, history, err := client.History(ctx, repo)
		if err != nil || current != newImage || len(history) == 0 || history[0].Image != newImage || history[0].DeployedAt.IsZero() {
			t.Errorf("History(%s) = %q, %+v, %v; want the newest entry on %s", repo, current, history, err, newImage)
		}
		if _, prev, ok, err := client.PreviousImage(ctx, repo); err != nil || ok {
			t.Errorf("PreviousImage = %+v, %v, %v; want none (the earlier syncs set no image)", prev, ok, err)
		}
		deploy := c.WaitForApp(ctx, t, argo.Namespace)
		if got := deploy.Spec.Template.Spec.Containers[0].Image; got != newImage {
			t.Errorf("deployment image = %s, want %s", got, newImage)
		}
		for _, p := range runningPods(t, c, argo.Namespace) {
			if got := p.Spec.Containers[0].Image; got != newImage {
				t.Errorf("pod %s runs %s, want %s", p.Name, got, newImage)
			}
		}
	})

	t.Run("replicas", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		if err := client.SetReplicas(ctx, argo.AppName, 3); err != nil {
			t.Fatal(err)
		}
		if err := client.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		a, err := client.WaitHealthy(ctx, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SetReplicas to Healthy: %s", time.Since(start).Round(time.Millisecond))
		if n, _ := replicasOf(a, argo.AppName); n != 3 {
			t.Errorf("replicas override = %d, want 3", n)
		}
		// selfHeal must now defend 3, not the manifest's 2: a direct scale
		// back to 2 is reverted (two more generations), and 3 still holds
		// once Argo CD has compared the application after the scale and
		// carried out what it decided.
		before := checkReplicas(ctx, t, c, argo.Namespace, 3).Generation
		scaled := time.Now()
		c.ScaleApp(ctx, t, argo.Namespace, argocdtest.AppReplicas)
		argo.WaitReconciled(ctx, t, scaled)
		if after := checkReplicas(ctx, t, c, argo.Namespace, 3).Generation; after < before+2 {
			t.Errorf("deployment generation %d -> %d: the scale to %d and its revert did not both happen",
				before, after, argocdtest.AppReplicas)
		}
		// The revert rolls the pods: Healthy again once they are ready.
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			a, err = client.Application(ctx)
			return err == nil && a.Settled(), nil
		})
		if err != nil {
			t.Errorf("after the revert: %v, %v; want settled within 30s", a, err)
		}
	})

	t.Run("unknown app", func(t *testing.T) {
		// Without a project Argo CD does not say whether the app exists.
		_, err := newClient(t, func(c *argocd.Config) { c.App = "no-such-app" }).Application(t.Context())
		if !errors.Is(err, argocd.ErrForbidden) || !strings.Contains(err.Error(), `application "no-such-app"`) ||
			!strings.Contains(err.Error(), "does not exist") {
			t.Errorf("Application() = %v, want 403 naming the app and saying it may not exist", err)
		}
		// With one it does.
		err = newClient(t, func(c *argocd.Config) { c.App, c.Project = "no-such-app", argo.Project }).SetImage(t.Context(), newImage)
		if !errors.Is(err, argocd.ErrNotFound) || !strings.Contains(err.Error(), `application "no-such-app" not found`) {
			t.Errorf("SetImage() = %v, want 404 application not found", err)
		}
		t.Logf("unknown app: %v", err)
	})

	t.Run("wrong token", func(t *testing.T) {
		wrong := argo.Token[:len(argo.Token)-4] + "AAAA" // a bad signature
		c := newClient(t, func(c *argocd.Config) { c.Token = wrong })
		_, err := c.Application(t.Context())
		if !errors.Is(err, argocd.ErrUnauthorized) || !strings.Contains(err.Error(), "rejected the token") {
			t.Errorf("Application() = %v, want 401 token rejected", err)
		}
		for _, tok := range []string{wrong, argo.Token} {
			if strings.Contains(fmt.Sprint(err), tok) {
				t.Errorf("error prints the token: %v", err)
			}
		}
		if err := c.Sync(t.Context()); !errors.Is(err, argocd.ErrUnauthorized) {
			t.Errorf("Sync() = %v, want 401", err)
		}
		t.Logf("wrong token: %v", err)
	})

	rss, err := argo.RSS()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range rss {
		t.Logf("RSS %-30s %4d MB", p.Name, p.Bytes>>20)
		total += p.Bytes
	}
	t.Logf("RSS total of the Argo CD stack: %d MB", total>>20)
}

// runningPods returns the app's pods that are not being deleted.
func runningPods(t *testing.T, c *clustertest.Cluster, namespace string) []corev1.Pod {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(argocdtest.AppLabels).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// checkReplicas checks that the Deployment wants and runs want pods, and
// returns it.
func checkReplicas(ctx context.Context, t *testing.T, c *clustertest.Cluster, namespace string, want int32) *appsv1.Deployment {
	t.Helper()
	deploy := c.WaitForApp(ctx, t, namespace)
	if got := *deploy.Spec.Replicas; got != want {
		t.Errorf("deployment replicas = %d, want %d", got, want)
	}
	if got := len(runningPods(t, c, namespace)); got != int(want) {
		t.Errorf("%d pods running, want %d", got, want)
	}
	return deploy
}
