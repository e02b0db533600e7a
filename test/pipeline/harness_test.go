package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

const (
	glcVersion = "4.75.1"
	// The throwaway repositories pretend to live here; nothing contacts it.
	remoteHost  = "gitlab.example.com"
	appProject  = "oil/oil-refinery-application"
	libProject  = "derrick-kit/derrick"
	exampleDir  = "examples/oil-refinery-application"
	templateDir = "templates"
)

// root is the repository root.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// requireTools skips the test when a tool is missing, or fails it under CI=true,
// where everything hack/install-deps.sh installs must be there.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		switch tool {
		case "root":
			if os.Geteuid() != 0 {
				missing = append(missing, "root (buildah and podman run as root here)")
			}
		case "gitlab-ci-local":
			out, err := exec.Command(filepath.Join(root(t), "hack/pipeline/gitlab-ci-local"), "--version").Output()
			if err != nil || strings.TrimSpace(string(out)) != glcVersion {
				missing = append(missing, "gitlab-ci-local "+glcVersion)
			}
		default:
			if strings.HasPrefix(tool, "/") {
				if _, err := os.Stat(tool); err != nil {
					missing = append(missing, tool)
				}
			} else if _, err := exec.LookPath(tool); err != nil {
				missing = append(missing, tool)
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	proctest.SkipOrFail(t, "missing %s (bash hack/install-deps.sh installs them)", strings.Join(missing, ", "))
}

// run runs a command and returns its combined output; the error says what failed.
func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	// Jobs start podman, buildah and the app: stop the whole process group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return string(out), err
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// copyTree copies the regular files and directories under src to dst, keeping modes.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// gitEnv is the environment of git and gitlab-ci-local in throwaway repositories.
func gitEnv(extra ...string) []string {
	env := append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Derrick CI", "GIT_AUTHOR_EMAIL=ci@example.com",
		"GIT_COMMITTER_NAME=Derrick CI", "GIT_COMMITTER_EMAIL=ci@example.com",
	)
	return append(env, extra...)
}

// newRepo makes a git repository in a new directory from the files of src, on branch,
// with an `origin` remote of project on remoteHost and an origin/main ref, as
// gitlab-ci-local needs.
func newRepo(t *testing.T, src, branch, project string) string {
	t.Helper()
	dir := t.TempDir()
	if src != "" {
		copyTree(t, src, dir)
	}
	env := gitEnv()
	mustRun(t, dir, env, "git", "init", "--quiet", "--initial-branch", branch)
	mustRun(t, dir, env, "git", "config", "user.name", "Derrick CI")
	mustRun(t, dir, env, "git", "config", "user.email", "ci@example.com")
	mustRun(t, dir, env, "git", "add", "--all")
	mustRun(t, dir, env, "git", "commit", "--quiet", "--allow-empty", "-m", "Start "+branch)
	mustRun(t, dir, env, "git", "remote", "add", "origin", "https://"+remoteHost+"/"+project+".git")
	mustRun(t, dir, env, "git", "update-ref", "refs/remotes/origin/main", "HEAD")
	mustRun(t, dir, env, "git", "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	return dir
}

// commitAll commits every change in the repository.
func commitAll(t *testing.T, dir, message string) {
	t.Helper()
	mustRun(t, dir, gitEnv(), "git", "commit", "--quiet", "--all", "-m", message)
}

// provideComponents puts this repository's templates/ where gitlab-ci-local looks for
// the components a repository includes from project at version, so that nothing is
// fetched from a GitLab server.
func provideComponents(t *testing.T, repo, project, version string) {
	t.Helper()
	dst := filepath.Join(repo, ".gitlab-ci-local", "includes", remoteHost, project, version, templateDir)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(root(t), templateDir), dst)
}

var includeRE = regexp.MustCompile(`(?m)^\s*-\s*component:\s*\$CI_SERVER_FQDN/(\S+)/([a-z0-9-]+)@(\S+)\s*$`)

