// Package argocdtest runs a real Argo CD v2.14.21 for tests, on top of a
// clustertest cluster: redis, a git daemon serving a kustomize repository
// of oil-refinery-application (Deployment with AppReplicas replicas of
// AppImage, and a Service, in namespace Namespace), argocd-repo-server,
// argocd-application-controller and argocd-server (plain HTTP), and the
// Application with automated sync, prune and selfHeal, Synced and Healthy
// with kwok pods Running when Start returns.
//
// Account ci has an API token (ArgoCD.Token) and RBAC for applications get,
// update and sync in project default, as Derrick needs. Everything listens
// on 127.0.0.1 on free ports, except the controller's metrics listener,
// which Argo CD binds on all interfaces (on a free port; nothing is sent).
//
// The binaries and CRDs come from hack/argocd/build.sh; redis-server, git
// and htpasswd from Debian (hack/install-deps.sh). Without them a test is
// skipped, unless CI=true, where it fails.
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
//	func TestPromote(t *testing.T) {
//		argo := argocdtest.Start(t.Context(), t, clustertest.Shared(t))
//		... argo.ServerURL, argo.Token, argo.AppName, argo.Namespace ...
//	}
//
// Argo CD's namespace and the application's are fixed, so one harness runs
// on a cluster at a time; a later Start on the same cluster waits for the
// namespaces of a stopped one to go. Start-up takes ~10-20 s.
package argocdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// startTimeout bounds Start when the caller's context has no deadline.
const startTimeout = 3 * time.Minute

// ArgoCD is a running Argo CD managing AppName.
type ArgoCD struct {
	// ServerURL is the API server's base URL, http://127.0.0.1:PORT.
	ServerURL string
	// Token is an API token of account ci (RBAC: applications get, update
	// and sync on default/*).
	Token string
	// AdminPassword is the password of the admin account.
	AdminPassword string
	// AppName is the Application, and the Deployment and Service it manages.
	AppName string
	// Namespace is the application's destination namespace; ArgoNamespace
	// is Argo CD's own; Project is the application's AppProject.
	Namespace, ArgoNamespace, Project string
	// RepoURL is the application's source, git://127.0.0.1:PORT/oil.git.
	RepoURL string
	// Dir holds the repository, the kubeconfig and one log per process
	// (NAME.log).
	Dir string
	// ReadyAfter is the time Start took until the application was Synced
	// and Healthy with its pods Running; ComponentsReadyAfter the part until
	// every process answered its health check.
	ReadyAfter, ComponentsReadyAfter time.Duration

	cluster  *clustertest.Cluster
	dyn      dynamic.Interface
	procs    proctest.Group
	stopOnce sync.Once
	stopErr  error
}

// Start runs Argo CD on c and stops it in t.Cleanup, printing the tail of
// every log when t failed. It seeds clustertest's standard kwok nodes (if
// absent) for the application's pods. It skips t when binaries or tools are
// missing, or fails it when the environment has CI=true.
func Start(ctx context.Context, t testing.TB, c *clustertest.Cluster) *ArgoCD {
	t.Helper()
	require(t, stackDir())
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	started := time.Now()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	a := &ArgoCD{
		AppName: AppName, Namespace: Namespace, ArgoNamespace: ArgoNamespace, Project: Project,
		Dir: t.TempDir(), cluster: c, dyn: dyn,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(a.LogTails(40))
		}
		if err := a.Stop(); err != nil {
			t.Error(err)
		}
	})
	c.SeedNodes(ctx, t)
	if err := a.start(ctx, started); err != nil {
		t.Fatalf("start Argo CD: %v", err)
	}
	c.WaitForApp(ctx, t, Namespace)
	a.ReadyAfter = time.Since(started)
	return a
}

func (a *ArgoCD) start(ctx context.Context, started time.Time) error {
	s, err := newSettings()
	if err != nil {
		return err
	}
	a.AdminPassword = s.adminPassword
	if err := applyCRDs(ctx, a.dyn, CRDDir()); err != nil {
		return err
	}
	if err := createSettings(ctx, a.cluster.Client, a.dyn, s); err != nil {
		return err
	}
	if err := createNamespace(ctx, a.cluster.Client, Namespace); err != nil {
		return err
	}
	gitDir := filepath.Join(a.Dir, "git")
	if err := makeRepo(a.Dir, gitDir); err != nil {
		return err
	}
	kubeconfig := filepath.Join(a.Dir, "argocd.kubeconfig")
	if err := clustertest.WriteKubeconfig(kubeconfig, a.cluster.Config, ArgoNamespace); err != nil {
		return err
	}
	// Free ports are found by binding and closing, so a concurrent test
	// binary can take one first; start over on new ports then.
	for attempt := 1; ; attempt++ {
		err := a.startProcesses(ctx, kubeconfig, gitDir)
		if err == nil {
			break
		}
		if attempt < 3 && a.procs.PortTaken() {
			if stopErr := a.procs.Stop(); stopErr != nil {
				return errors.Join(err, stopErr)
			}
			a.procs = nil
			continue
		}
		return err
	}
	a.ComponentsReadyAfter = time.Since(started)
	if err := a.mintToken(ctx); err != nil {
		return err
	}
	app := application(a.RepoURL)
	if _, err := a.dyn.Resource(applicationGVR).Namespace(ArgoNamespace).Create(ctx, app, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create application %s: %w", AppName, err)
	}
	return a.waitApp(ctx)
}

