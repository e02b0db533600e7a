// Package clustertest runs a real Kubernetes control plane for tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// v1.34.4, plus kwok, which plays the kubelets. Nodes become Ready, pods
// of Deployments become Running and serve a known log, and RBAC,
// TokenRequest and impersonation behave as in a real cluster.
//
// Everything listens on 127.0.0.1 on free ports; certificates are made
// at start. The binaries come from hack/k8s/build-tools.sh (see BinDir).
// Without them a test is skipped, unless CI=true, where it fails.
//
// One cluster per test package (about 4s to start, about 550 MB RSS):
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
//	func TestPods(t *testing.T) {
//		c := clustertest.Shared(t)
//		c.SeedNodes(t.Context(), t)                  // StandardNodes
//		c.SeedApp(t.Context(), t, "pods-test", 2)    // Deployment AppName
//		... c.Client, c.Config, c.Kubeconfig ...
//	}
//
// Tests that share the cluster should each work in their own namespace.
// Start gives a test a private cluster instead, stopped in t.Cleanup.
package clustertest
