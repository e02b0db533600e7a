package main

import (
	"context"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestGetNodesShowsTheAddressANodeHas: on the real control plane, a node's
// ExternalIP, else its InternalIP marked internal (a kubeadm or k3s cluster
// on VMs), else —.
func TestGetNodesShowsTheAddressANodeHas(t *testing.T) {
	w := newWorld(t)
	// The apiserver cannot reach a kubelet at these InternalIPs: no pods.
	noPods := []corev1.Taint{{Key: "clustertest/no-kubelet", Effect: corev1.TaintEffectNoSchedule}}
	specs := []clustertest.NodeSpec{
		{Name: "addr-internal", InternalIP: "10.0.0.5", Taints: noPods},
		{Name: "addr-both", InternalIP: "10.0.0.6", ExternalIP: "203.0.113.40", Taints: noPods},
		{Name: "addr-external", ExternalIP: "203.0.113.41", Unmanaged: true},
		{Name: "addr-none", Unmanaged: true},
	}
	t.Cleanup(func() {
		for _, s := range specs {
			_ = w.cluster.Client.CoreV1().Nodes().Delete(context.Background(), s.Name, metav1.DeleteOptions{})
		}
	})
	w.cluster.SeedNodes(t.Context(), t, specs...)
	got := bottest.Plain(w.say(t, viewer, "/get_nodes", nil))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`NAME\s+ADDRESS\s+PODS`),
		regexp.MustCompile(`addr-internal\s+10\.0\.0\.5 \(внутренний\)\s+нет`),
		regexp.MustCompile(`addr-both\s+203\.0\.113\.40\s+нет`),
		regexp.MustCompile(`addr-external\s+203\.0\.113\.41\s+нет`),
		regexp.MustCompile(`addr-none\s+—\s+нет`),
		regexp.MustCompile(`node-ready\s+203\.0\.113\.10\s+да`),
	} {
		if !want.MatchString(got) {
			t.Errorf("/get_nodes lacks %s:\n%s", want, got)
			for _, s := range specs {
				n, err := w.cluster.Client.CoreV1().Nodes().Get(context.Background(), s.Name, metav1.GetOptions{})
				if err == nil {
					t.Logf("%s: addresses %+v", s.Name, n.Status.Addresses)
				}
			}
		}
	}
}
