package cluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

func TestDeployment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		container string
		edit      func(*appsv1.Deployment)
		want      cluster.Deployment
	}{
		{"plain", "", nil, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app",
			Image: "registry.example.com/oil/app:1.0", Replicas: 2}},
		{"named container", "sidecar", nil, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "sidecar",
			Image: "registry.example.com/proxy:2.0", Replicas: 2}},
		{"replicas unset means 1", "", func(d *appsv1.Deployment) { d.Spec.Replicas = nil },
			cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 1}},
		{"Argo CD tracking annotation", "", func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "oil-app:apps/Deployment:prod/oil-refinery-application"}
			d.Labels = map[string]string{"app.kubernetes.io/instance": "helm-release"}
		}, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 2,
			ArgoApp: "oil-app", ArgoTrackedBy: "annotation argocd.argoproj.io/tracking-id"}},
		{"Argo CD instance label", "", func(d *appsv1.Deployment) {
			d.Labels = map[string]string{"argocd.argoproj.io/instance": "oil-app", "app.kubernetes.io/instance": "helm-release"}
		}, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 2,
			ArgoApp: "oil-app", ArgoTrackedBy: "label argocd.argoproj.io/instance"}},
		{"label tracking", "", func(d *appsv1.Deployment) {
			d.Labels = map[string]string{"app.kubernetes.io/instance": "oil-app"}
		}, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 2,
			ArgoApp: "oil-app", ArgoTrackedBy: "label app.kubernetes.io/instance"}},
		{"a release installed by helm is not Argo CD's", "", func(d *appsv1.Deployment) {
			d.Labels = map[string]string{"app.kubernetes.io/instance": "oil", "app.kubernetes.io/managed-by": "Helm"}
			d.Annotations = map[string]string{"meta.helm.sh/release-name": "oil"}
		}, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 2}},
		{"labels on the pod template do not count", "", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels["app.kubernetes.io/instance"] = "oil-app"
		}, cluster.Deployment{Name: testDeploy, Namespace: testNS, Container: "app", Image: "registry.example.com/oil/app:1.0", Replicas: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*appsv1.Deployment)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			tg := target
			tg.Container = tc.container
			got, err := cluster.New(fake.NewClientset(deployment(edits...)), tg).Deployment(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Deployment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeploymentErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		target   cluster.Target
		wantIs   error
		wantText string
	}{
		{"missing", cluster.Target{Namespace: "staging", Deployment: testDeploy}, cluster.ErrDeploymentNotFound,
			"deployment staging/oil-refinery-application: deployment not found"},
		{"missing container", cluster.Target{Namespace: testNS, Deployment: testDeploy, Container: "web"}, cluster.ErrContainerNotFound,
			`deployment prod/oil-refinery-application: container not found: no container "web" (it has app, sidecar)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cluster.New(fake.NewClientset(deployment()), tc.target).Deployment(t.Context())
			if !errors.Is(err, tc.wantIs) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("got %v, want an error wrapping %v containing %q", err, tc.wantIs, tc.wantText)
			}
		})
	}
}

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		name       string
		replicas   int32
		wantPrev   int32
		wantWrites []string
	}{
		{"up", 3, 2, []string{"patch deployments"}},
		{"to zero", 0, 2, []string{"patch deployments"}},
		{"unchanged", 2, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment())
			prev, err := cluster.New(cs, target).Scale(t.Context(), tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			if prev != tc.wantPrev {
				t.Errorf("prev = %d, want %d", prev, tc.wantPrev)
			}
			if diff := cmp.Diff(tc.wantWrites, writes(cs)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			d, err := cs.AppsV1().Deployments(testNS).Get(t.Context(), testDeploy, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if *d.Spec.Replicas != tc.replicas {
				t.Errorf("spec.replicas = %d, want %d", *d.Spec.Replicas, tc.replicas)
			}
			if diff := cmp.Diff(deployment().Spec.Template, d.Spec.Template); diff != "" {
				t.Errorf("pod template changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScaleErrors(t *testing.T) {
	t.Run("negative", func(t *testing.T) {
		cs := fake.NewClientset(deployment())
		if _, err := cluster.New(cs, target).Scale(t.Context(), -1); err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("got %v, want a refusal", err)
		}
		if n := len(cs.Actions()); n != 0 {
			t.Errorf("%d requests made, want none", n)
		}
	})
	t.Run("missing deployment", func(t *testing.T) {
		_, err := cluster.New(fake.NewClientset(), target).Scale(t.Context(), 3)
		if !errors.Is(err, cluster.ErrDeploymentNotFound) {
			t.Errorf("got %v, want ErrDeploymentNotFound", err)
		}
	})
	t.Run("no permission", func(t *testing.T) {
		cs := fake.NewClientset(deployment())
		failWith(cs, "patch", "deployments", "", forbidden("deployments.apps", testDeploy))
		prev, err := cluster.New(cs, target).Scale(t.Context(), 3)
		if !apierrors.IsForbidden(err) {
			t.Fatalf("got %v, want Forbidden", err)
		}
		for _, want := range []string{"scale deployment prod/oil-refinery-application to 3: ", "lacks permission to patch deployments: check the chart's Role"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if prev != 2 {
			t.Errorf("prev = %d, want 2", prev)
		}
	})
}

func TestSetImage(t *testing.T) {
	const next = "registry.example.com/oil/app:1.1"
	for _, tc := range []struct {
		name       string
		container  string
		image      string
		wantPrev   string
		wantWrites []string
		want       []corev1.Container
	}{
		{"app container", "", next, "registry.example.com/oil/app:1.0", []string{"patch deployments"}, []corev1.Container{
			{Name: "app", Image: next}, {Name: "sidecar", Image: "registry.example.com/proxy:2.0"}}},
		{"named container", "sidecar", "registry.example.com/proxy:2.1", "registry.example.com/proxy:2.0", []string{"patch deployments"}, []corev1.Container{
			{Name: "app", Image: "registry.example.com/oil/app:1.0"}, {Name: "sidecar", Image: "registry.example.com/proxy:2.1"}}},
		{"unchanged", "", "registry.example.com/oil/app:1.0", "registry.example.com/oil/app:1.0", nil, deployment().Spec.Template.Spec.Containers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment())
			tg := target
			tg.Container = tc.container
			prev, err := cluster.New(cs, tg).SetImageCause(t.Context(), tc.image, "")
			if err != nil {
				t.Fatal(err)
			}
			if prev != tc.wantPrev {
				t.Errorf("prev = %q, want %q", prev, tc.wantPrev)
			}
			if diff := cmp.Diff(tc.wantWrites, writes(cs)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			d, err := cs.AppsV1().Deployments(testNS).Get(t.Context(), testDeploy, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, d.Spec.Template.Spec.Containers); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if *d.Spec.Replicas != 2 {
				t.Errorf("replicas changed to %d", *d.Spec.Replicas)
			}
		})
	}
}

func TestSetImageErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		target   cluster.Target
		image    string
		fail     func(*fake.Clientset)
		wantIs   error
		wantAPI  func(error) bool
		wantText string
	}{
		{name: "empty image", target: target, image: "", wantText: `invalid image reference ""`},
		{name: "image with a space", target: target, image: "app: 1.1", wantText: `invalid image reference "app: 1.1"`},
		{name: "missing deployment", target: cluster.Target{Namespace: testNS, Deployment: "gone"}, image: "app:1.1",
			wantIs: cluster.ErrDeploymentNotFound, wantText: "deployment prod/gone"},
		{name: "missing container", target: cluster.Target{Namespace: testNS, Deployment: testDeploy, Container: "web"}, image: "app:1.1",
			wantIs: cluster.ErrContainerNotFound, wantText: `no container "web"`},
		{name: "no permission", target: target, image: "app:1.1", wantAPI: apierrors.IsForbidden,
			fail: func(cs *fake.Clientset) {
				failWith(cs, "patch", "deployments", "", forbidden("deployments.apps", testDeploy))
			},
			wantText: `set image of container "app" of deployment prod/oil-refinery-application to "app:1.1": `},
		{name: "invalid image rejected by the API", target: target, image: "APP:1.1", wantAPI: apierrors.IsInvalid,
			fail: func(cs *fake.Clientset) {
				failWith(cs, "patch", "deployments", "", apierrors.NewInvalid(appsv1.SchemeGroupVersion.WithKind("Deployment").GroupKind(), testDeploy, nil))
			},
			wantText: `set image of container "app"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment())
			if tc.fail != nil {
				tc.fail(cs)
			}
			_, err := cluster.New(cs, tc.target).SetImageCause(t.Context(), tc.image, "")
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if tc.wantAPI != nil && !tc.wantAPI(err) {
				t.Errorf("error %v is not the API error", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
			d, _ := cs.AppsV1().Deployments(testNS).Get(t.Context(), testDeploy, metav1.GetOptions{})
			if diff := cmp.Diff(deployment().Spec.Template, d.Spec.Template); diff != "" {
				t.Errorf("pod template changed (-want +got):\n%s", diff)
			}
		})
	}
}
