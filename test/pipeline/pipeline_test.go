package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const (
	chatID   = int64(-1001234567890)
	botToken = "4242:derrick-pipeline-test"
	// The pipeline start every run reports, and how the notifier shows it (NOTIFY_TZ
	// default Europe/Moscow). Fixed so that a job run apart from its pipeline (the
	// on_failure workaround below) reports the same start.
	createdAt = "2026-11-26T04:00:36Z"
	shownAt   = "2026-11-26 07:00:36 MSK"
)

// stack is what the example pipeline talks to: a registry, the Telegram emulator, the
// notifier on PATH, and a containers storage of its own that holds a copy of the
// cached base image.
type stack struct {
	root     string
	registry *registry
	telegram *telegramtest.Server
	env      []string // of gitlab-ci-local and so of every job
	storage  string   // the storage.conf of this test's containers storage
	project  string   // the components' project path and version the example pins
	version  string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{root: root(t)}
	_, s.project, s.version = exampleIncludes(t)

	bin := t.TempDir()
	mustRun(t, s.root, nil, "go", "build", "-o", filepath.Join(bin, "notifier"), "./notifier")
	// The component runs `pylint` from PATH: make it Debian's.
	if err := os.Symlink("/usr/bin/pylint", filepath.Join(bin, "pylint")); err != nil {
		t.Fatal(err)
	}

	// hack/containers/env.sh: the containers.conf that works on this host and the
	// shared storage that caches the base image.
	out := mustRun(t, s.root, nil, "bash", "-c",
		`. hack/containers/env.sh && printf '%s\n%s\n' "$CONTAINERS_CONF" "$containers_dir"`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("hack/containers/env.sh printed %q", out)
	}
	containersConf, shared := lines[0], lines[1]

	// Everything the pipelines build, pull and run goes to a storage that is removed
	// after the test; only the base image is copied in from the shared one.
	store := t.TempDir()
	s.storage = filepath.Join(store, "storage.conf")
	conf := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(store, "graph"), filepath.Join(store, "run"))
	if err := os.WriteFile(s.storage, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	containerEnv := []string{
		"CONTAINERS_CONF=" + containersConf,
		"CONTAINERS_STORAGE_CONF=" + s.storage,
		"BUILDAH_ISOLATION=chroot",
	}
	t.Cleanup(func() {
		// The probe removes its container; this catches one left by a killed run.
		_, _ = run(t, store, append(os.Environ(), containerEnv...), "podman", "rm", "--all", "--force")
	})

	base := baseImage(t)
	start := time.Now()
	mustRun(t, s.root, nil, "bash", "hack/pipeline/base-image.sh", base)
	t.Logf("base image %s ready in %s", base, time.Since(start).Round(time.Second))
	from := fmt.Sprintf("containers-storage:[vfs@%s+%s]%s", filepath.Join(shared, "storage"), filepath.Join(shared, "run"), base)
	mustRun(t, store, append(os.Environ(), containerEnv...), "skopeo", "copy", "--quiet", from, "containers-storage:"+base)

	s.registry = startRegistry(t)
	tg, err := telegramtest.New(telegramtest.Config{Token: botToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	s.telegram = tg

	s.env = gitEnv(append(containerEnv, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))...)
	return s
}

// baseImage is the image of the example Containerfile's FROM line.
func baseImage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), exampleDir, "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the example Containerfile has no FROM")
	}
	return string(m[1])
}

