package argocdtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var (
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	appProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
)

// fieldManager owns what the harness applies.
const fieldManager = "argocdtest"

// rbacPolicy lets account ci do what Derrick does, and nothing else.
const rbacPolicy = `p, ci, applications, get, default/*, allow
p, ci, applications, update, default/*, allow
p, ci, applications, sync, default/*, allow
`

// partOfArgoCD is the label Argo CD's settings informer selects on.
var partOfArgoCD = map[string]string{"app.kubernetes.io/part-of": "argocd"}

// applyCRDs server-side-applies every CRD in crdDir and waits until each
// is Established.
func applyCRDs(ctx context.Context, dyn dynamic.Interface, crdDir string) error {
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s (run %s): %v", crdDir, BuildCommand, err)
	}
	var names []string
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		dec := k8syaml.NewYAMLOrJSONDecoder(f, 64*1024)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				f.Close()
				return fmt.Errorf("decode %s: %w", file, err)
			}
			if obj.Object == nil {
				continue
			}
			if _, err := dyn.Resource(crdGVR).Apply(ctx, obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
				f.Close()
				return fmt.Errorf("apply CRD %s: %w", obj.GetName(), err)
			}
			names = append(names, obj.GetName())
		}
		f.Close()
	}
	for _, name := range names {
		err := poll(ctx, 30*time.Second, func(ctx context.Context) error {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return errors.New("not Established")
		})
		if err != nil {
			return fmt.Errorf("CRD %s: %w", name, err)
		}
	}
	return nil
}

// settings are the ConfigMaps and the Secret Argo CD reads.
type settings struct {
	adminPassword string // plain
	adminHash     string // bcrypt
	serverKey     string
}

func newSettings() (settings, error) {
	s := settings{adminPassword: "admin-" + randomString(12), serverKey: randomString(32)}
	// Argo CD checks the admin password with bcrypt; htpasswd makes one
	// without adding a crypto module to the project.
	out, err := exec.Command("htpasswd", "-nbBC", "10", "admin", s.adminPassword).Output()
	if err != nil {
		return s, fmt.Errorf("htpasswd: %w", err)
	}
	_, hash, ok := strings.Cut(strings.TrimSpace(string(out)), ":")
	if !ok {
		return s, fmt.Errorf("htpasswd printed %q", out)
	}
	s.adminHash = hash
	return s, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// createSettings creates Argo CD's namespace, ConfigMaps, Secret and the
// default AppProject.
func createSettings(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, s settings) error {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ArgoNamespace, Labels: partOfArgoCD}
	}
	if err := createNamespace(ctx, client, ArgoNamespace); err != nil {
		return err
	}
	cms := []*corev1.ConfigMap{
		{ObjectMeta: meta("argocd-cm"), Data: map[string]string{
			"accounts.ci":   "apiKey",
			"admin.enabled": "true",
		}},
		{ObjectMeta: meta("argocd-rbac-cm"), Data: map[string]string{"policy.csv": rbacPolicy, "policy.default": ""}},
		{ObjectMeta: meta("argocd-ssh-known-hosts-cm")},
		{ObjectMeta: meta("argocd-tls-certs-cm")},
		{ObjectMeta: meta("argocd-gpg-keys-cm")},
	}
	for _, cm := range cms {
		if _, err := client.CoreV1().ConfigMaps(ArgoNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create configmap %s: %w", cm.Name, err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: meta("argocd-secret"), StringData: map[string]string{
		"server.secretkey":    s.serverKey,
		"admin.password":      s.adminHash,
		"admin.passwordMtime": time.Now().UTC().Format(time.RFC3339),
	}}
	if _, err := client.CoreV1().Secrets(ArgoNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create secret argocd-secret: %w", err)
	}
	// argocd-server creates this project at start too; creating it first
	// spares the controller a round of "project not found".
	project := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "AppProject",
		"metadata":   map[string]any{"name": Project, "namespace": ArgoNamespace},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
	if _, err := dyn.Resource(appProjectGVR).Namespace(ArgoNamespace).Create(ctx, project, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create appproject %s: %w", Project, err)
	}
	return nil
}

// application is the Application the harness creates: automated sync with
// prune and selfHeal from the repository's root.
func application(repoURL string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": AppName, "namespace": ArgoNamespace},
		"spec": map[string]any{
			"project": Project,
			"source": map[string]any{
				"repoURL":        repoURL,
				"path":           ".",
				"targetRevision": "HEAD",
			},
			"destination": map[string]any{
				"server":    "https://kubernetes.default.svc",
				"namespace": Namespace,
			},
			"syncPolicy": map[string]any{
				"automated": map[string]any{"prune": true, "selfHeal": true},
			},
		},
	}}
}

// createNamespace creates name and waits for its default ServiceAccount
// (no pod can be created without it), first waiting for an earlier
// namespace of that name (of a stopped harness) to finish terminating.
func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			last = err
			return false, nil
		case ns.DeletionTimestamp != nil:
			last = fmt.Errorf("namespace %s of an earlier harness is still terminating", name)
			return false, nil
		default:
			return false, fmt.Errorf("namespace %s exists: is another Argo CD harness running on this cluster? "+
				"Only one can run on a cluster at a time", name)
		}
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return err
	}
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return poll(ctx, 30*time.Second, func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// poll calls check every 100ms until it returns nil, or fails with its last
// error after limit or when ctx ends.
func poll(ctx context.Context, limit time.Duration, check func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, limit, true, func(ctx context.Context) (bool, error) {
		last = check(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	return err
}
