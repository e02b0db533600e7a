package watch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// The watcher needs two calls of the Kubernetes API: get and update of one
// ConfigMap. It makes them over plain REST rather than with client-go,
// which would make the notifier binary (run by every pipeline's notify
// jobs) four times larger and its start 5 ms slower (docs/PERFORMANCE.md).

// Where a pod finds its ServiceAccount (as rest.InClusterConfig does).
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// kubeRequestTimeout bounds one Kubernetes API request.
const kubeRequestTimeout = 15 * time.Second

// kubeAPI reaches one API server with one identity.
type kubeAPI struct {
	server    string // https://host:port
	client    *http.Client
	token     func() (string, error) // nil with a client certificate
	namespace string                 // of the kubeconfig context or the pod; "" if unknown
}

// apiStatus is a failed answer of the API server (a metav1.Status).
type apiStatus struct {
	Code    int
	Reason  string
	Message string
}

func (e *apiStatus) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
}

func statusCode(err error) int {
	var s *apiStatus
	if errors.As(err, &s) {
		return s.Code
	}
	return 0
}

// newKubeAPI loads the kubeconfig file named by kubeconfig (the first that
// exists of a KUBECONFIG list) or, when empty, the pod's ServiceAccount.
func newKubeAPI(kubeconfig string) (*kubeAPI, error) {
	if kubeconfig == "" {
		return inClusterAPI()
	}
	for _, path := range filepath.SplitList(kubeconfig) {
		if _, err := os.Stat(path); err == nil {
			return kubeconfigAPI(path)
		}
	}
	return nil, fmt.Errorf("KUBECONFIG %s: no such file", kubeconfig)
}

func inClusterAPI() (*kubeAPI, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("no Kubernetes configuration: set KUBECONFIG or run in a pod with a ServiceAccount")
	}
	ca, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read the ServiceAccount's CA: %w (is its token mounted? automountServiceAccountToken)", err)
	}
	tlsCfg, err := tlsConfig(ca, false, nil, nil)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(serviceAccountDir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("the ServiceAccount's token: %w", err)
	}
	ns, _ := os.ReadFile(filepath.Join(serviceAccountDir, "namespace"))
	return &kubeAPI{
		server: "https://" + net.JoinHostPort(host, port),
		client: httpClient(tlsCfg),
		// The kubelet rotates the projected token: read it for every request.
		token:     func() (string, error) { return readToken(tokenFile) },
		namespace: strings.TrimSpace(string(ns)),
	}, nil
}

// kubeconfigFile is the part of a kubeconfig the watcher understands:
// static credentials (token, token file, client certificate).
type kubeconfigFile struct {
	CurrentContext string `json:"current-context"`
	Contexts       []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster   string `json:"cluster"`
			User      string `json:"user"`
			Namespace string `json:"namespace"`
		} `json:"context"`
	} `json:"contexts"`
	Clusters []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server   string `json:"server"`
			CAData   []byte `json:"certificate-authority-data"`
			CAFile   string `json:"certificate-authority"`
			Insecure bool   `json:"insecure-skip-tls-verify"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token        string          `json:"token"`
			TokenFile    string          `json:"tokenFile"`
			CertData     []byte          `json:"client-certificate-data"`
			KeyData      []byte          `json:"client-key-data"`
			CertFile     string          `json:"client-certificate"`
			KeyFile      string          `json:"client-key"`
			Exec         json.RawMessage `json:"exec"`
			AuthProvider json.RawMessage `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
}