// repo makes a throwaway copy of the example app on branch, with the components
// where gitlab-ci-local looks for them.
func (s *stack) repo(t *testing.T, branch string) string {
	t.Helper()
	dir := newRepo(t, filepath.Join(s.root, exampleDir), branch, appProject)
	provideComponents(t, dir, s.project, s.version)
	// GitLab skips notify-deploy while the manual argo-promote it needs is not
	// played, and the pipeline passes (GitLab 13.12 and later); gitlab-ci-local
	// instead refuses the whole pipeline ("argo-promote is when:manual, its needed
	// by notify-deploy, and not specified in --manual"). Replay GitLab's rule with
	// gitlab-ci-local's file of local overrides. The promotion and its message run
	// in TestArgoPromoteRealArgoCD.
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci-local.yml"), []byte(skipNotifyDeploy), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// skipNotifyDeploy is the .gitlab-ci-local.yml of a pipeline whose manual promotion
// is not played.
const skipNotifyDeploy = "notify-deploy:\n  rules:\n    - when: never\n"

// pipeline runs gitlab-ci-local in repo with the shell executor, pointed at the stack,
// plus extra arguments (more --input, or job names). probePort is where the app listens.
func (s *stack) pipeline(t *testing.T, repo string, probePort int, extra ...string) (string, error) {
	t.Helper()
	port := strconv.Itoa(probePort)
	args := []string{
		"--force-shell-executor", "--no-color",
		"--ignore-predefined-vars", "CI_REGISTRY,CI_PIPELINE_CREATED_AT",
		"--variable", "CI_REGISTRY=" + s.registry.addr,
		"--variable", "CI_REGISTRY_USER=" + s.registry.user,
		"--variable", "CI_REGISTRY_PASSWORD=" + s.registry.password,
		"--variable", "CI_PIPELINE_CREATED_AT=" + createdAt,
		"--variable", "TELEGRAM_BOT_TOKEN=" + botToken,
		"--variable", "TELEGRAM_CHAT_ID=" + strconv.FormatInt(chatID, 10),
		"--variable", "TELEGRAM_API_URL=" + s.telegram.URL(),
		"--variable", "NOTIFY_TZ=Europe/Moscow", // what shownAt assumes
		// The test registry speaks plain HTTP.
		"--input", "buildah-build:tls_verify=false",
		"--input", "health-probe:tls_verify=false",
		"--input", "push:tls_verify=false",
		// The app shares the host's network: keep it on 127.0.0.1 and a free port.
		"--input", "health-probe:port=" + port,
		"--input", "health-probe:run_args=--env HOST=127.0.0.1 --env PORT=" + port,
	}
	start := time.Now()
	out, err := run(t, repo, s.env, filepath.Join(s.root, "hack/pipeline/gitlab-ci-local"), append(args, extra...)...)
	t.Logf("gitlab-ci-local %s: %s", strings.Join(extra, " "), time.Since(start).Round(100*time.Millisecond))
	if err != nil && !errExit(err) {
		t.Fatalf("%v\n%s", err, tail(out, 60))
	}
	return out, err
}

// notifyFailedApart runs the notify component's on_failure job of a failed pipeline
// when gitlab-ci-local did not start it. gitlab-ci-local starts a job only after every
// job of the earlier stages has finished, and the jobs after a failed one never
// start; so a `.post` job `when: on_failure` never runs after a failure that is not in
// the last stage before `.post`. GitLab marks those jobs skipped and runs it. This
// replays GitLab's rule: the same job, of the same pipeline (gitlab-ci-local keeps the
// pipeline ID when it runs one job), with `when: always` from .gitlab-ci-local.yml,
// gitlab-ci-local's file for local overrides. The test checks separately that the job
// is `.post` and `when: on_failure` (TestExamplePipelineJobs).
func (s *stack) notifyFailedApart(t *testing.T, repo string, port int, out string) {
	t.Helper()
	started, _ := jobResults(out)
	if slices.Contains(started, "notify-failed") {
		return
	}
	override := filepath.Join(repo, ".gitlab-ci-local.yml")
	if err := os.WriteFile(override, []byte(skipNotifyDeploy+"notify-failed:\n  when: always\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.WriteFile(override, []byte(skipNotifyDeploy), 0o644) }()
	out, err := s.pipeline(t, repo, port, "notify-failed")
	if err != nil {
		t.Fatalf("notify-failed: %v\n%s", err, tail(out, 40))
	}
}

// messages returns the texts the bot posted that name branch.
func (s *stack) messages(branch string) []string {
	var texts []string
	for _, m := range s.telegram.Messages(chatID) {
		if strings.Contains(m.Text, " "+branch+" ") {
			texts = append(texts, m.Text)
		}
	}
	return texts
}

func notification(id int, branch, state string) string {
	return fmt.Sprintf("Пайплайн %d %s %s %s", id, shownAt, branch, state)
}

// wantJobs checks the result gitlab-ci-local reported for each job ("" = did not run).
func wantJobs(t *testing.T, out string, want map[string]string) {
	t.Helper()
	started, results := jobResults(out)
	got := map[string]string{}
	for job := range want {
		got[job] = results[job]
		if got[job] == "" && slices.Contains(started, job) {
			got[job] = "started"
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job results (-want +got):\n%s\noutput:\n%s", diff, tail(out, 80))
	}
}

// TestExamplePipeline runs the example app's pipeline end to end: a good commit is
// linted, built, probed and published under its branch name with Telegram told; a lint
// error or a failing /health publishes nothing and reports the failure.
func TestExamplePipeline(t *testing.T) {
	requireTools(t, "root", "gitlab-ci-local", "git", "rsync", "go", "buildah", "podman", "skopeo",
		"docker-registry", "htpasswd", "curl", "python3", "/usr/bin/pylint", "debootstrap")
	s := newStack(t)
	const appImage = appProject // the repository push publishes to: $CI_REGISTRY_IMAGE

	t.Run("release branch is published under its own name", func(t *testing.T) {
		const branch = "0.10.5"
		repo := s.repo(t, branch)
		port := freePort(t)
		start := time.Now()
		// The defaults of the example's includes, layer cache in the registry included.
		out, err := s.pipeline(t, repo, port)
		if err != nil {
			t.Fatalf("pipeline failed: %v\n%s", err, tail(out, 80))
		}
		t.Logf("pipeline %s wall time %s", branch, time.Since(start).Round(100*time.Millisecond))
		wantJobs(t, out, map[string]string{
			"notify-created": "PASS", "pylint-errors": "PASS", "buildah-build": "PASS",
			"health-probe": "PASS", "push": "PASS", "notify-success": "PASS",
			"notify-failed": "", "argo-promote": "", "notify-deploy": "",
		})
		if want := fmt.Sprintf("health-probe: GET http://127.0.0.1:%d/health answered 200", port); !strings.Contains(out, want) {
			t.Errorf("the probe did not report %q", want)
		}
		if got := s.registry.tags(t, appImage); !slices.Contains(got, branch) {
			t.Errorf("tags of %s = %q, want %q among them", appImage, got, branch)
		}
		// Exactly the probed candidate, by digest, and that digest handed on to
		// argo-promote, which pins it.
		candidate := readDotenv(t, filepath.Join(repo, "derrick-candidate.env"))
		published, layers := s.registry.manifest(t, appImage, branch)
		if published == "" || published != candidate["DERRICK_CANDIDATE_DIGEST"] {
			t.Errorf("%s:%s is %q, the probed candidate %q", appImage, branch, published, candidate["DERRICK_CANDIDATE_DIGEST"])
		}
		if got := readDotenv(t, filepath.Join(repo, "derrick-image.env"))["DERRICK_IMAGE_DIGEST"]; got != published {
			t.Errorf("push exported DERRICK_IMAGE_DIGEST=%q, the registry has %q", got, published)
		}
		id := pipelineID(t, repo)
		if got := s.registry.tags(t, appImage+"/candidates"); !slices.Contains(got, strconv.Itoa(id)) {
			t.Errorf("candidate tags %q lack the pipeline ID %d", got, id)
		}
		want := []string{notification(id, branch, "создан"), notification(id, branch, "завершен успешно")}
		if diff := cmp.Diff(want, s.messages(branch)); diff != "" {
			t.Errorf("Telegram messages (-want +got):\n%s", diff)
		}
		report, err := os.ReadFile(filepath.Join(repo, "gl-code-quality-report.json"))
		if err != nil || strings.TrimSpace(string(report)) != "[]" {
			t.Errorf("Code Quality report = %q (%v), want []", report, err)
		}
		size := mustRun(t, repo, s.env, "podman", "image", "inspect", "--format", "{{.Size}}", candidate["DERRICK_CANDIDATE_IMAGE"])
		t.Logf("example image: %s bytes unpacked, %d bytes of compressed layers in the registry", strings.TrimSpace(size), layers)
	})

	t.Run("branch feature/x is published as feature-x", func(t *testing.T) {
		const branch = "feature/x"
		repo := s.repo(t, branch)
		port := freePort(t)
		out, err := s.pipeline(t, repo, port, "--input", "buildah-build:cache=false")
		if err != nil {
			t.Fatalf("pipeline failed: %v\n%s", err, tail(out, 80))
		}
		tags := s.registry.tags(t, appImage)
		if !slices.Contains(tags, "feature-x") || slices.ContainsFunc(tags, func(tag string) bool { return strings.Contains(tag, "feature/") }) {
			t.Errorf("tags of %s = %q, want feature-x", appImage, tags)
		}
		id := pipelineID(t, repo)
		want := []string{notification(id, branch, "создан"), notification(id, branch, "завершен успешно")}
		if diff := cmp.Diff(want, s.messages(branch)); diff != "" {
			t.Errorf("Telegram messages (-want +got):\n%s", diff)
		}
	})

	t.Run("a pylint error stops the pipeline before the build", func(t *testing.T) {
		const branch = "0.10.6"
		repo := s.repo(t, branch)
		appendFile(t, filepath.Join(repo, "app.py"), "\n\ndef broken():\n    \"\"\"Use a name that does not exist.\"\"\"\n    return undefined_name\n")
		commitAll(t, repo, "Break the lint")
		port := freePort(t)
		out, err := s.pipeline(t, repo, port)
		if err == nil {
			t.Fatalf("pipeline passed with a pylint error:\n%s", tail(out, 60))
		}
		wantJobs(t, out, map[string]string{
			"notify-created": "PASS", "pylint-errors": "FAIL", "buildah-build": "", "health-probe": "", "push": "",
			"notify-success": "",
		})
		if !strings.Contains(out, "E0602") {
			t.Errorf("pylint did not report E0602 (undefined-variable):\n%s", tail(out, 40))
		}
		report, err := os.ReadFile(filepath.Join(repo, "gl-code-quality-report.json"))
		if err != nil || !strings.Contains(string(report), `"check_name": "pylint/undefined-variable"`) {
			t.Errorf("Code Quality report lacks the error (%v):\n%s", err, report)
		}
		s.notifyFailedApart(t, repo, port, out)
		if got := s.registry.tags(t, appImage); slices.Contains(got, branch) {
			t.Errorf("tag %s published although lint failed: %q", branch, got)
		}
		id := pipelineID(t, repo)
		want := []string{notification(id, branch, "создан"), notification(id, branch, "завершен неуспешно")}
		if diff := cmp.Diff(want, s.messages(branch)); diff != "" {
			t.Errorf("Telegram messages (-want +got):\n%s", diff)
		}
	})

	t.Run("a failing /health publishes nothing", func(t *testing.T) {
		const branch = "0.10.7"
		repo := s.repo(t, branch)
		replaceInFile(t, filepath.Join(repo, "app.py"), `self.reply(200, {"status": "ok"})`, `self.reply(500, {"status": "broken"})`)
		commitAll(t, repo, "Break /health")
		port := freePort(t)
		out, err := s.pipeline(t, repo, port, "--input", "buildah-build:cache=false", "--input", "health-probe:timeout=5")
		if err == nil {
			t.Fatalf("pipeline passed with /health answering 500:\n%s", tail(out, 60))
		}
		wantJobs(t, out, map[string]string{
			"pylint-errors": "PASS", "buildah-build": "PASS", "health-probe": "FAIL", "push": "",
			"notify-success": "",
		})
		if !strings.Contains(out, "answered 500, want 200") {
			t.Errorf("the probe did not report the 500:\n%s", tail(out, 40))
		}
		if got := s.registry.tags(t, appImage); slices.Contains(got, branch) {
			t.Errorf("tag %s published although the probe failed: %q", branch, got)
		}
		s.notifyFailedApart(t, repo, port, out)
		id := pipelineID(t, repo)
		want := []string{notification(id, branch, "создан"), notification(id, branch, "завершен неуспешно")}
		if diff := cmp.Diff(want, s.messages(branch)); diff != "" {
			t.Errorf("Telegram messages (-want +got):\n%s", diff)
		}
	})
}

func appendFile(t *testing.T, file, text string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func replaceInFile(t *testing.T, file, old, replacement string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, replacement, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