// ports are the listeners of one Argo CD, all on 127.0.0.1 but the
// controller's metrics.
type ports struct {
	redis, git, repoServer, repoMetrics, controllerMetrics, server, serverMetrics int
}

func (a *ArgoCD) startProcesses(ctx context.Context, kubeconfig, gitDir string) error {
	pt, err := proctest.FreePorts(7)
	if err != nil {
		return err
	}
	p := ports{pt[0], pt[1], pt[2], pt[3], pt[4], pt[5], pt[6]}
	a.ServerURL = "http://127.0.0.1:" + strconv.Itoa(p.server)
	a.RepoURL = fmt.Sprintf("git://127.0.0.1:%d/oil.git", p.git)
	redisAddr := "127.0.0.1:" + strconv.Itoa(p.redis)
	repoServer := "127.0.0.1:" + strconv.Itoa(p.repoServer)

	env := []string{"HOME=" + a.Dir, "PATH=" + BinDir() + ":" + os.Getenv("PATH"), "TMPDIR=" + a.Dir}
	argoEnv := append([]string(nil), env...)
	argoEnv = append(argoEnv, "KUBECONFIG="+kubeconfig, "ARGOCD_FAKE_IN_CLUSTER=true", "ARGOCD_GPG_ENABLED=false")
	for _, d := range []struct{ env, dir string }{
		{"ARGOCD_TLS_DATA_PATH", "tls"}, {"ARGOCD_SSH_DATA_PATH", "ssh"},
		{"ARGOCD_GNUPGHOME", "gnupg"}, {"ARGOCD_GPG_DATA_PATH", "gpg"},
	} {
		dir := filepath.Join(a.Dir, d.dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		argoEnv = append(argoEnv, d.env+"="+dir)
	}
	argocd := filepath.Join(BinDir(), "argocd")
	// component is the multi-call binary's environment for one component.
	component := func(name string) []string {
		return append(append([]string(nil), argoEnv...), "ARGOCD_BINARY_NAME="+name)
	}
	type run struct {
		name, path string
		args, env  []string
	}
	runs := []run{
		{"redis", "redis-server", []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(p.redis),
			"--save", "", "--appendonly", "no", "--dir", a.Dir}, env},
		{"git-daemon", "git", []string{"daemon", "--listen=127.0.0.1", "--port=" + strconv.Itoa(p.git),
			"--export-all", "--reuseaddr", "--informative-errors", "--base-path=" + gitDir}, env},
		{"argocd-repo-server", argocd, []string{"--address", "127.0.0.1", "--port", strconv.Itoa(p.repoServer),
			"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(p.repoMetrics), "--redis", redisAddr},
			component("argocd-repo-server")},
		{"argocd-application-controller", argocd, []string{"--repo-server", repoServer, "--redis", redisAddr,
			"--metrics-port", strconv.Itoa(p.controllerMetrics), "--app-resync", "30",
			"--self-heal-timeout-seconds", "0", "--self-heal-backoff-timeout-seconds", "0"},
			component("argocd-application-controller")},
		{"argocd-server", argocd, []string{"--insecure", "--address", "127.0.0.1", "--port", strconv.Itoa(p.server),
			"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(p.serverMetrics),
			"--repo-server", repoServer, "--redis", redisAddr, "--dex-server", "http://127.0.0.1:1"},
			component("argocd-server")},
	}
	for _, r := range runs {
		proc, err := proctest.Start(a.Dir, r.name, r.path, r.args, r.env)
		if err != nil {
			return err
		}
		a.procs = append(a.procs, proc)
	}
	checks := []struct {
		proc string
		addr string // host:port to dial, or an http:// URL to GET
	}{
		{"redis", redisAddr},
		{"git-daemon", "127.0.0.1:" + strconv.Itoa(p.git)},
		{"argocd-repo-server", fmt.Sprintf("http://127.0.0.1:%d/healthz", p.repoMetrics)},
		{"argocd-application-controller", fmt.Sprintf("http://127.0.0.1:%d/healthz", p.controllerMetrics)},
		{"argocd-server", a.ServerURL + "/healthz"},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.waitUp(ctx, ch.proc, ch.addr)
		}()
	}
	wg.Wait()
	// A check answered by another test's process on a port taken in
	// between would pass while ours died at bind.
	errs = append(errs, a.procs.Exited())
	return errors.Join(errs...)
}

