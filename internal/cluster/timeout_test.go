package cluster_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// clientFor returns a Client built by Config for the API server at url.
func clientFor(t *testing.T, url string) *cluster.Client {
	t.Helper()
	cfg, err := cluster.Config(writeKubeconfig(t, url))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cluster.New(cs, target)
}

// everyCall is each method of Client that talks to the API server.
func everyCall(cl *cluster.Client) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Ping":           cl.Ping,
		"Nodes":          func(ctx context.Context) error { _, err := cl.Nodes(ctx); return err },
		"SetSchedulable": func(ctx context.Context) error { _, err := cl.SetSchedulable(ctx, "worker-1", false); return err },
		"Pods":           func(ctx context.Context) error { _, err := cl.Pods(ctx); return err },
		"Logs":           func(ctx context.Context) error { _, err := cl.Logs(ctx, "app-a", 30); return err },
		"Deployment":     func(ctx context.Context) error { _, err := cl.Deployment(ctx); return err },
		"Scale":          func(ctx context.Context) error { _, err := cl.Scale(ctx, 3); return err },
		"SetImage": func(ctx context.Context) error {
			_, err := cl.SetImageCause(ctx, "registry.example.com/oil/app:2.0", "")
			return err
		},
		"Rollout": func(ctx context.Context) error { _, err := cl.Rollout(ctx); return err },
	}
}

// TestHungAPIServer: an API server that accepts connections and never
// answers. Every call returns within Config's request timeout (shortened
// here) with an error that says Kubernetes did not answer, whatever the
// caller's context allows.
func TestHungAPIServer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Cleanup(cluster.SetRequestTimeout(timeout))
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: frees the handlers
	cl := clientFor(t, srv.URL)

	for name, call := range everyCall(cl) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call(context.Background()) // no deadline of the caller's
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "the Kubernetes API server did not answer in time") {
				t.Errorf("%s against a hung API server: %v, want an error naming Kubernetes", name, err)
			}
			// A second request after the first timed out would double it.
			if took > 2*timeout {
				t.Errorf("%s took %v, want about the request timeout %v", name, took, timeout)
			}
		})
	}

	// The command's deadline (BOT_COMMAND_TIMEOUT) comes first: the same words.
	t.Run("caller's deadline", func(t *testing.T) {
		t.Cleanup(cluster.SetRequestTimeout(time.Minute))
		cl := clientFor(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := cl.Nodes(ctx)
		if err == nil || !strings.Contains(err.Error(), "list nodes: ") || !strings.Contains(err.Error(), "the Kubernetes API server did not answer in time") {
			t.Errorf("Nodes past the caller's deadline: %v, want an error naming Kubernetes", err)
		}
	})
}

// TestUnreachableAPIServer: nothing listens at the address.
func TestUnreachableAPIServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cl := clientFor(t, "http://"+addr)
	for name, call := range everyCall(cl) {
		err := call(t.Context())
		if err == nil || !strings.Contains(err.Error(), "the Kubernetes API server is unreachable") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s with nothing at %s: %v, want an error naming Kubernetes", name, addr, err)
		}
	}
}

// TestLogStreamHangs: the API server answers the pod, its ReplicaSet and
// the Deployment, then starts the log and stops sending. The read is cut at
// the request timeout, not left to block the command.
func TestLogStreamHangs(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Cleanup(cluster.SetRequestTimeout(timeout))
	d, rs, p := deployment(), replicaSet(), pod("app-a")
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	rs.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	objects := map[string]any{
		"/apis/apps/v1/namespaces/prod/deployments/" + testDeploy: d,
		"/apis/apps/v1/namespaces/prod/replicasets/" + rsName:     rs,
		"/api/v1/namespaces/prod/pods/app-a":                      p,
	}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if obj, ok := objects[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(obj)
			return
		}
		if r.URL.Path != "/api/v1/namespaces/prod/pods/app-a/log" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("first line\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })

	start := time.Now()
	_, err := clientFor(t, srv.URL).Logs(context.Background(), "app-a", 30)
	if took := time.Since(start); took > 2*timeout {
		t.Errorf("Logs took %v, want about the request timeout %v", took, timeout)
	}
	if err == nil || !strings.Contains(err.Error(), `read logs of container "app" of pod "app-a": `) ||
		!strings.Contains(err.Error(), "the Kubernetes API server did not answer in time") {
		t.Errorf("Logs of a stalled stream: %v, want a read error naming the pod", err)
	}
}
