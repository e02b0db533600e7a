package watch

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKubeconfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const kubeconfigHead = `apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: derrick}
users:
- name: u
`

func TestKubeconfig(t *testing.T) {
	api, err := newKubeAPI(writeKubeconfig(t, kubeconfigHead+"  user: {token: abc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := api.token(); api.server != "https://127.0.0.1:6443" || api.namespace != "derrick" || tok != "abc" {
		t.Errorf("server %q namespace %q token %q", api.server, api.namespace, tok)
	}
	tests := []struct{ name, text, want string }{
		{"exec plugin", kubeconfigHead + "  user: {exec: {command: gke-gcloud-auth-plugin}}\n", "exec or auth-provider plugin"},
		{"no such context", strings.Replace(kubeconfigHead, "current-context: ctx", "current-context: other", 1) + "  user: {token: abc}\n", `current-context "other"`},
		{"no such user", strings.Replace(kubeconfigHead, "- name: u\n", "- name: v\n", 1) + "  user: {token: abc}\n", `user "u" of context "ctx"`},
		{"bad CA", strings.Replace(kubeconfigHead, "insecure-skip-tls-verify: true", "certificate-authority-data: bm90IGEgY2VydA==", 1) + "  user: {token: abc}\n", "no PEM certificate"},
		{"not YAML", "{{", "kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newKubeAPI(writeKubeconfig(t, tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "KUBECONFIG") {
				t.Errorf("err = %v, want one naming KUBECONFIG and %q", err, tt.want)
			}
		})
	}
	if _, err := newKubeAPI(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := newKubeAPI(""); err == nil || !strings.Contains(err.Error(), "set KUBECONFIG or run in a pod") {
		t.Errorf("outside a pod: %v", err)
	}
}

// TestInCluster: the pod's ServiceAccount — CA, namespace, and a token
// read again for every request (the kubelet rotates it).
func TestInCluster(t *testing.T) {
	var tokens []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens = append(tokens, r.Header.Get("Authorization"))
		if r.URL.Path != "/api/v1/namespaces/derrick/configmaps/state" {
			http.Error(w, `{"kind":"Status","reason":"NotFound","message":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"metadata":{"name":"state","resourceVersion":"5"},"data":{}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, data := range map[string]string{"ca.crt": string(caPEM), "token": "first\n", "namespace": "derrick"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := serviceAccountDir
	serviceAccountDir = dir
	defer func() { serviceAccountDir = old }()
	u, _ := url.Parse(srv.URL)
	t.Setenv("KUBERNETES_SERVICE_HOST", u.Hostname())
	t.Setenv("KUBERNETES_SERVICE_PORT", u.Port())

	store, err := OpenConfigMapStore("", "", "state")
	if err != nil {
		t.Fatal(err)
	}
	if store.Namespace() != "derrick" {
		t.Errorf("namespace %q, want the pod's", store.Namespace())
	}
	if _, err := store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer first", "Bearer rotated"}; strings.Join(tokens, ",") != strings.Join(want, ",") {
		t.Errorf("tokens sent %q, want %q", tokens, want)
	}
	_, err = newStore(kubeConfigMaps{api: store.cms.(kubeConfigMaps).api, namespace: "derrick", name: "gone"}, "derrick", "gone").Load(context.Background())
	if !errors.Is(err, ErrStateMissing) {
		t.Errorf("404: %v, want ErrStateMissing", err)
	}
}