// waitUp waits until addr accepts connections (or answers 200 to GET, for
// a URL), failing early when proc exits.
func (a *ArgoCD) waitUp(ctx context.Context, proc, addr string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return a.poll(ctx, proc, 60*time.Second, func(ctx context.Context) error {
		if !strings.HasPrefix(addr, "http://") {
			conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return conn.Close()
		}
		return proctest.GetOK(ctx, client, addr)
	})
}

// poll calls check every 100ms until it returns nil, the process named
// proc (if any) exits, limit passes or ctx ends.
func (a *ArgoCD) poll(ctx context.Context, proc string, limit time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return a.procs.Poll(ctx, 100*time.Millisecond, proc, check)
}

// mintToken logs in as admin and creates an API token of account ci.
func (a *ArgoCD) mintToken(ctx context.Context) error {
	var session struct {
		Token string `json:"token"`
	}
	err := a.poll(ctx, "argocd-server", 30*time.Second, func(ctx context.Context) error {
		return a.post(ctx, "/api/v1/session", "", map[string]string{"username": "admin", "password": a.AdminPassword}, &session)
	})
	if err != nil {
		return fmt.Errorf("log in as admin: %w", err)
	}
	var token struct {
		Token string `json:"token"`
	}
	if err := a.post(ctx, "/api/v1/account/ci/token", session.Token, map[string]string{"name": "ci", "id": "derrick-tests"}, &token); err != nil {
		return fmt.Errorf("create token of account ci: %w", err)
	}
	if token.Token == "" {
		return errors.New("create token of account ci: empty token")
	}
	a.Token = token.Token
	return nil
}

// post sends body as JSON to the API server and decodes the answer.
func (a *ArgoCD) post(ctx context.Context, path, bearer string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.ServerURL+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(buf.String()))
	}
	return json.Unmarshal(buf.Bytes(), out)
}

// waitApp waits until the Application is Synced and Healthy.
func (a *ArgoCD) waitApp(ctx context.Context) error {
	var state string
	err := a.poll(ctx, "argocd-application-controller", 90*time.Second, func(ctx context.Context) error {
		app, err := a.dyn.Resource(applicationGVR).Namespace(ArgoNamespace).Get(ctx, AppName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
		conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
		state = fmt.Sprintf("sync %q, health %q, conditions %v", sync, health, conds)
		if sync != "Synced" || health != "Healthy" {
			return errors.New(state)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("application %s not Synced and Healthy: %w", AppName, err)
	}
	return nil
}

// WaitReconciled waits, for at most 90 s (three of the controller's
// --app-resync periods), until the application controller has compared the
// Application after since (status.reconciledAt later than since) and no
// operation is pending or running: whatever selfHeal or an automated sync
// decided on that comparison has been carried out. It fails t otherwise.
func (a *ArgoCD) WaitReconciled(ctx context.Context, t testing.TB, since time.Time) {
	t.Helper()
	err := a.poll(ctx, "argocd-application-controller", 90*time.Second, func(ctx context.Context) error {
		app, err := a.dyn.Resource(applicationGVR).Namespace(ArgoNamespace).Get(ctx, AppName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		at, _, _ := unstructured.NestedString(app.Object, "status", "reconciledAt")
		reconciled, err := time.Parse(time.RFC3339, at)
		if err != nil || !reconciled.After(since) {
			return fmt.Errorf("reconciledAt %q, want after %s", at, since.Format(time.RFC3339Nano))
		}
		if op, ok := app.Object["operation"]; ok && op != nil {
			return errors.New("an operation is pending")
		}
		if phase, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "phase"); phase == "Running" || phase == "Terminating" {
			return fmt.Errorf("operation %s", phase)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("application %s not reconciled after %s: %v", AppName, since.Format(time.RFC3339Nano), err)
	}
}

// Stop kills every process (its whole process group) and waits for them to
// exit, then deletes the Application and both namespaces without waiting
// (best effort: the cluster may be gone already). It is safe to call more
// than once.
func (a *ArgoCD) Stop() error {
	a.stopOnce.Do(func() {
		a.stopErr = a.procs.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := a.dyn.Resource(applicationGVR).Namespace(ArgoNamespace).Delete(ctx, AppName, metav1.DeleteOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			for _, ns := range []string{ArgoNamespace, Namespace} {
				_ = a.cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
			}
		}
	})
	return a.stopErr
}

// RSS reports VmRSS of every process, in start order.
func (a *ArgoCD) RSS() ([]clustertest.ProcessRSS, error) { return a.procs.RSS() }

// LogTails returns the last n lines of every process's log.
func (a *ArgoCD) LogTails(n int) string { return a.procs.LogTails(n) }