func kubeconfigAPI(path string) (*kubeAPI, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("kubeconfig %s (from KUBECONFIG): %s", path, fmt.Sprintf(format, args...))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fail("%v", err)
	}
	var kc kubeconfigFile
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return nil, fail("%v", err)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	// load returns data, else the content of file (relative to the kubeconfig).
	load := func(data []byte, file, field string) ([]byte, error) {
		if len(data) > 0 || file == "" {
			return data, nil
		}
		b, err := os.ReadFile(rel(file))
		if err != nil {
			return nil, fail("%s: %v", field, err)
		}
		return b, nil
	}
	var cluster, user, ns string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			cluster, user, ns, found = c.Context.Cluster, c.Context.User, c.Context.Namespace, true
		}
	}
	if !found {
		return nil, fail("current-context %q is not among its contexts", kc.CurrentContext)
	}
	api := &kubeAPI{namespace: ns}
	var ca []byte
	var insecure bool
	found = false
	for _, c := range kc.Clusters {
		if c.Name == cluster {
			found = true
			api.server = strings.TrimRight(c.Cluster.Server, "/")
			insecure = c.Cluster.Insecure
			if ca, err = load(c.Cluster.CAData, c.Cluster.CAFile, "certificate-authority"); err != nil {
				return nil, err
			}
		}
	}
	if u, err := url.Parse(api.server); !found || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fail("cluster %q has no server URL", cluster)
	}
	var cert, key []byte
	found = false
	for _, u := range kc.Users {
		if u.Name != user {
			continue
		}
		found = true
		a := u.User
		if len(a.Exec) > 0 && string(a.Exec) != "null" || len(a.AuthProvider) > 0 && string(a.AuthProvider) != "null" {
			return nil, fail("user %q uses an exec or auth-provider plugin, which the watcher does not run: use a token or a client certificate", user)
		}
		if cert, err = load(a.CertData, a.CertFile, "client-certificate"); err != nil {
			return nil, err
		}
		if key, err = load(a.KeyData, a.KeyFile, "client-key"); err != nil {
			return nil, err
		}
		switch {
		case a.Token != "":
			token := a.Token
			api.token = func() (string, error) { return token, nil }
		case a.TokenFile != "":
			file := rel(a.TokenFile)
			api.token = func() (string, error) { return readToken(file) }
		}
	}
	if !found {
		return nil, fail("user %q of context %q is not among its users", user, kc.CurrentContext)
	}
	tlsCfg, err := tlsConfig(ca, insecure, cert, key)
	if err != nil {
		return nil, fail("%v", err)
	}
	api.client = httpClient(tlsCfg)
	return api, nil
}

func tlsConfig(ca []byte, insecure bool, cert, key []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only when the kubeconfig says so
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("certificate authority: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if len(cert) > 0 || len(key) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func httpClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &http.Client{Transport: tr, Timeout: kubeRequestTimeout}
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// do makes one request with a JSON body and decodes a JSON answer into out.
func (k *kubeAPI) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.server+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "derrick-watch")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k.token != nil {
		token, err := k.token()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		st := &apiStatus{Code: resp.StatusCode}
		_ = json.Unmarshal(data, st)
		st.Code = resp.StatusCode
		return st
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode the answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// configMap is a ConfigMap as the API server sends it; unknown fields
// (labels, annotations, managed fields) go back unchanged on update.
type configMap map[string]any

func (c configMap) data() map[string]string {
	out := map[string]string{}
	if d, ok := c["data"].(map[string]any); ok {
		for k, v := range d {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

func (c configMap) withData(key, value string) configMap {
	out := maps.Clone(c)
	if out == nil {
		out = configMap{}
	}
	d, _ := c["data"].(map[string]any)
	d = maps.Clone(d)
	if d == nil {
		d = map[string]any{}
	}
	d[key] = value
	out["data"] = d
	return out
}

// configMaps gets and updates one ConfigMap; kubeConfigMaps implements it
// over REST, tests with a fake.
type configMaps interface {
	get(ctx context.Context) (configMap, error)
	update(ctx context.Context, cm configMap) (configMap, error)
}

type kubeConfigMaps struct {
	api             *kubeAPI
	namespace, name string
}

func (k kubeConfigMaps) path() string {
	return "/api/v1/namespaces/" + url.PathEscape(k.namespace) + "/configmaps/" + url.PathEscape(k.name)
}

func (k kubeConfigMaps) get(ctx context.Context) (configMap, error) {
	var cm configMap
	err := k.api.do(ctx, http.MethodGet, k.path(), nil, &cm)
	return cm, err
}

// update is a PUT with the resourceVersion read: 409 Conflict when the
// ConfigMap changed since.
func (k kubeConfigMaps) update(ctx context.Context, cm configMap) (configMap, error) {
	var out configMap
	err := k.api.do(ctx, http.MethodPut, k.path()+"?fieldManager=derrick-watch", cm, &out)
	return out, err
}
