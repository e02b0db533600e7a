package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/gitlabtest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// The built binary in watch mode against the GitLab stand-in, the Telegram
// emulator and a real kube-apiserver holding its state ConfigMap, as a
// ServiceAccount allowed get and update on that one ConfigMap only.

const (
	gitlabToken = "glpat-NotifierWatchTestSecret"
	watchNS     = "watch-test"
	stateCM     = "oil-bot-watcher-state"
	watchSA     = "watcher"
	glProject   = "oil/refinery"
	botLease    = "oil-bot-bot"
)

// watchCluster makes the namespace, the ConfigMap and a ServiceAccount
// with get and update on it by name, and returns that SA's kubeconfig.
func watchCluster(t *testing.T) (*clustertest.Cluster, string) {
	t.Helper()
	ctx := t.Context()
	c := clustertest.Shared(t)
	cs := c.Client
	create := func(err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: watchNS}}, metav1.CreateOptions{})
	create(err)
	c.SeedNamespace(ctx, t, watchNS)
	_ = cs.CoreV1().ConfigMaps(watchNS).Delete(ctx, stateCM, metav1.DeleteOptions{})
	_, err = cs.CoreV1().ConfigMaps(watchNS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: stateCM}}, metav1.CreateOptions{})
	create(err)
	_, err = cs.CoreV1().ServiceAccounts(watchNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: watchSA}}, metav1.CreateOptions{})
	create(err)
	_, err = cs.RbacV1().Roles(watchNS).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: watchSA},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{stateCM}, Verbs: []string{"get", "update"}},
			// The bot's Lease, as the chart's Role grants it (the watcher only reads it).
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{botLease}, Verbs: []string{"get"}},
		}},
		metav1.CreateOptions{})
	create(err)
	_, err = cs.RbacV1().RoleBindings(watchNS).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: watchSA},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: watchSA},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: watchSA, Namespace: watchNS}}}, metav1.CreateOptions{})
	create(err)
	return c, c.ServiceAccountKubeconfig(ctx, t, watchNS, watchSA)
}

// watcherProc is a running `notifier watch`.
type watcherProc struct {
	cmd  *exec.Cmd
	addr string // of /healthz and /metrics
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	code int
}

func (p *watcherProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func watchEnv(tg *telegramtest.Server, gl *gitlabtest.Server, kubeconfig string) []string {
	return []string{
		"TELEGRAM_BOT_TOKEN=" + token, "TELEGRAM_CHAT_ID=-1001234567890", "TELEGRAM_API_URL=" + tg.URL(),
		"GITLAB_URL=" + gl.URL(), "GITLAB_TOKEN=" + gitlabToken, "WATCH_PROJECTS=" + glProject,
		"WATCH_STATE_CONFIGMAP=" + stateCM, "WATCH_NAMESPACE=" + watchNS, "KUBECONFIG=" + kubeconfig,
		"WATCH_INTERVAL=200ms", "WATCH_CREATED_GRACE=1s", "WATCH_REQUEST_TIMEOUT=500ms",
		"WATCH_HTTP_ADDR=127.0.0.1:0", "NOTIFY_TIMEOUT=2s",
	}
}

// startWatcher runs the binary and waits for its "watcher started" line.
func startWatcher(t *testing.T, env []string) *watcherProc {
	t.Helper()
	p := &watcherProc{cmd: exec.Command(binary, "watch"), done: make(chan struct{})}
	p.cmd.Env = env
	stderr, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, HTTP string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "watcher started" {
				started <- rec.HTTP
			}
		}
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		checkNoToken(t, p.output())
	})
	select {
	case p.addr = <-started:
	case <-p.done:
		t.Fatalf("watcher exited %d before starting:\n%s", p.code, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("watcher did not start:\n%s", p.output())
	}
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *watcherProc) stop(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("watcher did not stop within 15s of SIGTERM")
	}
	return p.code
}

func checkNoToken(t *testing.T, out string) {
	t.Helper()
	for _, secret := range []string{token[strings.IndexByte(token, ':')+1:], gitlabToken} {
		if strings.Contains(out, secret) {
			t.Errorf("a token appears in the watcher's output:\n%s", out)
		}
	}
}

// metric reads one sample of /metrics.
func (p *watcherProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			total += v
		}
	}
	return total
}

// waitFor polls cond until it holds or 30s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// looks waits until the watcher has listed the project n more times.
func looks(t *testing.T, gl *gitlabtest.Server, n int) {
	t.Helper()
	from := gl.Count("pipelines")
	waitFor(t, fmt.Sprintf("%d more looks", n), func() bool { return gl.Count("pipelines") >= from+n })
}

func notifyJobs(created, success, failed string) []gitlabtest.Job {
	return []gitlabtest.Job{
		{Name: "build", Status: "success"},
		{Name: "notify-created", Status: created},
		{Name: "notify-success", Status: success},
		{Name: "notify-failed", Status: failed},
	}
}

