package clustertest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// startTimeout bounds New when the caller's context has no deadline.
const startTimeout = 90 * time.Second

// Cluster is a running control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, all on 127.0.0.1.
type Cluster struct {
	// Config authenticates as a cluster admin (client certificate in
	// group system:masters). Copy it before changing it; use rest.CopyConfig.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface
	// Kubeconfig is the path of an admin kubeconfig file (for kubectl or a
	// binary under test), with all credentials embedded.
	Kubeconfig string
	// AdminToken is a static bearer token of a system:masters user, for
	// clients that cannot use client certificates.
	AdminToken string
	// Dir holds certificates, configuration, data and one log file per
	// process (NAME.log).
	Dir string
	// ReadyAfter is the time from the first process start until every
	// component answered its health check.
	ReadyAfter time.Duration

	caPEM    []byte
	procs    proctest.Group
	ownsDir  bool
	stopOnce sync.Once
	stopErr  error
}

// Option changes how New starts a cluster.
type Option func(*options)

type options struct {
	binDir string
	dir    string
}

// WithBinDir runs the binaries from dir instead of BinDir().
func WithBinDir(dir string) Option { return func(o *options) { o.binDir = dir } }

// WithDir keeps the cluster's files in dir, which must exist, instead of a
// temporary directory that Stop removes.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

