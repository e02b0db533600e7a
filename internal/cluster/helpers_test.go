package cluster_test

import (
	"errors"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestMain shares one real control plane among the tests that call
// clustertest.Shared; it starts only when one of them runs.
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

const (
	testNS     = "prod"
	testDeploy = "oil-refinery-application"
)

var target = cluster.Target{Namespace: testNS, Deployment: testDeploy}

// appLabels returns a new map of the app's labels, which tests may change.
func appLabels() map[string]string { return map[string]string{"app.kubernetes.io/name": testDeploy} }

// deployment returns the target Deployment with containers app (image
// app:1.0) and sidecar, 2 replicas, fully rolled out; edit changes it.
func deployment(edit ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: testDeploy, Namespace: testNS, Generation: 1, UID: deployUID},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: appLabels()},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "registry.example.com/oil/app:1.0"},
					{Name: "sidecar", Image: "registry.example.com/proxy:2.0"},
				}},
			},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		},
	}
	for _, e := range edit {
		e(d)
	}
	return d
}

// UIDs of the objects deployment and replicaSet return.
const (
	deployUID = types.UID("d0000000-0000-4000-8000-000000000001")
	rsUID     = types.UID("r0000000-0000-4000-8000-000000000001")
	rsName    = testDeploy + "-abc"
)

// replicaSet returns the Deployment's ReplicaSet rsName, controlled by it;
// edit changes it.
func replicaSet(edit ...func(*appsv1.ReplicaSet)) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: rsName, Namespace: testNS, UID: rsUID,
			Labels: map[string]string{"app.kubernetes.io/name": testDeploy, "pod-template-hash": "abc"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: testDeploy, UID: deployUID, Controller: ptr.To(true),
			}},
		},
	}
	for _, e := range edit {
		e(rs)
	}
	return rs
}

// writes lists the actions of cs that change something, as "VERB
// RESOURCE[/SUBRESOURCE]".
func writes(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		r := a.GetVerb() + " " + a.GetResource().Resource
		if s := a.GetSubresource(); s != "" {
			r += "/" + s
		}
		out = append(out, r)
	}
	return out
}

// failWith makes every verb on resource (and subresource, "" for the
// object itself) fail with err.
func failWith(cs *fake.Clientset, verb, resource, subresource string, err error) {
	cs.PrependReactor(verb, resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != subresource {
			return false, nil, nil
		}
		return true, nil, err
	})
}

func forbidden(resource, name string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, name, errors.New("RBAC: access denied"))
}
