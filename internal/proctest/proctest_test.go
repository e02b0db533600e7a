package proctest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CacheDir is tested through clustertest.BinDir and argocdtest.BinDir.

func TestSkipOrFail(t *testing.T) {
	t.Setenv("CI", "")
	r := &Recorder{TB: t}
	SkipOrFail(r, "%s missing (build it with %s)", "tool", "hack/x.sh")
	if want := "tool missing (build it with hack/x.sh); skipping (with CI=true this fails)"; r.SkippedWith != want || r.FailedWith != "" {
		t.Errorf("without CI: skipped %q, failed %q; want skipped %q", r.SkippedWith, r.FailedWith, want)
	}

	t.Setenv("CI", "true")
	r = &Recorder{TB: t}
	Require(r, errors.New("tool missing (build it with hack/x.sh)"))
	if want := "tool missing (build it with hack/x.sh); CI=true, so this is a failure"; r.FailedWith != want || r.SkippedWith != "" {
		t.Errorf("CI=true: skipped %q, failed %q; want failed %q", r.SkippedWith, r.FailedWith, want)
	}
	r = &Recorder{TB: t}
	Require(r, nil)
	if r.SkippedWith != "" || r.FailedWith != "" {
		t.Errorf("nothing missing: skipped %q, failed %q", r.SkippedWith, r.FailedWith)
	}
}

func TestRequireTools(t *testing.T) {
	t.Setenv("CI", "true")
	if got := MissingTools("sh", "derrick-no-such-tool"); len(got) != 1 || got[0] != "derrick-no-such-tool" {
		t.Errorf("MissingTools = %q, want only derrick-no-such-tool", got)
	}
	r := &Recorder{TB: t}
	RequireTools(r, "sh", "derrick-no-such-tool")
	if !strings.Contains(r.FailedWith, "derrick-no-such-tool not installed (install with hack/install-deps.sh)") {
		t.Errorf("fatal %q, want the missing tool and how to install it", r.FailedWith)
	}
	r = &Recorder{TB: t}
	RequireTools(r, "sh")
	if r.SkippedWith != "" || r.FailedWith != "" {
		t.Errorf("sh present: skipped=%q fatal=%q", r.SkippedWith, r.FailedWith)
	}
}

// sh starts a shell script as a Process in dir.
func sh(t *testing.T, dir, name, script string) *Process {
	t.Helper()
	p, err := Start(dir, name, "/bin/sh", []string{"-c", script}, []string{"PATH=" + os.Getenv("PATH")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	// The child of the shell shares its process group, so Stop kills it too.
	p := sh(t, dir, "worker", `echo one; echo two; echo three; sleep 600 & echo $! > child.pid; wait`)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var child []byte
	err := Group{p}.Poll(ctx, 10*time.Millisecond, "worker", func(context.Context) error {
		var err error
		child, err = os.ReadFile(filepath.Join(dir, "child.pid"))
		if err == nil && !strings.HasSuffix(string(child), "\n") {
			err = errors.New("child.pid not written yet")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Tail(2); got != "two\nthree" {
		t.Errorf("Tail(2) = %q, want two lines", got)
	}
	if p.LogPath != filepath.Join(dir, "worker.log") {
		t.Errorf("LogPath = %q", p.LogPath)
	}
	if rss, err := p.RSS(); err != nil || rss <= 0 {
		t.Errorf("RSS() = %d, %v", rss, err)
	}
	if err := p.Exited(); err != nil {
		t.Errorf("running process: Exited() = %v", err)
	}
	if _, err := p.Restart(); err == nil {
		t.Errorf("Restart of a running process succeeded")
	}

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Exited(); err == nil || !strings.Contains(err.Error(), "worker exited") || !strings.Contains(err.Error(), p.LogPath) {
		t.Errorf("stopped process: Exited() = %v, want it named with its log", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(child), &pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child %d of the process group survived Stop (kill -0: %v)", pid, err)
	}

	again, err := p.Restart()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Stop() })
	if old, err := os.ReadFile(p.LogPath + ".1"); err != nil || !strings.HasPrefix(string(old), "one\n") {
		t.Errorf("the previous log was not kept as worker.log.1: %q, %v", old, err)
	}
	if again.LogPath != p.LogPath || again.PID() == p.PID() {
		t.Errorf("restarted: log %s pid %d, was log %s pid %d", again.LogPath, again.PID(), p.LogPath, p.PID())
	}
}

func TestGroup(t *testing.T) {
	dir := t.TempDir()
	g := Group{
		sh(t, dir, "quits", `echo "listen tcp 127.0.0.1:1: bind: address already in use"; exit 3`),
		sh(t, dir, "runs", `echo up; exec sleep 600`),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := g.Poll(ctx, 10*time.Millisecond, "quits", func(context.Context) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "quits exited: exit status 3") {
		t.Errorf("Poll while the process exits = %v, want its exit", err)
	}
	if err := g.Exited(); err == nil || strings.Contains(err.Error(), "runs") {
		t.Errorf("Exited() = %v, want only quits", err)
	}
	if !g.PortTaken() {
		t.Errorf("PortTaken() = false with a bind error in a log")
	}
	if g.Find("runs") != g[1] || g.Find("none") != nil {
		t.Errorf("Find does not find by name")
	}
	if _, err := g.RSS(); err == nil {
		t.Errorf("RSS() of a group with an exited process succeeded")
	}
	if rss, err := g[1:].RSS(); err != nil || len(rss) != 1 || rss[0].Name != "runs" || rss[0].PID != g[1].PID() || rss[0].Bytes <= 0 {
		t.Errorf("RSS() = %+v, %v", rss, err)
	}
	// "runs" may not have written its line yet on a loaded machine.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(g[1].LogPath); strings.Contains(string(b), "up\n") {
			break
		}
	}
	tails := g.LogTails(5)
	for _, want := range []string{"--- quits (last 5 lines of " + g[0].LogPath + ") ---\n", "--- runs (last 5 lines of", "up\n"} {
		if !strings.Contains(tails, want) {
			t.Errorf("LogTails lacks %q:\n%s", want, tails)
		}
	}

	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = g.Poll(short, 10*time.Millisecond, "runs", func(context.Context) error { return errors.New("no answer") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "runs not ready") || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("Poll until the deadline = %v", err)
	}

	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if g[1].Exited() == nil {
		t.Errorf("runs is running after Stop")
	}
}

func TestMemory(t *testing.T) {
	rss, peak, err := Memory(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("Memory(self) = %d, %d, %v; want 0 < rss <= peak", rss, peak, err)
	}
	if _, _, err := Memory(-1); err == nil {
		t.Errorf("Memory(-1) succeeded")
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("FreePorts(3) = %v, want 3 distinct ports", ports)
	}
}

func TestGetOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := GetOK(t.Context(), srv.Client(), srv.URL+"/healthz"); err != nil {
		t.Errorf("200: %v", err)
	}
	if err := GetOK(t.Context(), srv.Client(), srv.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("503: %v, want the status", err)
	}
}