func msk(tm time.Time) string {
	return tm.In(time.FixedZone("MSK", 3*3600)).Format("2006-01-02 15:04:05 MST")
}

func TestWatchBinary(t *testing.T) {
	begin := time.Now()
	c, kubeconfig := watchCluster(t)
	t.Logf("cluster ready after %v", time.Since(begin).Round(time.Millisecond))
	tg := emulator(t)
	gl, err := gitlabtest.Start(gitlabToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gl.Close)
	gl.AddProject(42, glProject)
	created := time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Second)
	set := func(id int64, status string, jobs []gitlabtest.Job) {
		gl.SetPipeline(glProject, gitlabtest.Pipeline{ID: id, Status: status, Ref: "main", CreatedAt: created})
		gl.SetJobs(glProject, id, jobs...)
	}
	lineOf := func(id int64, word string) string {
		return fmt.Sprintf("Пайплайн %d %s main %s", id, msk(created), word)
	}

	set(101, "canceled", notifyJobs("success", "canceled", "canceled"))
	set(102, "success", notifyJobs("success", "success", "skipped"))
	set(103, "success", notifyJobs("success", "failed", "skipped")) // notify-success failed to start
	env := watchEnv(tg, gl, kubeconfig)
	p := startWatcher(t, env)

	want := []string{lineOf(101, "завершен неуспешно"), lineOf(103, "завершен успешно")}
	waitFor(t, "the first two lines", func() bool { return len(tg.Messages(chatID)) >= 2 })
	looks(t, gl, 3)
	if diff := cmp.Diff(want, texts(tg.Messages(chatID))); diff != "" {
		t.Fatalf("group received (-want +got):\n%s", diff)
	}

	// A pipeline stuck pending: "создан" after the 1s grace, counted from its creation.
	stuck := time.Now().UTC().Truncate(time.Millisecond)
	gl.SetPipeline(glProject, gitlabtest.Pipeline{ID: 104, Status: "pending", Ref: "main", CreatedAt: stuck})
	gl.SetJobs(glProject, 104, notifyJobs("pending", "created", "created")...)
	waitFor(t, "the created line of the stuck pipeline", func() bool { return len(tg.Messages(chatID)) >= 3 })
	if waited := time.Since(stuck); waited < time.Second {
		t.Errorf("created line after %v, before WATCH_CREATED_GRACE=1s", waited)
	}
	want = append(want, fmt.Sprintf("Пайплайн 104 %s main создан", msk(stuck)))

	// GitLab errors and a hung request while a pipeline is canceled.
	gl.InjectFault(gitlabtest.Fault{Endpoint: "pipelines", Times: 2, Status: 503})
	gl.InjectFault(gitlabtest.Fault{Endpoint: "jobs", Times: 1, Delay: 10 * time.Second})
	gl.InjectFault(gitlabtest.Fault{Endpoint: "jobs", Times: 1, Status: 500})
	set(105, "canceled", notifyJobs("failed", "canceled", "canceled"))
	want = append(want, lineOf(105, "создан"), lineOf(105, "завершен неуспешно"))
	waitFor(t, "the lines of pipeline 105", func() bool { return len(tg.Messages(chatID)) >= 5 })
	if got := p.metric(t, "derrick_watch_gitlab_errors_total"); got < 4 {
		t.Errorf("derrick_watch_gitlab_errors_total = %v, want at least 4 (2×503, a timeout, a 500)", got)
	}
	if got := p.metric(t, "derrick_watch_announced_total"); got != 5 {
		t.Errorf("derrick_watch_announced_total = %v, want 5", got)
	}
	if resp, err := http.Get("http://" + p.addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}

	t.Logf("faults handled after %v", time.Since(begin).Round(time.Millisecond))
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
				t.Logf("watcher process %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	// Restart: the new process reads the ConfigMap and repeats nothing.
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	p = startWatcher(t, env)
	looks(t, gl, 5)
	if diff := cmp.Diff(want, texts(tg.Messages(chatID))); diff != "" {
		t.Fatalf("after a restart (-want +got):\n%s", diff)
	}
	set(106, "failed", notifyJobs("success", "skipped", "failed"))
	want = append(want, lineOf(106, "завершен неуспешно"))
	waitFor(t, "the line of pipeline 106", func() bool { return len(tg.Messages(chatID)) >= 6 })
	looks(t, gl, 3)
	if diff := cmp.Diff(want, texts(tg.Messages(chatID))); diff != "" {
		t.Errorf("group received in all (-want +got):\n%s", diff)
	}

	cm, err := c.Client.CoreV1().ConfigMaps(watchNS).Get(t.Context(), stateCM, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := cm.Data["state.json"]; !strings.Contains(s, `"106"`) || !strings.Contains(s, glProject) {
		t.Errorf("state ConfigMap lacks the pipelines: %s", s)
	}
}

func TestWatchBinaryRefusesToStart(t *testing.T) {
	c, kubeconfig := watchCluster(t)
	tg := emulator(t)
	gl, err := gitlabtest.Start(gitlabToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gl.Close)
	tests := []struct {
		name, env, want string
	}{
		{"ConfigMap the SA may not read", "WATCH_STATE_CONFIGMAP=kube-root-ca.crt", "may not get it"},
		{"bad interval", "WATCH_INTERVAL=often", "WATCH_INTERVAL must be a Go duration"},
		{"no projects", "WATCH_PROJECTS=", "WATCH_PROJECTS is not set"},
	}
	// Last: the ConfigMap deleted (the SA may get it by name: 404).
	tests = append(tests, struct{ name, env, want string }{"missing ConfigMap", "WATCH_NAMESPACE=" + watchNS,
		"ConfigMap watch-test/oil-bot-watcher-state (WATCH_STATE_CONFIGMAP): state ConfigMap not found: the chart creates it with watcher.enabled"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "missing ConfigMap" {
				if err := c.Client.CoreV1().ConfigMaps(watchNS).Delete(t.Context(), stateCM, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.CommandContext(context.Background(), binary, "watch")
			cmd.Env = append(watchEnv(tg, gl, kubeconfig), tt.env)
			out, err := cmd.CombinedOutput()
			code := -1
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			}
			if code != 2 || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, output %s; want 2 and %q", code, out, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n != 0 {
				t.Errorf("want one line, got:\n%s", out)
			}
			checkNoToken(t, string(out))
		})
	}
}