func collectOptions(opts []Option) options {
	o := options{binDir: BinDir()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Start starts a cluster for one test and stops it in t.Cleanup, printing
// the tail of every process log when t failed. It skips t when the binaries
// are missing, or fails it when the environment has CI=true.
func Start(ctx context.Context, t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := collectOptions(opts)
	requireBinaries(t, o.binDir)
	if o.dir == "" {
		opts = append(opts, WithDir(t.TempDir()))
	}
	c, err := New(ctx, opts...)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.LogTails(40))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// New starts a cluster and waits until it is ready. The caller must call
// Stop. When a binary is missing the error wraps ErrBinariesMissing; when a
// component does not come up, the error holds the tail of every log.
func New(ctx context.Context, opts ...Option) (*Cluster, error) {
	o := collectOptions(opts)
	if err := checkBinaries(o.binDir); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	c := &Cluster{Dir: o.dir}
	if c.Dir == "" {
		removeStaleDirs()
		dir, err := os.MkdirTemp("", tempDirPrefix)
		if err != nil {
			return nil, fmt.Errorf("create cluster dir: %w", err)
		}
		c.Dir, c.ownsDir = dir, true
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.start(ctx, o.binDir)
		if err == nil {
			return c, nil
		}
		// Free ports are found by binding and closing, so a concurrent test
		// binary can take one first; start over on new ports then.
		if attempt < 3 && c.procs.PortTaken() {
			if stopErr := c.procs.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			} else if err := os.RemoveAll(filepath.Join(c.Dir, "etcd")); err == nil {
				c.procs = nil
				continue
			}
		}
		err = fmt.Errorf("%w\n%s", err, c.LogTails(30))
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
}

// ports are the listeners of one cluster, all on 127.0.0.1.
type ports struct {
	etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok int
}

func (c *Cluster) start(ctx context.Context, binDir string) error {
	pt, err := proctest.FreePorts(6)
	if err != nil {
		return err
	}
	port := ports{pt[0], pt[1], pt[2], pt[3], pt[4], pt[5]}
	apiserverURL := "https://127.0.0.1:" + strconv.Itoa(port.apiserver)
	p, err := c.writeFiles(apiserverURL)
	if err != nil {
		return err
	}
	started := time.Now()

	// The apiserver retries its etcd connection, so both start at once.
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(port.etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(port.etcdPeer)
	if err := c.run(binDir, "etcd",
		"--name=clustertest",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=clustertest="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.run(binDir, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port.apiserver),
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.Dir, "kube-apiserver"),
		"--tls-cert-file="+p.path("apiserver.crt"),
		"--tls-private-key-file="+p.path("apiserver.key"),
		"--client-ca-file="+p.path("ca.crt"),
		"--token-auth-file="+p.path("tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--kubelet-client-certificate="+p.path("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+p.path("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p.path("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--requestheader-client-ca-file="+p.path("ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+p.path("front-proxy-client.crt"),
		"--proxy-client-key-file="+p.path("front-proxy-client.key"),
		"--allow-privileged=true",
		"--profiling=false",
	); err != nil {
		return err
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return err
	}

	if err := c.run(binDir, "kube-controller-manager",
		"--kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port.controllerManager),
		"--cert-dir="+filepath.Join(c.Dir, "kube-controller-manager"),
		"--leader-elect=false",
		"--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
		"--use-service-account-credentials=true",
		// The default 20 QPS delays the start of each controller by
		// ~150ms while it fetches its ServiceAccount token: ~5s in all.
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--profiling=false",
	); err != nil {
		return err
	}
	if err := c.run(binDir, "kube-scheduler",
		"--kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port.scheduler),
		"--cert-dir="+filepath.Join(c.Dir, "kube-scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	); err != nil {
		return err
	}
	kwokConfig, err := writeKwokConfig(c.Dir, port.kwok, p.path("kwok-serving.crt"), p.path("kwok-serving.key"))
	if err != nil {
		return err
	}
	if err := c.run(binDir, "kwok",
		"--kubeconfig="+p.path("kwok.kubeconfig"),
		"--config="+kwokConfig,
	); err != nil {
		return err
	}

	// kube-controller-manager and kube-scheduler serve self-signed
	// certificates from memory; kwok serves one from our CA.
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // health probe of a local test process
	}}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	verified := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
	checks := []struct {
		proc   string
		client *http.Client
		url    string
	}{
		{"kube-controller-manager", insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", port.controllerManager)},
		{"kube-scheduler", insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", port.scheduler)},
		{"kwok", verified, fmt.Sprintf("https://127.0.0.1:%d/healthz", port.kwok)},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.waitHTTP(ctx, ch.proc, ch.client, ch.url)
		}()
	}
	wg.Wait()
	// A health check answered by another test's component on a port taken
	// in between would pass while ours died at bind.
	errs = append(errs, c.procs.Exited())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.ReadyAfter = time.Since(started)
	return nil
}

// files names what writeFiles put in the cluster dir.
type files struct{ dir string }

func (f files) path(name string) string { return filepath.Join(f.dir, name) }

// writeFiles creates the CA, every certificate, the service account keys,
// the token file and the kubeconfigs of the components, and sets Config,
// Client and Kubeconfig.
func (c *Cluster) writeFiles(server string) (files, error) {
	dir := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return files{}, err
	}
	f := files{dir: dir}
	ca, err := newPKI(dir)
	if err != nil {
		return files{}, err
	}
	c.caPEM = ca.caPEM
	localhost := []net.IP{net.IPv4(127, 0, 0, 1)}
	if _, err := ca.issue("apiserver", certRequest{
		commonName: "kube-apiserver",
		ips:        append(localhost, net.IPv4(10, 96, 0, 1)),
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		server: true,
	}); err != nil {
		return files{}, err
	}
	if _, err := ca.issue("apiserver-kubelet-client", certRequest{
		commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}, client: true,
	}); err != nil {
		return files{}, err
	}
	// The aggregation layer's identity; configuring it also gives the
	// extension-apiserver-authentication ConfigMap the request-header CA
	// that controller-manager and scheduler look for.
	if _, err := ca.issue("front-proxy-client", certRequest{commonName: "front-proxy-client", client: true}); err != nil {
		return files{}, err
	}
	if _, err := ca.issue("kwok-serving", certRequest{
		commonName: "kwok", ips: localhost, dnsNames: []string{"localhost"}, server: true,
	}); err != nil {
		return files{}, err
	}
	if _, _, err := ca.serviceAccountKeys(); err != nil {
		return files{}, err
	}

	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return files{}, err
	}
	c.AdminToken = hex.EncodeToString(token)
	tokens := fmt.Sprintf("%s,clustertest-token-admin,clustertest-token-admin,\"system:masters\"\n", c.AdminToken)
	if err := os.WriteFile(f.path("tokens.csv"), []byte(tokens), 0o600); err != nil {
		return files{}, err
	}

	// Each component authenticates as itself, so RBAC applies to all but
	// the admin and kwok (which needs to write any node and pod status).
	clients := []struct{ name, user, group string }{
		{"admin", "clustertest-admin", "system:masters"},
		{"kube-controller-manager", "system:kube-controller-manager", ""},
		{"kube-scheduler", "system:kube-scheduler", ""},
		{"kwok", "kwok-controller", "system:masters"},
	}
	for _, cl := range clients {
		req := certRequest{commonName: cl.user, client: true}
		if cl.group != "" {
			req.organization = []string{cl.group}
		}
		kp, err := ca.issue(cl.name, req)
		if err != nil {
			return files{}, err
		}
		cfg := &rest.Config{Host: server, TLSClientConfig: rest.TLSClientConfig{
			CAData: c.caPEM, CertData: kp.certPEM, KeyData: kp.keyPEM,
		}}
		path := f.path(cl.name + ".kubeconfig")
		if cl.name == "admin" {
			path = filepath.Join(c.Dir, "admin.kubeconfig")
			c.Config, c.Kubeconfig = cfg, path
		}
		if err := WriteKubeconfig(path, cfg, ""); err != nil {
			return files{}, err
		}
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return files{}, fmt.Errorf("admin client: %w", err)
	}
	c.Client = client
	return f, nil
}

// run starts binDir/name in the cluster dir with a minimal environment: no
// KUBECONFIG, proxies or ~/.kwok from the developer's shell leak into the
// cluster.
func (c *Cluster) run(binDir, name string, args ...string) error {
	env := []string{"HOME=" + c.Dir, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + c.Dir}
	p, err := proctest.Start(c.Dir, name, filepath.Join(binDir, name), args, env)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// poll calls check every 50ms until it returns nil, the process named
// proc exits, or ctx ends.
func (c *Cluster) poll(ctx context.Context, proc string, check func(context.Context) error) error {
	return c.procs.Poll(ctx, 50*time.Millisecond, proc, check)
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	rc := c.Client.Discovery().RESTClient()
	return c.poll(ctx, "kube-apiserver", func(ctx context.Context) error {
		if p := c.procs.Find("etcd"); p != nil {
			if err := p.Exited(); err != nil {
				return err
			}
		}
		_, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	})
}

func (c *Cluster) waitHTTP(ctx context.Context, proc string, client *http.Client, url string) error {
	return c.poll(ctx, proc, func(ctx context.Context) error {
		return proctest.GetOK(ctx, client, url)
	})
}

// Stop kills every process (its whole process group), waits for them to
// exit and removes the cluster dir when New created it. It is safe to call
// more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.procs.Stop()
		if c.ownsDir {
			c.stopErr = errors.Join(c.stopErr, os.RemoveAll(c.Dir))
		}
	})
	return c.stopErr
}

// ProcessRSS is the resident memory of one component (Name, PID, Bytes).
type ProcessRSS = proctest.RSS

// RSS reports VmRSS of every component, in start order.
func (c *Cluster) RSS() ([]ProcessRSS, error) { return c.procs.RSS() }

// LogTails returns the last n lines of every component's log.
func (c *Cluster) LogTails(n int) string { return c.procs.LogTails(n) }

const (
	tempDirPrefix = "clustertest-"
	// ownerFile holds the PID of the test binary that owns a cluster dir.
	ownerFile = "owner.pid"
)

// removeStaleDirs deletes cluster dirs of test binaries that were killed
// before they could clean up (their processes died with them), so that
// etcd's preallocated WAL files do not pile up in the temp dir.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
