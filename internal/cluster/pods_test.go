package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

var created = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)

// pod returns a Running pod of the Deployment in testNS whose containers
// app and sidecar are ready; edit changes it.
func pod(name string, edit ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNS,
			Labels:            map[string]string{"app.kubernetes.io/name": testDeploy, "pod-template-hash": "abc"},
			CreationTimestamp: metav1.NewTime(created),
		},
		Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "sidecar", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

func TestPods(t *testing.T) {
	crashing := pod("app-b", func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
		p.Status.ContainerStatuses[1].RestartCount = 1
	})
	terminating := pod("app-a", func(p *corev1.Pod) {
		p.DeletionTimestamp = ptr.To(metav1.NewTime(created.Add(time.Minute)))
		p.Finalizers = []string{"example.com/keep"} // the fake tracker refuses deletionTimestamp without one
	})
	pending := pod("app-c", func(p *corev1.Pod) {
		p.Spec.NodeName = ""
		p.Status = corev1.PodStatus{Phase: corev1.PodPending}
	})
	otherApp := pod("other-1", func(p *corev1.Pod) { p.Labels = map[string]string{"app.kubernetes.io/name": "other"} })
	otherNS := pod("app-z", func(p *corev1.Pod) { p.Namespace = "staging" })
	wrongTier := pod("app-d", func(p *corev1.Pod) { p.Labels["tier"] = "db" })

	cs := fake.NewClientset(deployment(func(d *appsv1.Deployment) {
		// A selector with an expression: pods must match all of it.
		d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}},
		}
	}), crashing, terminating, pending, otherApp, otherNS, wrongTier)
	got, err := cluster.New(cs, target).Pods(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []cluster.Pod{
		{Name: "app-a", Phase: "Running", Status: "Terminating", Ready: 2, Containers: 2, Node: "worker-1", Created: created},
		{Name: "app-b", Phase: "Running", Status: "CrashLoopBackOff", Ready: 1, Containers: 2, Restarts: 5, Node: "worker-1", Created: created},
		{Name: "app-c", Phase: "Pending", Status: "Pending", Containers: 2, Created: created},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pods (-want +got):\n%s", diff)
	}
	if w := writes(cs); len(w) != 0 {
		t.Errorf("Pods wrote %v", w)
	}
}

func TestPodsErrors(t *testing.T) {
	t.Run("no deployment", func(t *testing.T) {
		_, err := cluster.New(fake.NewClientset(pod("app-a")), target).Pods(t.Context())
		if !errors.Is(err, cluster.ErrDeploymentNotFound) || !strings.Contains(err.Error(), "prod/oil-refinery-application") {
			t.Errorf("got %v, want ErrDeploymentNotFound naming prod/oil-refinery-application", err)
		}
	})
	t.Run("no permission to list pods", func(t *testing.T) {
		cs := fake.NewClientset(deployment())
		failWith(cs, "list", "pods", "", forbidden("pods", ""))
		_, err := cluster.New(cs, target).Pods(t.Context())
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "lacks permission to list pods: check the chart's Role") {
			t.Errorf("got %v, want Forbidden with the fix", err)
		}
	})
}

// serveLogs answers log requests with text and records their options.
func serveLogs(cs *fake.Clientset, text string, got *[]corev1.PodLogOptions) {
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		*got = append(*got, *a.(k8stesting.GenericActionImpl).Value.(*corev1.PodLogOptions))
		return true, &runtime.Unknown{Raw: []byte(text)}, nil
	})
}

func TestLogs(t *testing.T) {
	for _, tc := range []struct {
		name          string
		container     string // Target.Container
		log           string
		wantLines     []string
		wantContainer string
	}{
		{"first container by default", "", "one\ntwo\nthree\n", []string{"one", "two", "three"}, "app"},
		{"named container", "sidecar", "one\ntwo\nthree\n", []string{"one", "two", "three"}, "sidecar"},
		{"last line without newline", "", "one\ntwo", []string{"one", "two"}, "app"},
		{"empty lines kept", "", "one\n\nthree\n", []string{"one", "", "three"}, "app"},
		{"empty log", "", "", []string{}, "app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment(), pod("app-a"))
			var opts []corev1.PodLogOptions
			serveLogs(cs, tc.log, &opts)
			tg := target
			tg.Container = tc.container
			got, err := cluster.New(cs, tg).Logs(t.Context(), "app-a", 30)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantLines, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			want := []corev1.PodLogOptions{{Container: tc.wantContainer, TailLines: ptr.To[int64](30), LimitBytes: ptr.To[int64](1 << 20)}}
			if diff := cmp.Diff(want, opts); diff != "" {
				t.Errorf("log requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pod      string
		lines    int64
		target   cluster.Target
		wantIs   error
		wantText string
	}{
		{"pod of another app", "other-1", 30, target, cluster.ErrPodNotInDeployment,
			`logs of pod "other-1": not a pod of the deployment prod/oil-refinery-application: its labels do not match the selector app.kubernetes.io/name=oil-refinery-application`},
		{"pod of the same name in another namespace", "app-z", 30, target, cluster.ErrPodNotInDeployment,
			`logs of pod "app-z": not a pod of the deployment prod/oil-refinery-application: no such pod`},
		{"no such pod", "nope", 30, target, cluster.ErrPodNotInDeployment, "no such pod"},
		{"no such deployment", "app-a", 30, cluster.Target{Namespace: testNS, Deployment: "gone"}, cluster.ErrDeploymentNotFound,
			"deployment prod/gone: deployment not found"},
		{"no such container", "app-a", 30, cluster.Target{Namespace: testNS, Deployment: testDeploy, Container: "web"}, cluster.ErrContainerNotFound,
			`no container "web" (it has app, sidecar)`},
		{"zero lines", "app-a", 0, target, nil, "lines must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment(), pod("app-a"),
				pod("other-1", func(p *corev1.Pod) { p.Labels = map[string]string{"app.kubernetes.io/name": "other"} }),
				pod("app-z", func(p *corev1.Pod) { p.Namespace = "staging" }))
			var opts []corev1.PodLogOptions
			serveLogs(cs, "secret\n", &opts)
			got, err := cluster.New(cs, tc.target).Logs(t.Context(), tc.pod, tc.lines)
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
			if len(opts) != 0 {
				t.Errorf("logs were read: %v", opts)
			}
		})
	}
}

func TestLogsAPIError(t *testing.T) {
	cs := fake.NewClientset(deployment(), pod("app-a"))
	failWith(cs, "get", "pods", "log", forbidden("pods/log", "app-a"))
	_, err := cluster.New(cs, target).Logs(t.Context(), "app-a", 30)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden", err)
	}
	if want := `logs of container "app" of pod "app-a": `; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
