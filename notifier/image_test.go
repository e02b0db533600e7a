package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// TestImage builds notifier/Containerfile with buildah (hack/image.sh) and
// runs the image with podman, as a pipeline job would, against the emulator.
func TestImage(t *testing.T) {
	proctest.RequireTools(t, "buildah", "podman")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tag := "localhost/derrick/notifier:test-" + strconv.Itoa(os.Getpid())
	out, err := exec.Command("bash", filepath.Join(root, "hack/image.sh"), "notifier", tag).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/image.sh: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	podman := func(args ...string) (string, error) {
		// The same container settings as hack/image.sh (hack/containers/env.sh).
		cmd := exec.Command("bash", append([]string{"-c", `. "$0"/hack/containers/env.sh && exec podman "$@"`, root}, args...)...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	t.Cleanup(func() { podman("rmi", "-f", tag) })

	inspect, err := podman("image", "inspect", "--format", "{{.Size}} {{.Config.User}} {{.Config.Entrypoint}}", tag)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, inspect)
	}
	fields := strings.Fields(inspect)
	size, _ := strconv.ParseInt(fields[0], 10, 64)
	t.Logf("image size %d bytes (%.2f MB)", size, float64(size)/1e6)
	if fields[1] != "65534:65534" {
		t.Errorf("image user %q, want the non-root 65534:65534", fields[1])
	}

	srv := emulator(t)
	run, err := podman("run", "--rm", "--network", "host",
		"-e", "TELEGRAM_BOT_TOKEN="+token, "-e", "TELEGRAM_CHAT_ID=-1001234567890", "-e", "TELEGRAM_API_URL="+srv.URL(),
		"-e", "CI_PIPELINE_ID=77", "-e", "CI_PIPELINE_CREATED_AT=2026-11-26T04:00:36Z", "-e", "CI_COMMIT_REF_NAME=0.10.5",
		"-e", "NOTIFY_TZ=Asia/Yekaterinburg", tag, "created")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, run)
	}
	if strings.Contains(run, token[strings.IndexByte(token, ':')+1:]) {
		t.Errorf("token in the container's output")
	}
	// Time zone data comes from the binary: scratch has no /usr/share/zoneinfo.
	want := "Пайплайн 77 2026-11-26 09:00:36 +05 0.10.5 создан"
	if got := texts(srv.Messages(chatID)); len(got) != 1 || got[0] != want {
		t.Errorf("received %q, want %q", got, want)
	}
	// GitLab runs a job's script with sh inside the image.
	sh, err := podman("run", "--rm", "--entrypoint", "", tag, "sh", "-c", "notifier --help | head -1")
	if err != nil || !strings.Contains(sh, "Usage: notifier") {
		t.Errorf("sh in the image: %v\n%s", err, sh)
	}
}
