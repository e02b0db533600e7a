package pipeline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"gitlab.com/derrick-kit/derrick/internal/argocdtest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

var applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// promoteTag is the tag the pipeline publishes: its branch name, as the push
// component's tag rule makes it.
const promoteTag = "0.10.5"

// argoPromoteCI is a pipeline of the argo-promote and notify components after a
// stand-in of the push component that leaves the dotenv report push leaves
// (DERRICK_IMAGE and the rest), for the image repository of argocdtest's
// manifests. The stand-in's digest is the sha256 of DERRICK_TEST_CONTENT, so a
// run with other content is a re-push of the same tag with another digest (the
// kwok nodes never pull, so no registry is needed to tell the two apart).
func argoPromoteCI(repository string) string {
	return `stages: [publish, deploy]
include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/argo-promote@$CI_COMMIT_SHA
    inputs:
      kustomize_image: ` + repository + `
      timeout: 60
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/notify@$CI_COMMIT_SHA
# Stands in for the push component: the dotenv report it leaves.
push:
  stage: publish
  script:
    - |
      {
        echo "DERRICK_IMAGE=` + repository + `:$CI_COMMIT_REF_NAME"
        echo "DERRICK_IMAGE_TAG=$CI_COMMIT_REF_NAME"
        echo "DERRICK_IMAGE_REPOSITORY=` + repository + `"
        echo "DERRICK_IMAGE_DIGEST=sha256:$(printf '%s' "$DERRICK_TEST_CONTENT" | sha256sum | cut -d ' ' -f 1)"
      } > derrick-image.env
  artifacts:
    reports:
      dotenv: derrick-image.env
`
}

// contentDigest is the digest the push stand-in gives content.
func contentDigest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// shQuote quotes s for sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// argocdCall is one run of the argocd CLI by a job: when, what and its exit code.
type argocdCall struct {
	start, end time.Time
	command    string // "app set", "app sync", ...
	rc         int
}