// exampleIncludes returns the components the example's .gitlab-ci.yml includes, by
// name, and the one project path and version they are all pinned at.
func exampleIncludes(t *testing.T) (names []string, project, version string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), exampleDir, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range includeRE.FindAllStringSubmatch(string(data), -1) {
		if project == "" {
			project, version = m[1], m[3]
		}
		if m[1] != project || m[3] != version {
			t.Errorf("component %s is included from %s@%s, the others from %s@%s", m[2], m[1], m[3], project, version)
		}
		names = append(names, m[2])
	}
	if len(names) == 0 {
		t.Fatal("the example's .gitlab-ci.yml includes no component")
	}
	return names, project, version
}

// components lists the component names in templates/ (<name>.yml or <name>/template.yml).
func components(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root(t), templateDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		switch {
		case !e.IsDir() && strings.HasSuffix(e.Name(), ".yml"):
			names = append(names, strings.TrimSuffix(e.Name(), ".yml"))
		case e.IsDir():
			if _, err := os.Stat(filepath.Join(root(t), templateDir, e.Name(), "template.yml")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	slices.Sort(names)
	return names
}

// componentFile is the file of the named component.
func componentFile(t *testing.T, name string) string {
	t.Helper()
	file := filepath.Join(root(t), templateDir, name+".yml")
	if _, err := os.Stat(file); err == nil {
		return file
	}
	return filepath.Join(root(t), templateDir, name, "template.yml")
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// registry is a docker-registry on 127.0.0.1 with filesystem storage in a temporary
// directory and htpasswd (bcrypt) authentication.
type registry struct {
	addr, user, password string
}

func startRegistry(t *testing.T) *registry {
	t.Helper()
	dir := t.TempDir()
	r := &registry{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), user: "ci", password: randomHex(t, 12)}
	htpasswd := mustRun(t, dir, nil, "htpasswd", "-Bbn", r.user, r.password)
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswd), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %[1]s/data
  delete:
    enabled: true
http:
  addr: %[2]s
  secret: %[3]s
auth:
  htpasswd:
    realm: derrick-test
    path: %[1]s/htpasswd
`, dir, r.addr, randomHex(t, 16))
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("docker-registry on %s did not come up (last error %v):\n%s", r.addr, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *registry) get(t *testing.T, method, path, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+r.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.user, r.password)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tags lists the tags of repository name via GET /v2/<name>/tags/list; none when the
// registry does not know the name.
func (r *registry) tags(t *testing.T, name string) []string {
	t.Helper()
	resp := r.get(t, http.MethodGet, "/v2/"+name+"/tags/list", "")
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/%s/tags/list: %s", name, resp.Status)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

const manifestTypes = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

// manifest returns the digest and the compressed size of the layers of name:ref.
func (r *registry) manifest(t *testing.T, name, ref string) (digest string, layerBytes int64) {
	t.Helper()
	resp := r.get(t, http.MethodGet, "/v2/"+name+"/manifests/"+ref, manifestTypes)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/%s/manifests/%s: %s", name, ref, resp.Status)
	}
	var m struct {
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		layerBytes += l.Size
	}
	return resp.Header.Get("Docker-Content-Digest"), layerBytes
}

// readDotenv reads KEY=value lines.
func readDotenv(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// pipelineID is the CI_PIPELINE_ID gitlab-ci-local gave the last pipeline of repo
// (its pipeline IID, counted in .gitlab-ci-local/state.yml, plus 1000).
func pipelineID(t *testing.T, repo string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, ".gitlab-ci-local", "state.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`pipelineIid:\s*(\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no pipelineIid in state.yml:\n%s", data)
	}
	iid, _ := strconv.Atoi(string(m[1]))
	return iid + 1000
}

var (
	startedRE = regexp.MustCompile(`(?m)^(\S+)\s+starting shell`)
	resultRE  = regexp.MustCompile(`(?m)^ (PASS|FAIL|WARN) +(\S+)`)
)

// jobResults parses gitlab-ci-local's output: the jobs that started, and the result
// (PASS, FAIL or WARN) of each.
func jobResults(out string) (started []string, results map[string]string) {
	for _, m := range startedRE.FindAllStringSubmatch(out, -1) {
		started = append(started, m[1])
	}
	results = map[string]string{}
	for _, m := range resultRE.FindAllStringSubmatch(out, -1) {
		if _, seen := results[m[2]]; !seen {
			results[m[2]] = m[1]
		}
	}
	return started, results
}

// tail returns the last n lines of s, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// errExit reports whether err is a command that ran and exited non-zero.
func errExit(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}
