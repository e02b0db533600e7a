package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// componentDocs parses a component file: the spec header and the jobs.
func componentDocs(t *testing.T, name string) (spec map[string]any, jobs map[string]any, raw string) {
	t.Helper()
	data, err := os.ReadFile(componentFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("component %s: %v", name, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) != 2 {
		t.Fatalf("component %s has %d YAML documents, want the spec header and the jobs", name, len(docs))
	}
	return docs[0], docs[1], string(data)
}

// TestComponentSpecs checks what GitLab's conventions ask of every component: typed
// and described inputs, a stage and a job-name prefix as inputs, and no global keyword.
func TestComponentSpecs(t *testing.T) {
	names := components(t)
	want := []string{"argo-promote", "buildah-build", "health-probe", "notify", "push", "pylint-errors"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("components in templates/ (-want +got):\n%s", diff)
	}
	global := []string{"default", "variables", "stages", "workflow", "image", "services", "cache", "before_script", "after_script", "include"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			spec, jobs, _ := componentDocs(t, name)
			header, _ := spec["spec"].(map[string]any)
			inputs, _ := header["inputs"].(map[string]any)
			if len(inputs) == 0 {
				t.Fatal("no spec:inputs")
			}
			hasStage := false
			for key, v := range inputs {
				in, _ := v.(map[string]any)
				if d, _ := in["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("input %s has no description", key)
				}
				if !slices.Contains([]any{"string", "number", "boolean", "array"}, in["type"]) {
					t.Errorf("input %s: type %v, want string, number, boolean or array", key, in["type"])
				}
				if _, ok := in["default"]; !ok {
					t.Errorf("input %s has no default", key)
				}
				hasStage = hasStage || strings.HasSuffix(key, "stage")
			}
			if !hasStage {
				t.Error("no stage input")
			}
			if _, ok := inputs["job_prefix"]; !ok {
				t.Error("no job_prefix input")
			}
			for key := range jobs {
				if slices.Contains(global, key) {
					t.Errorf("global keyword %q in a component", key)
				}
				if !strings.HasPrefix(key, "$[[ inputs.job_prefix ]]") {
					t.Errorf("job %q is not named <job_prefix>...", key)
				}
			}
			rendered, err := yaml.Marshal(jobs) // without comments
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(rendered), "CI_COMMIT_REF_SLUG") {
				t.Error("uses CI_COMMIT_REF_SLUG, which turns 0.10.5 into 0-10-5")
			}
		})
	}
}

// tagRule is the shell snippet of the push component that makes the image tag.
func tagRule(t *testing.T) string {
	t.Helper()
	_, jobs, _ := componentDocs(t, "push")
	job, _ := jobs["$[[ inputs.job_prefix ]]push"].(map[string]any)
	script, _ := job["script"].([]any)
	for _, s := range script {
		text, _ := s.(string)
		_, after, ok := strings.Cut(text, "# derrick:tag-rule begin\n")
		if !ok {
			continue
		}
		rule, _, ok := strings.Cut(after, "# derrick:tag-rule end")
		if ok {
			return rule
		}
	}
	t.Fatal("push component: no script between # derrick:tag-rule begin and end")
	return ""
}

// TestTagRule runs the push component's tag rule (DESIGN.md: branch name where it is a
// valid tag; other characters become "-"; no leading "." or "-"; at most 128) in the
// shells the job images have.
func TestTagRule(t *testing.T) {
	rule := tagRule(t)
	shells := [][]string{{"sh"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "sh"}) // Alpine's ash
	}
	long := strings.Repeat("release-", 20)
	tests := []struct{ ref, want string }{
		{"0.10.5", "0.10.5"},
		{"main", "main"},
		{"feature/x", "feature-x"},
		{"Feature_X-1.2", "Feature_X-1.2"},
		{"fix/issue#12 (hot)", "fix-issue-12--hot-"},
		{".hidden", "_hidden"},
		{"-dash", "_dash"},
		{"фича/x", "_----x"}, // one "-" per character, not per byte
		{long, long[:128]},
	}
	for _, sh := range shells {
		for _, tt := range tests {
			cmd := exec.Command(sh[0], append(sh[1:], "-c", rule+`printf '%s' "$derrick_tag"`)...)
			cmd.Env = append(os.Environ(), "CI_COMMIT_REF_NAME="+tt.ref)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(sh, " "), err, out)
			}
			if string(out) != tt.want {
				t.Errorf("%s: tag of %q = %q, want %q", strings.Join(sh, " "), tt.ref, out, tt.want)
			}
		}
	}
}