// TestWatchBinaryOnlyTheLeaseHolderPosts: two replicas' watchers against
// one state ConfigMap and the bot's Lease on the real API server. Only the
// holder's watcher posts; after a handover the other one takes over from
// the saved state, and no ending reaches the group twice.
func TestWatchBinaryOnlyTheLeaseHolderPosts(t *testing.T) {
	c, kubeconfig := watchCluster(t)
	ctx := t.Context()
	leases := c.Client.CoordinationV1().Leases(watchNS)
	_ = leases.Delete(ctx, botLease, metav1.DeleteOptions{})
	hold := func(holder string) {
		t.Helper()
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, botLease, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: botLease}}
		} else if err != nil {
			t.Fatal(err)
		}
		d := int32(15)
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &d, AcquireTime: &now, RenewTime: &now}
		if l.ResourceVersion == "" {
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		} else {
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	hold("bot-a")
	tg := emulator(t)
	gl, err := gitlabtest.Start(gitlabToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gl.Close)
	gl.AddProject(42, glProject)
	created := time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Second)
	canceled := func(id int64) {
		gl.SetPipeline(glProject, gitlabtest.Pipeline{ID: id, Status: "canceled", Ref: "main", CreatedAt: created})
		gl.SetJobs(glProject, id, notifyJobs("success", "canceled", "canceled")...)
	}
	lineOf := func(id int64) string {
		return fmt.Sprintf("Пайплайн %d %s main завершен неуспешно", id, msk(created))
	}

	env := append(watchEnv(tg, gl, kubeconfig), "WATCH_LEASE="+botLease)
	a := startWatcher(t, append(env, "POD_NAME=bot-a"))
	b := startWatcher(t, append(env, "POD_NAME=bot-b"))
	waitFor(t, "both watchers to judge the lease", func() bool {
		return a.metric(t, "derrick_watch_leading") == 1 && strings.Contains(b.output(), "another replica holds the bot's lease")
	})

	canceled(201)
	want := []string{lineOf(201)}
	waitFor(t, "the line of pipeline 201", func() bool { return len(tg.Messages(chatID)) >= 1 })
	looks(t, gl, 6) // both would have posted by now
	if diff := cmp.Diff(want, texts(tg.Messages(chatID))); diff != "" {
		t.Fatalf("with bot-a holding the lease (-want +got):\n%s", diff)
	}
	if got := b.metric(t, "derrick_watch_announced_total"); got != 0 {
		t.Errorf("the standby watcher announced %v lines", got)
	}

	// Handover to bot-b (its bot took the lease): b reads a's state.
	hold("bot-b")
	waitFor(t, "bot-b's watcher to take over", func() bool { return b.metric(t, "derrick_watch_leading") == 1 })
	canceled(202)
	want = append(want, lineOf(202))
	waitFor(t, "the line of pipeline 202", func() bool { return len(tg.Messages(chatID)) >= 2 })
	looks(t, gl, 6)
	if diff := cmp.Diff(want, texts(tg.Messages(chatID))); diff != "" {
		t.Fatalf("after the handover (-want +got):\n%s", diff)
	}
	if got := a.metric(t, "derrick_watch_leading"); got != 0 {
		t.Errorf("bot-a's watcher still leads (%v) after bot-b took the lease", got)
	}
}
