package demo

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

var logLineRE = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (INFO|WARNING|ERROR) +[a-z._]+: \S`)

func TestLogsThroughTheBotsClient(t *testing.T) {
	_, kc := running(t, fast)
	ctx := t.Context()
	pods, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pods {
		lines, err := kc.Logs(ctx, p.Name, 30)
		if err != nil {
			t.Fatalf("Logs(%s): %v", p.Name, err)
		}
		if len(lines) != 30 {
			t.Fatalf("Logs(%s) gave %d lines, want 30", p.Name, len(lines))
		}
		var prev string
		for _, l := range lines {
			m := logLineRE.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("line %q does not look like the application's log", l)
			}
			if m[1] < prev {
				t.Errorf("line %q is older than the one before it", l)
			}
			prev = m[1]
			if len(l) > 130 {
				t.Errorf("line of %d characters: %q; 30 lines must fit one Telegram message", len(l), l)
			}
		}
		if at, _ := time.Parse("2006-01-02 15:04:05", prev[:19]); time.Since(at) > time.Minute || time.Until(at) > time.Second {
			t.Errorf("the last line of %s is from %s, want a moment ago", p.Name, prev)
		}
		seen[strings.Join(lines, "\n")] = true
	}
	if len(seen) != len(pods) {
		t.Errorf("%d pods wrote only %d different logs", len(pods), len(seen))
	}

	// The fake clientset's own logs are gone, and the bot's checks still hold.
	if _, err := kc.Logs(ctx, "kube-proxy-abcde", 30); !errors.Is(err, cluster.ErrPodNotInDeployment) {
		t.Errorf("Logs of a foreign pod: %v, want ErrPodNotInDeployment", err)
	}
}

func TestLogsOfANewPod(t *testing.T) {
	c, kc := running(t, Timing{PodStart: time.Hour, Tick: 5 * time.Millisecond})
	ctx := t.Context()
	if _, err := kc.Scale(ctx, 4); err != nil {
		t.Fatal(err)
	}
	var name string
	for name == "" {
		pods, err := kc.Pods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if p.Created.After(c.start) {
				name = p.Name
			}
		}
		time.Sleep(time.Millisecond)
	}
	_, err := kc.Logs(ctx, name, 30)
	if err == nil || !strings.Contains(err.Error(), "is waiting to start: ContainerCreating") {
		t.Errorf("Logs of a starting pod: %v, want the API server's 'waiting to start' error", err)
	}
}

func TestPodLog(t *testing.T) {
	start := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	pod := func(image string, deleted *time.Time) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "oil-refinery-application-6bc7f6658-2v44j"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: Container, Image: image}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(start)}},
			}}},
		}
		if deleted != nil {
			p.DeletionTimestamp = &metav1.Time{Time: *deleted}
		}
		return p
	}
	young := podLog(pod("repo/app:0.10.5", nil), start.Add(3*time.Second), -1)
	if len(young) < 7 || !strings.Contains(young[0], "Starting gunicorn") || !strings.Contains(young[6], "oil-refinery-application 0.10.5 ready") {
		t.Errorf("a pod 3s old logs %q, want the start-up lines with its version first", young)
	}
	pinned := podLog(pod("repo/app:0.10.5@sha256:ddb8838898f9c730ddd8b6473f952fde37b0104611ff5326b809af9f4f9efbe9", nil), start.Add(3*time.Second), -1)
	if len(pinned) < 7 || !strings.Contains(pinned[6], "oil-refinery-application 0.10.5 ready") {
		t.Errorf("a pod of an image pinned by digest logs %q, want its tag as the version", pinned)
	}
	old := pod("repo/app:0.10.4", nil)
	now := start.Add(5 * time.Hour)
	a, b := podLog(old, now, 30), podLog(old, now, 30)
	if !slices.Equal(a, b) || len(a) != 30 {
		t.Errorf("the same pod and instant gave different logs or not 30 lines:\n%q\n%q", a, b)
	}
	if all := podLog(old, now, -1); len(all) < 1000 || len(all) > maxLogSlots || !slices.Equal(all[len(all)-30:], a) {
		t.Errorf("without a tail: %d lines, want at most %d ending with the same 30 lines as the tail", len(all), maxLogSlots)
	}
	gone := start.Add(time.Hour)
	stopped := podLog(pod("repo/app:0.10.4", &gone), now, 30)
	if last := stopped[len(stopped)-1]; !strings.Contains(last, "Shutting down: Master") {
		t.Errorf("a terminated pod's log ends with %q, want gunicorn's shutdown", last)
	}
	for _, l := range stopped {
		if l[:19] > gone.Add(time.Second).Format("2006-01-02 15:04:05") {
			t.Errorf("line %q written after the pod was stopped at %s", l, gone)
		}
	}
	if got := podLog(&corev1.Pod{}, now, 30); got != nil {
		t.Errorf("a pod that never ran logs %q", got)
	}
}