// glcRepo makes a throwaway repository of this project (templates/ and the given
// .gitlab-ci.yml) where `include: component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/<name>@$CI_COMMIT_SHA`
// resolves to templates/ of the commit, as in the project's own pipeline.
func glcRepo(t *testing.T, ci string) string {
	t.Helper()
	src := t.TempDir()
	copyTree(t, filepath.Join(root(t), templateDir), filepath.Join(src, templateDir))
	if err := os.WriteFile(filepath.Join(src, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	return newRepo(t, src, "main", libProject)
}

// glc runs gitlab-ci-local in repo.
func glc(t *testing.T, repo string, args ...string) (string, error) {
	t.Helper()
	out, err := run(t, repo, gitEnv(), filepath.Join(root(t), "hack/pipeline/gitlab-ci-local"),
		append([]string{"--no-color"}, args...)...)
	if err != nil && !errExit(err) {
		t.Fatalf("%v\n%s", err, out)
	}
	return out, err
}

// TestComponentsValidate includes each component alone, all of them as the example app
// does, and this project's own .gitlab-ci.yml, and has gitlab-ci-local interpolate the
// inputs and validate the result against GitLab's CI schema.
func TestComponentsValidate(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync")
	type check struct {
		ci   string
		args []string
		jobs []string // listed
	}
	cases := map[string]check{}
	for _, name := range components(t) {
		cases[name] = check{
			ci: "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/" + name + "@$CI_COMMIT_SHA\n" +
				"stages: [lint, build, probe, publish, deploy]\n",
		}
	}
	own, err := os.ReadFile(filepath.Join(root(t), ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cases["project pipeline"] = check{ci: string(own), jobs: []string{"test", "notifier-image", "self-test-push", "self-test-argo-promote", "self-test-notify-deploy"}}
	cases["project pipeline of release 0.1.0"] = check{ci: string(own), args: []string{"--variable", "CI_COMMIT_TAG=0.1.0"},
		jobs: []string{"release-images", "release"}}
	cases["project pipeline of tag v0.1.0"] = check{ci: string(own), args: []string{"--variable", "CI_COMMIT_TAG=v0.1.0"},
		jobs: []string{"tag-format"}}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			repo := glcRepo(t, tc.ci)
			out, err := glc(t, repo, append([]string{"--list"}, tc.args...)...)
			if err != nil {
				t.Fatalf("gitlab-ci-local rejected it: %v\n%s", err, out)
			}
			if !strings.Contains(out, "json schema validated") {
				t.Errorf("no schema validation reported:\n%s", out)
			}
			for _, job := range tc.jobs {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(job) + `\s`).MatchString(out) {
					t.Errorf("job %s not listed:\n%s", job, out)
				}
			}
		})
	}
}

