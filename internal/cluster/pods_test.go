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
	"k8s.io/apimachinery/pkg/types"
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
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: rsUID, Controller: ptr.To(true),
			}},
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
			cs := fake.NewClientset(deployment(), replicaSet(), pod("app-a"))
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
	const notOurs = `not a pod of the deployment prod/oil-refinery-application: `
	// Look-alikes: pods with the Deployment's labels that it does not own.
	controlledBy := func(kind, name string, uid types.UID) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
		}
	}
	lookAlikes := []runtime.Object{
		pod("bare", func(p *corev1.Pod) { p.OwnerReferences = nil }),
		pod("of-a-statefulset", controlledBy("StatefulSet", testDeploy, "s0000000-0000-4000-8000-000000000001")),
		// Owned, but not as controller (anyone may add such a reference).
		pod("owner-not-controller", func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil }),
		pod("of-another-rs", controlledBy("ReplicaSet", "other-app-xyz", "r0000000-0000-4000-8000-000000000002")),
		pod("of-a-gone-rs", controlledBy("ReplicaSet", testDeploy+"-old", "r0000000-0000-4000-8000-000000000003")),
		// The ReplicaSet name of the Deployment, an older UID: a pod left
		// from a ReplicaSet that was deleted and created again.
		pod("of-a-recreated-rs", controlledBy("ReplicaSet", rsName, "r0000000-0000-4000-8000-000000000009")),
		replicaSet(func(rs *appsv1.ReplicaSet) {
			rs.Name, rs.UID = "other-app-xyz", "r0000000-0000-4000-8000-000000000002"
			rs.OwnerReferences[0].Name, rs.OwnerReferences[0].UID = "other-app", "d0000000-0000-4000-8000-000000000002"
		}),
		// A ReplicaSet naming the Deployment without its UID: a Deployment
		// of that name that was deleted and created again.
		pod("of-an-orphan-rs", controlledBy("ReplicaSet", testDeploy+"-orphan", "r0000000-0000-4000-8000-000000000004")),
		replicaSet(func(rs *appsv1.ReplicaSet) {
			rs.Name, rs.UID = testDeploy+"-orphan", "r0000000-0000-4000-8000-000000000004"
			rs.OwnerReferences[0].UID = "d0000000-0000-4000-8000-000000000009"
		}),
	}
	for _, tc := range []struct {
		name     string
		pod      string
		lines    int64
		target   cluster.Target
		wantIs   error
		wantText string
	}{
		{"pod of another app", "other-1", 30, target, cluster.ErrPodNotInDeployment,
			`logs of pod "other-1": ` + notOurs + `its labels do not match the selector app.kubernetes.io/name=oil-refinery-application`},
		{"pod of the same name in another namespace", "app-z", 30, target, cluster.ErrPodNotInDeployment,
			`logs of pod "app-z": ` + notOurs + `no such pod`},
		{"no such pod", "nope", 30, target, cluster.ErrPodNotInDeployment, "no such pod"},
		{"bare pod with the labels", "bare", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "it is not controlled by a ReplicaSet of the deployment"},
		{"pod of a StatefulSet with the labels", "of-a-statefulset", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "it is not controlled by a ReplicaSet of the deployment"},
		{"owner reference that is not the controller", "owner-not-controller", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "it is not controlled by a ReplicaSet of the deployment"},
		{"pod of another Deployment's ReplicaSet", "of-another-rs", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "its ReplicaSet other-app-xyz is not controlled by the deployment"},
		{"ReplicaSet gone", "of-a-gone-rs", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "its ReplicaSet oil-refinery-application-old does not exist"},
		{"ReplicaSet recreated under the same name", "of-a-recreated-rs", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "its ReplicaSet oil-refinery-application-abc is not the one it was created by"},
		{"ReplicaSet of an earlier Deployment of the same name", "of-an-orphan-rs", 30, target, cluster.ErrPodNotInDeployment,
			notOurs + "its ReplicaSet oil-refinery-application-orphan is not controlled by the deployment"},
		{"no such deployment", "app-a", 30, cluster.Target{Namespace: testNS, Deployment: "gone"}, cluster.ErrDeploymentNotFound,
			"deployment prod/gone: deployment not found"},
		{"no such container", "app-a", 30, cluster.Target{Namespace: testNS, Deployment: testDeploy, Container: "web"}, cluster.ErrContainerNotFound,
			`no container "web" (it has app, sidecar)`},
		{"zero lines", "app-a", 0, target, nil, "lines must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{deployment(), replicaSet(), pod("app-a"),
				pod("other-1", func(p *corev1.Pod) { p.Labels = map[string]string{"app.kubernetes.io/name": "other"} }),
				pod("app-z", func(p *corev1.Pod) { p.Namespace = "staging" })}, lookAlikes...)
			cs := fake.NewClientset(objs...)
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

func TestLogsReplicaSetError(t *testing.T) {
	cs := fake.NewClientset(deployment(), replicaSet(), pod("app-a"))
	failWith(cs, "get", "replicasets", "", forbidden("replicasets.apps", rsName))
	var opts []corev1.PodLogOptions
	serveLogs(cs, "secret\n", &opts)
	_, err := cluster.New(cs, target).Logs(t.Context(), "app-a", 30)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "lacks permission to get replicasets: check the chart's Role") {
		t.Errorf("got %v, want Forbidden with the fix", err)
	}
	if len(opts) != 0 {
		t.Errorf("logs were read: %v", opts)
	}
}

func TestLogsAPIError(t *testing.T) {
	cs := fake.NewClientset(deployment(), replicaSet(), pod("app-a"))
	failWith(cs, "get", "pods", "log", forbidden("pods/log", "app-a"))
	_, err := cluster.New(cs, target).Logs(t.Context(), "app-a", 30)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden", err)
	}
	if want := `logs of container "app" of pod "app-a": `; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