// argocdCLI makes a directory for PATH with `argocd`: the CLI of the multi-call
// binary hack/argocd/build.sh builds (ARGOCD_BINARY_NAME=argocd), with a HOME of
// its own so that no developer's ~/.config/argocd is read. It records every call
// (times, subcommand, exit code; never the arguments or the environment, which
// hold the token) to the returned file.
func argocdCLI(t *testing.T) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls")
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
start=$(date +%s%N)
HOME=` + shQuote(home) + ` ARGOCD_BINARY_NAME=argocd ` + shQuote(filepath.Join(argocdtest.BinDir(), "argocd")) + ` "$@"
rc=$?
printf '%s %s %s %s %s\n' "$start" "$(date +%s%N)" "$rc" "$1" "$2" >> ` + shQuote(calls) + `
exit $rc
`
	if err := os.WriteFile(filepath.Join(dir, "argocd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, calls
}

// readCalls parses the file argocdCLI's wrapper writes; none when it does not exist.
func readCalls(t *testing.T, file string) []argocdCall {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var calls []argocdCall
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) != 5 {
			t.Fatalf("argocd call log line %q", line)
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		end, err2 := strconv.ParseInt(f[1], 10, 64)
		rc, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("argocd call log line %q", line)
		}
		calls = append(calls, argocdCall{time.Unix(0, start), time.Unix(0, end), f[3] + " " + f[4], rc})
	}
	return calls
}

// glcRun is one gitlab-ci-local run: its output, and when each job started (the
// moment its "starting shell" line came out).
type glcRun struct {
	out        string
	err        error
	start, end time.Time
	jobStarted map[string]time.Time
}

// runGLC runs gitlab-ci-local in repo with env and args, reading its output as it
// comes to time the start of each job. The whole process group is killed when
// the test's context ends or after 3 minutes.
func runGLC(t *testing.T, repo string, env, args []string) glcRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(root(t), "hack/pipeline/gitlab-ci-local"), args...)
	cmd.Dir, cmd.Env = repo, env
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	r := glcRun{start: time.Now(), jobStarted: map[string]time.Time{}}
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatalf("start gitlab-ci-local: %v", err)
	}
	pw.Close()
	var b strings.Builder
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := startedRE.FindStringSubmatch(line); m != nil {
			if _, seen := r.jobStarted[m[1]]; !seen {
				r.jobStarted[m[1]] = time.Now()
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	r.err = cmd.Wait()
	r.end = time.Now()
	r.out = b.String()
	if r.err != nil && !errExit(r.err) {
		t.Fatalf("gitlab-ci-local: %v\n%s", r.err, tail(r.out, 60))
	}
	return r
}

// appState is what the test reads of the Application.
type appState struct {
	sync, health, phase string
	operation           bool // an operation is requested and not yet taken up
	images, overrides   []string
}

func (s appState) String() string {
	return fmt.Sprintf("sync %q health %q operation phase %q (pending %v), images %v, kustomize images %v",
		s.sync, s.health, s.phase, s.operation, s.images, s.overrides)
}

// settledOn reports whether the Application is Synced and Healthy, with no
// operation running or pending, and runs image.
func (s appState) settledOn(image string) bool {
	return s.sync == "Synced" && s.health == "Healthy" && !s.operation && s.phase != "Running" &&
		slices.Contains(s.images, image)
}

func readApp(ctx context.Context, dyn dynamic.Interface, argo *argocdtest.ArgoCD) (appState, error) {
	app, err := dyn.Resource(applicationGVR).Namespace(argo.ArgoNamespace).Get(ctx, argo.AppName, metav1.GetOptions{})
	if err != nil {
		return appState{}, err
	}
	return stateOf(app), nil
}

func stateOf(app *unstructured.Unstructured) appState {
	var s appState
	s.sync, _, _ = unstructured.NestedString(app.Object, "status", "sync", "status")
	s.health, _, _ = unstructured.NestedString(app.Object, "status", "health", "status")
	s.phase, _, _ = unstructured.NestedString(app.Object, "status", "operationState", "phase")
	_, s.operation, _ = unstructured.NestedMap(app.Object, "operation")
	s.images, _, _ = unstructured.NestedStringSlice(app.Object, "status", "summary", "images")
	s.overrides, _, _ = unstructured.NestedStringSlice(app.Object, "spec", "source", "kustomize", "images")
	return s
}

// stateChange is a state of the Application and when it was seen.
type stateChange struct {
	at    time.Time
	state appState
}

// watchApp watches the Application from now on, recording every state it takes
// until it is settled on image. The returned function waits for that (at most
// limit), ends the watch and returns the states seen; the last is the settled one
// unless the limit passed.
func watchApp(ctx context.Context, dyn dynamic.Interface, argo *argocdtest.ArgoCD, image string) func(limit time.Duration) ([]stateChange, error) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		changes []stateChange
		err     error
	)
	done := make(chan struct{})
	apps := dyn.Resource(applicationGVR).Namespace(argo.ArgoNamespace)
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + argo.AppName}
	// The watch is open before this returns, so nothing the caller does next is missed.
	w, err := apps.Watch(ctx, opts)
	go func() {
		defer close(done)
		for err == nil {
			for ev := range w.ResultChan() {
				app, ok := ev.Object.(*unstructured.Unstructured)
				if !ok || ev.Type == watch.Error || ev.Type == watch.Deleted {
					continue
				}
				s := stateOf(app)
				if len(changes) == 0 || changes[len(changes)-1].state.String() != s.String() {
					changes = append(changes, stateChange{time.Now(), s})
				}
				if s.settledOn(image) {
					w.Stop()
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			// The server ended the watch: start a new one (its first event is the current state).
			w, err = apps.Watch(ctx, opts)
		}
	}()
	return func(limit time.Duration) ([]stateChange, error) {
		select {
		case <-done:
		case <-time.After(limit):
		}
		cancel()
		<-done
		if w != nil {
			w.Stop()
		}
		if err != nil && ctx.Err() == nil {
			return changes, err
		}
		return changes, nil
	}
}

// secretIn returns the files under dir that contain secret.
func secretIn(t *testing.T, dir, secret string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), secret) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return found
}

// argoPromote is what a promote run needs: the Argo CD, the cluster under it, the
// argocd CLI on PATH, and the image repository of the manifests.
type argoPromote struct {
	c          *clustertest.Cluster
	argo       *argocdtest.ArgoCD
	dyn        dynamic.Interface
	env        []string // of gitlab-ci-local, with the argocd CLI on PATH
	callLog    string
	repository string
	ci         string // the .gitlab-ci.yml
	telegram   *telegramtest.Server
}

// repo makes a repository of the pipeline on branch, the tag push publishes.
func (p *argoPromote) repo(t *testing.T, branch string) string {
	t.Helper()
	src := t.TempDir()
	copyTree(t, filepath.Join(root(t), templateDir), filepath.Join(src, templateDir))
	if err := os.WriteFile(filepath.Join(src, ".gitlab-ci.yml"), []byte(p.ci), 0o644); err != nil {
		t.Fatal(err)
	}
	return newRepo(t, src, branch, libProject)
}

// args are gitlab-ci-local's arguments: the pipeline with the manual promote job,
// ARGOCD_SERVER as the bot takes it (an http:// URL) or as the argocd CLI takes it
// (host:port), the token, the content the push stand-in publishes, the notifier's
// Telegram variables, and extra arguments such as --input.
func (p *argoPromote) args(server, token, content string, extra ...string) []string {
	return append([]string{"--no-color", "--force-shell-executor", "--manual", "argo-promote",
		"--ignore-predefined-vars", "CI_PIPELINE_CREATED_AT",
		"--variable", "CI_PIPELINE_CREATED_AT=" + createdAt,
		"--variable", "DERRICK_TEST_CONTENT=" + content,
		"--variable", "TELEGRAM_BOT_TOKEN=" + botToken,
		"--variable", "TELEGRAM_CHAT_ID=" + strconv.FormatInt(chatID, 10),
		"--variable", "TELEGRAM_API_URL=" + p.telegram.URL(),
		"--variable", "NOTIFY_TZ=Europe/Moscow",
		"--variable", "ARGOCD_SERVER=" + server,
		"--variable", "ARGOCD_AUTH_TOKEN=" + token}, extra...)
}

// run runs the pipeline of repo and returns it with the Telegram messages it
// posted, in order.
func (p *argoPromote) run(t *testing.T, repo string, args []string) (glcRun, []string) {
	t.Helper()
	before := len(p.telegram.Messages(chatID))
	r := runGLC(t, repo, p.env, args)
	var texts []string
	for _, m := range p.telegram.Messages(chatID)[before:] {
		texts = append(texts, m.Text)
	}
	return r, texts
}

// promote runs the pipeline of a branch named tag that publishes content,
// promoting from oldImage to <repository>:<tag>@<digest of content>, and checks
// Argo CD, the Deployment and its pods, the job log, the argocd calls and the
// group's messages (the promote result among them); syncCodes are the exit codes
// the job's `argocd app sync` may have (20 when an automated sync runs already:
// which comes first is a race). It logs the time from the job's start to Healthy
// and returns the new image.
func (p *argoPromote) promote(t *testing.T, tag, content, oldImage string, syncCodes ...int) string {
	t.Helper()
	c, argo, dyn, repository := p.c, p.argo, p.dyn, p.repository
	newImage := repository + ":" + tag + "@" + contentDigest(content)
	server := strings.TrimPrefix(argo.ServerURL, "http://")
	repo := p.repo(t, tag)
	_ = os.Remove(p.callLog)
	before, err := readApp(t.Context(), dyn, argo)
	if err != nil {
		t.Fatal(err)
	}
	if !before.settledOn(oldImage) {
		t.Fatalf("before the pipeline: %v, want settled on %s", before, oldImage)
	}
	wait := watchApp(t.Context(), dyn, argo, newImage)
	r, messages := p.run(t, repo, p.args(argo.ServerURL, argo.Token, content))
	// app wait returned only once Argo CD was settled: so it must be now.
	atExit, exitErr := readApp(t.Context(), dyn, argo)
	changes, watchErr := wait(30 * time.Second)
	if r.err != nil {
		t.Fatalf("pipeline failed: %v\n%s", r.err, tail(r.out, 60))
	}
	wantJobs(t, r.out, map[string]string{"push": "PASS", "argo-promote": "PASS", "notify-deploy": "PASS", "notify-success": "PASS"})
	id := pipelineID(t, repo)
	want := []string{notification(id, tag, "создан"), notification(id, tag, "развернут"), notification(id, tag, "завершен успешно")}
	if diff := cmp.Diff(want, messages); diff != "" {
		t.Errorf("Telegram messages (-want +got):\n%s", diff)
	}
	if want := fmt.Sprintf("argo-promote: %s on %s -> %s", argo.AppName, server, newImage); !strings.Contains(r.out, want) {
		t.Errorf("the job did not report %q:\n%s", want, tail(r.out, 40))
	}
	// gitlab-ci-local's output and everything it keeps in the repository (the
	// job logs in .gitlab-ci-local/output/, the build directories).
	if jobLog, err := os.ReadFile(filepath.Join(repo, ".gitlab-ci-local", "output", "argo-promote.log")); err != nil || !strings.Contains(string(jobLog), newImage) {
		t.Errorf("no job log of argo-promote naming %s: %v", newImage, err)
	}
	if files := secretIn(t, repo, argo.Token); len(files) > 0 || strings.Contains(r.out, argo.Token) {
		t.Errorf("the Argo CD token appears in the job log (files %v)", files)
	}

	// What the job ran.
	calls := readCalls(t, p.callLog)
	var commands []string
	for _, call := range calls {
		commands = append(commands, call.command)
		want := []int{0}
		if call.command == "app sync" {
			want = syncCodes
		}
		if !slices.Contains(want, call.rc) {
			t.Errorf("argocd %s exited %d, want one of %v", call.command, call.rc, want)
		}
	}
	if want := []string{"app set", "app sync", "app wait"}; !slices.Equal(commands, want) {
		t.Fatalf("argocd calls %v, want %v", commands, want)
	}

	// Argo CD and the cluster.
	if exitErr != nil || !atExit.settledOn(newImage) {
		t.Errorf("when gitlab-ci-local exited: %v (%v), want settled on %s", atExit, exitErr, newImage)
	}
	if watchErr != nil {
		t.Fatalf("watch the Application: %v", watchErr)
	}
	if len(changes) == 0 || !changes[len(changes)-1].state.settledOn(newImage) {
		t.Fatalf("the Application was never seen Synced and Healthy on %s; states: %v", newImage, changes)
	}
	healthyAt := changes[len(changes)-1].at
	if want := []string{repository + "=" + newImage}; !slices.Equal(atExit.overrides, want) {
		t.Errorf("kustomize images %v, want %v", atExit.overrides, want)
	}
	deploy := c.WaitForApp(t.Context(), t, argo.Namespace)
	if got := deploy.Spec.Template.Spec.Containers[0].Image; got != newImage {
		t.Errorf("deployment %s/%s runs %s, want %s", argo.Namespace, deploy.Name, got, newImage)
	}
	pods, err := c.Client.CoreV1().Pods(argo.Namespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(argocdtest.AppLabels).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		running++
		if got := pod.Spec.Containers[0].Image; got != newImage {
			t.Errorf("pod %s runs %s, want %s", pod.Name, got, newImage)
		}
	}
	if running != int(*deploy.Spec.Replicas) {
		t.Errorf("%d pods Running, want %d", running, *deploy.Spec.Replicas)
	}
	// Argo CD's summary drops the old image once the old pods are gone.
	var final appState
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if final, err = readApp(t.Context(), dyn, argo); err != nil {
			t.Fatal(err)
		}
		if final.settledOn(newImage) && len(final.images) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if !final.settledOn(newImage) || !slices.Equal(final.images, []string{newImage}) {
		t.Errorf("at the end: %v, want settled on %s only", final, newImage)
	}

	// Timings: from the job's start (its "starting shell" line).
	jobStart, ok := r.jobStarted["argo-promote"]
	if !ok {
		t.Fatalf("no start of argo-promote in the output:\n%s", tail(r.out, 40))
	}
	t.Logf("%s: gitlab-ci-local (push stand-in + argo-promote): %s", tag, r.end.Sub(r.start).Round(10*time.Millisecond))
	t.Logf("argo-promote start -> Application Synced+Healthy on %s: %s (job start -> gitlab-ci-local exit %s)",
		newImage, healthyAt.Sub(jobStart).Round(10*time.Millisecond), r.end.Sub(jobStart).Round(10*time.Millisecond))
	for _, call := range calls {
		t.Logf("  argocd %-8s at +%s took %s (exit %d)", call.command, call.start.Sub(jobStart).Round(10*time.Millisecond),
			call.end.Sub(call.start).Round(10*time.Millisecond), call.rc)
	}
	for _, ch := range changes {
		t.Logf("  %7s %v", ch.at.Sub(jobStart).Round(10*time.Millisecond), ch.state)
	}
	return newImage
}

// TestArgoPromoteRealArgoCD runs the manual argo-promote job with gitlab-ci-local,
// in the shell, with the real argocd CLI (hack/argocd/build.sh) against a real Argo
// CD (internal/argocdtest) over plain HTTP, after a stand-in of the push job that
// leaves its dotenv report: the Deployment Argo CD manages ends on the pipeline's
// image pinned by digest, <repository>:<tag>@<digest>, with its pods on it, the
// Application Synced and Healthy, the token never in the job log, and the group
// told "развернут" by the notify component; so with automated sync (which starts
// before the job's own sync) and without. Promoting the same tag again after a
// re-push (another digest) rolls the pods out onto the new digest. A wrong token
// (to host:port with the plaintext input) fails the job, which is allowed to fail:
// the group is told "развертывание завершено неуспешно" and the pipeline passes.
func TestArgoPromoteRealArgoCD(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync", "go")
	c := clustertest.Shared(t)
	argo := argocdtest.Start(t.Context(), t, c)
	t.Logf("Argo CD ready in %s", argo.ReadyAfter.Round(time.Millisecond))
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	repository := argocdtest.AppImage[:strings.LastIndex(argocdtest.AppImage, ":")]
	if argocdtest.AppImage == repository+":"+promoteTag {
		t.Fatalf("argocdtest.AppImage is already on %s", promoteTag)
	}
	bin, callLog := argocdCLI(t)
	mustRun(t, root(t), nil, "go", "build", "-o", filepath.Join(bin, "notifier"), "./notifier")
	tg, err := telegramtest.New(telegramtest.Config{Token: botToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	p := &argoPromote{c: c, argo: argo, dyn: dyn, callLog: callLog, repository: repository, telegram: tg,
		env: gitEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")),
		ci:  argoPromoteCI(repository)}

	var first string
	t.Run("promote with automated sync", func(t *testing.T) {
		// The controller usually starts the sync before the job asks.
		first = p.promote(t, promoteTag, "first build of "+promoteTag, argocdtest.AppImage, 0, 20)
	})
	if t.Failed() {
		return
	}

	// The branch is pushed again: the same tag, other content, another digest.
	var second string
	t.Run("promote the same tag re-pushed", func(t *testing.T) {
		second = p.promote(t, promoteTag, "second build of "+promoteTag, first, 0, 20)
		if second == first {
			t.Fatalf("the re-push has the digest of the first push: %s", second)
		}
	})
	if t.Failed() {
		return
	}

	// Argo CD syncs only when asked: the job's own sync does it.
	const manualTag = "0.10.6"
	var manual string
	t.Run("promote with a manual sync policy", func(t *testing.T) {
		patch := []byte(`{"spec":{"syncPolicy":{"automated":null}}}`)
		if _, err := dyn.Resource(applicationGVR).Namespace(argo.ArgoNamespace).Patch(t.Context(), argo.AppName,
			types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		manual = p.promote(t, manualTag, "build of "+manualTag, second, 0)
	})
	if t.Failed() {
		return
	}

	t.Run("wrong token is allowed to fail", func(t *testing.T) {
		const branch = "0.10.7"
		wrong := argo.Token[:len(argo.Token)-4] + "AAAA" // a bad signature
		repo := p.repo(t, branch)
		_ = os.Remove(callLog)
		// host:port and the plaintext input this time: the server's own
		// refusal (not a TLS error) shows that the transport is right.
		server := strings.TrimPrefix(argo.ServerURL, "http://")
		r, messages := p.run(t, repo, p.args(server, wrong, "build of "+branch, "--input", "argo-promote:plaintext=true"))
		if r.err != nil {
			t.Fatalf("the pipeline failed although argo-promote may fail: %v\n%s", r.err, tail(r.out, 40))
		}
		wantJobs(t, r.out, map[string]string{"push": "PASS", "argo-promote": "WARN", "notify-deploy": "PASS", "notify-success": "PASS"})
		id := pipelineID(t, repo)
		want := []string{notification(id, branch, "создан"), notification(id, branch, "развертывание завершено неуспешно"),
			notification(id, branch, "завершен успешно")}
		if diff := cmp.Diff(want, messages); diff != "" {
			t.Errorf("Telegram messages (-want +got):\n%s", diff)
		}
		calls := readCalls(t, callLog)
		if len(calls) != 1 || calls[0].command != "app set" || calls[0].rc == 0 {
			t.Errorf("argocd calls %+v, want one failed app set", calls)
		}
		if !strings.Contains(r.out, "code = Unauthenticated desc = invalid session") {
			t.Errorf("the job log does not say the token was refused:\n%s", tail(r.out, 30))
		}
		for _, tok := range []string{wrong, argo.Token} {
			if files := secretIn(t, repo, tok); len(files) > 0 || strings.Contains(r.out, tok) {
				t.Errorf("a token appears in the job log (files %v)", files)
			}
		}
		if s, err := readApp(t.Context(), dyn, argo); err != nil || !s.settledOn(manual) {
			t.Errorf("after the refused promote: %v, %v; want still settled on %s", s, err, manual)
		}
	})
}