// TestComponentInputsRejected gives inputs of the wrong type, outside the options or
// the regex; the pipeline must be refused with GitLab's message.
func TestComponentInputsRejected(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync")
	tests := []struct {
		name, component, inputs, want string
	}{
		{"number input given text", "health-probe", "port: eighty",
			"`port` input: provided value is not a number"},
		{"boolean input given text", "buildah-build", "cache: sometimes",
			"`cache` input: provided value is not a boolean"},
		{"value outside the options", "buildah-build", "format: tar",
			"`format` input: `tar` cannot be used because it is not in the list of allowed options"},
		{"value outside the regex", "argo-promote", "token_variable: not a name",
			"`token_variable` input: `not a name` does not match required regex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ci := "stages: [lint, build, probe, publish, deploy]\ninclude:\n" +
				"  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/" + tt.component + "@$CI_COMMIT_SHA\n" +
				"    inputs:\n      " + tt.inputs + "\n"
			out, err := glc(t, glcRepo(t, ci), "--list")
			if err == nil {
				t.Fatalf("accepted %s: %s:\n%s", tt.component, tt.inputs, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("message lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestExamplePipelineJobs checks the jobs of the example app's pipeline as GitLab
// schedules them: notify first and last (success or failure), the promote manual.
func TestExamplePipelineJobs(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync")
	names, project, version := exampleIncludes(t)
	slices.Sort(names)
	if diff := cmp.Diff(components(t), names); diff != "" {
		t.Errorf("components the example includes (-every component +included):\n%s", diff)
	}
	repo := newRepo(t, filepath.Join(root(t), exampleDir), "0.10.5", appProject)
	provideComponents(t, repo, project, version)
	out, err := glc(t, repo, "--list-json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	type job struct {
		Name         string `json:"name"`
		Stage        string `json:"stage"`
		When         string `json:"when"`
		AllowFailure bool   `json:"allow_failure"`
	}
	var jobs []job
	start := strings.Index(out, "[")
	if start < 0 || json.Unmarshal([]byte(out[start:]), &jobs) != nil {
		t.Fatalf("no job list in:\n%s", out)
	}
	want := []job{
		{"notify-created", ".pre", "on_success", true},
		{"notify-success", ".post", "on_success", true},
		{"notify-failed", ".post", "on_failure", true},
		{"pylint-errors", "lint", "on_success", false},
		{"buildah-build", "build", "on_success", false},
		{"health-probe", "probe", "on_success", false},
		{"push", "publish", "on_success", false},
		{"argo-promote", "deploy", "manual", true},
		{"notify-deploy", "deploy", "on_success", true},
	}
	byName := func(a, b job) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(want, byName)
	slices.SortFunc(jobs, byName)
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

// TestExampleManifests checks that the example's kustomize manifests and its Argo CD
// Application agree on the Deployment and the image name that promotion replaces.
func TestExampleManifests(t *testing.T) {
	dir := filepath.Join(root(t), exampleDir)
	read := func(file string, v any) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	var kustomization struct {
		Resources []string `yaml:"resources"`
	}
	read("deploy/kustomization.yaml", &kustomization)
	kinds := map[string]string{}
	image := ""
	for _, res := range kustomization.Resources {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Image string `yaml:"image"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		read(filepath.Join("deploy", res), &obj)
		kinds[obj.Kind] = obj.Metadata.Name
		if obj.Kind == "Deployment" && len(obj.Spec.Template.Spec.Containers) > 0 {
			image = obj.Spec.Template.Spec.Containers[0].Image
		}
	}
	if diff := cmp.Diff(map[string]string{"Deployment": "oil-refinery-application", "Service": "oil-refinery-application"}, kinds); diff != "" {
		t.Errorf("kustomize resources (-want +got):\n%s", diff)
	}
	var app struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Source struct {
				Path      string `yaml:"path"`
				Kustomize struct {
					Images []string `yaml:"images"`
				} `yaml:"kustomize"`
			} `yaml:"source"`
		} `yaml:"spec"`
	}
	read("argocd/application.yaml", &app)
	if app.Kind != "Application" || app.Metadata.Name != "oil-refinery-application" || app.Spec.Source.Path != "deploy" {
		t.Errorf("argocd/application.yaml: %s %s from %q, want Application oil-refinery-application from deploy", app.Kind, app.Metadata.Name, app.Spec.Source.Path)
	}
	spec, _, _ := componentDocs(t, "argo-promote")
	def := spec["spec"].(map[string]any)["inputs"].(map[string]any)["kustomize_image"].(map[string]any)["default"]
	if image != def {
		t.Errorf("the Deployment's image is %q, argo-promote replaces %v", image, def)
	}
	if len(app.Spec.Source.Kustomize.Images) != 1 || !strings.HasPrefix(app.Spec.Source.Kustomize.Images[0], image+"=") {
		t.Errorf("the Application sets images %q, want one for %q", app.Spec.Source.Kustomize.Images, image)
	}
}

// TestArgoPromoteCommands runs the manual argo-promote job with a stand-in argocd CLI
// that records its arguments (the real run against Argo CD belongs to the Argo CD
// tests): the published image, pinned by its digest, goes to the Application, a sync
// already running is tolerated, and the job waits for Synced and Healthy; without a
// digest (no push job before it) the job fails before it calls argocd.
func TestArgoPromoteCommands(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync")
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	fake := `#!/bin/sh
printf '%s|%s|%s\n' "$ARGOCD_SERVER" "$ARGOCD_AUTH_TOKEN" "$*" >> "` + calls + `"
if [ "$2" = sync ]; then
  echo 'rpc error: code = FailedPrecondition desc = another operation is already in progress' >&2
  exit 20
fi
`
	if err := os.WriteFile(filepath.Join(bin, "argocd"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	ci := "stages: [deploy]\ninclude:\n" +
		"  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/argo-promote@$CI_COMMIT_SHA\n" +
		"    inputs:\n      token_variable: OIL_ARGOCD_TOKEN\n      timeout: 120\n"
	repo := glcRepo(t, ci)
	const digest = "sha256:ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	promote := func(vars ...string) (string, error) {
		args := []string{"--no-color", "--force-shell-executor",
			"--variable", "DERRICK_IMAGE=registry.example.com/oil/app:0.10.5",
			"--variable", "ARGOCD_SERVER=http://argocd.example.com:8080/",
			"--variable", "OIL_ARGOCD_TOKEN=s3cret"}
		for _, v := range vars {
			args = append(args, "--variable", v)
		}
		return run(t, repo, gitEnv("PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH")),
			filepath.Join(root(t), "hack/pipeline/gitlab-ci-local"), append(args, "argo-promote")...)
	}
	for _, tt := range []struct{ name, digest, want string }{
		{"no digest", "", "argo-promote: DERRICK_IMAGE_DIGEST is not set: the push job's dotenv report is missing"},
		{"malformed digest", "sha256:AB12", `argo-promote: DERRICK_IMAGE_DIGEST must be sha256:<64 lowercase hex digits>, got "sha256:AB12"`},
	} {
		out, err := promote("DERRICK_IMAGE_DIGEST=" + tt.digest)
		// Failed, and allowed to: WARN.
		if _, results := jobResults(out); err != nil || results["argo-promote"] != "WARN" || !strings.Contains(out, tt.want) {
			t.Errorf("%s: argo-promote %s (%v), want WARN saying %q:\n%s", tt.name, results["argo-promote"], err, tt.want, tail(out, 20))
		}
		if result, err := os.ReadFile(filepath.Join(repo, "derrick-promote.result")); err != nil || string(result) != "deploy-failed\n" {
			t.Errorf("%s: derrick-promote.result = %q (%v), want deploy-failed", tt.name, result, err)
		}
	}
	if _, err := os.Stat(calls); !os.IsNotExist(err) {
		t.Fatalf("argocd was called without a digest (%v)", err)
	}
	out, err := promote("DERRICK_IMAGE_DIGEST=" + digest)
	if err != nil {
		t.Fatalf("argo-promote failed: %v\n%s", err, tail(out, 40))
	}
	data, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("argocd was not called: %v\n%s", err, tail(out, 40))
	}
	const flags = "--plaintext --grpc-web"
	want := []string{
		"argocd.example.com:8080|s3cret|app set oil-refinery-application " + flags +
			" --kustomize-image oil-refinery-application=registry.example.com/oil/app:0.10.5@" + digest,
		"argocd.example.com:8080|s3cret|app sync oil-refinery-application " + flags + " --async",
		"argocd.example.com:8080|s3cret|app wait oil-refinery-application " + flags + " --sync --health --operation --timeout 120",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(data)), "\n")); diff != "" {
		t.Errorf("argocd calls (-want +got):\n%s", diff)
	}
	if strings.Contains(out, "s3cret") {
		t.Error("the job log shows the Argo CD token")
	}
	if result, err := os.ReadFile(filepath.Join(repo, "derrick-promote.result")); err != nil || string(result) != "deployed\n" {
		t.Errorf("derrick-promote.result = %q (%v), want deployed", result, err)
	}
}

// TestNotifyDeployWithoutPromoteJob includes the notify component in a pipeline
// with no promote job: its needs is optional, so notify-deploy runs at once, finds
// no derrick-promote.result and posts nothing; the group gets only the pipeline's
// own two messages and the pipeline passes. (A pipeline whose promote job is there
// but not played: GitLab skips notify-deploy, see TestExamplePipeline; the played
// promotion's messages: TestArgoPromoteRealArgoCD.)
func TestNotifyDeployWithoutPromoteJob(t *testing.T) {
	requireTools(t, "gitlab-ci-local", "git", "rsync", "go")
	bin := t.TempDir()
	mustRun(t, root(t), nil, "go", "build", "-o", filepath.Join(bin, "notifier"), "./notifier")
	tg, err := telegramtest.New(telegramtest.Config{Token: botToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	const branch = "0.10.5"
	ci := "stages: [build, deploy]\ninclude:\n" +
		"  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/notify@$CI_COMMIT_SHA\n" +
		"build:\n  stage: build\n  script: [echo built]\n"
	src := t.TempDir()
	copyTree(t, filepath.Join(root(t), templateDir), filepath.Join(src, templateDir))
	if err := os.WriteFile(filepath.Join(src, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t, src, branch, libProject)
	out, err := run(t, repo, gitEnv("PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH")),
		filepath.Join(root(t), "hack/pipeline/gitlab-ci-local"), "--no-color", "--force-shell-executor",
		"--ignore-predefined-vars", "CI_PIPELINE_CREATED_AT",
		"--variable", "CI_PIPELINE_CREATED_AT="+createdAt,
		"--variable", "TELEGRAM_BOT_TOKEN="+botToken,
		"--variable", "TELEGRAM_CHAT_ID="+strconv.FormatInt(chatID, 10),
		"--variable", "TELEGRAM_API_URL="+tg.URL(),
		"--variable", "NOTIFY_TZ=Europe/Moscow")
	if err != nil {
		t.Fatalf("pipeline failed: %v\n%s", err, tail(out, 40))
	}
	wantJobs(t, out, map[string]string{"notify-created": "PASS", "build": "PASS", "notify-deploy": "PASS", "notify-success": "PASS"})
	if want := "notify-deploy: no result of argo-promote (it is not in this pipeline): nothing to post"; !strings.Contains(out, want) {
		t.Errorf("notify-deploy did not say %q:\n%s", want, tail(out, 30))
	}
	var texts []string
	for _, m := range tg.Messages(chatID) {
		texts = append(texts, m.Text)
	}
	id := pipelineID(t, repo)
	if diff := cmp.Diff([]string{notification(id, branch, "создан"), notification(id, branch, "завершен успешно")}, texts); diff != "" {
		t.Errorf("Telegram messages (-want +got):\n%s", diff)
	}
}
