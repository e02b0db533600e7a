package chatops

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/deploy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	operator = 1001
	viewer   = 2002
	stranger = 3003
	audit    = -100777
	now      = 1_795_000_000 // a fixed clock, seconds
)

var usernames = map[int64]string{operator: "op", viewer: "watcher", stranger: "eve"}

type harness struct {
	core     *Core
	cluster  *fakeCluster
	registry *fakeRegistry
	logs     *bytes.Buffer
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	cfg := Config{Operators: []int64{operator}, Viewers: []int64{viewer}, MaxReplicas: 10, AuditChatID: audit}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{cluster: newFakeCluster(), registry: newFakeRegistry(), logs: &bytes.Buffer{}}
	h.core = New(cfg, h.cluster, &deploy.KubernetesDeployer{Cluster: h.cluster}, h.registry, slog.New(slog.NewJSONHandler(h.logs, nil)), "oil", "oil-refinery-application")
	h.core.now = func() time.Time { return time.Unix(now, 0) }
	return h
}

// run sends text from user in a private chat and returns what the bot did.
func (h *harness) run(t *testing.T, user int64, text string) (*recorder, Result) {
	t.Helper()
	rec := &recorder{chatID: user}
	res := h.handle(t, rec, Input{UserID: user, Username: usernames[user], ChatID: user,
		Private: true, Text: text, Sent: time.Unix(now-1, 0)})
	return rec, res
}

// handle runs in as the adapter would: the result delivered to rec, its
// follow-up run to the end.
func (h *harness) handle(t *testing.T, rec *recorder, in Input) Result {
	t.Helper()
	res := h.core.Handle(context.Background(), in, "oil_bot")
	rec.follow(context.Background(), res, rec.deliver(t, res))
	return res
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// goldenCases are the replies kept in testdata/ (ru) and testdata/en/.
var goldenCases = []struct {
	name string
	user int64
	text string
}{
	{"help_operator", operator, "/help"},
	{"help_viewer", viewer, "/start"},
	{"help_stranger", stranger, "/start"},
	{"refused_stranger", stranger, "/get_nodes"},
	{"showcontainers", viewer, "/showcontainers"},
	{"get_nodes", viewer, "/get_nodes"},
	{"get_pods", viewer, "/get_pods"},
	{"get_logs", viewer, "/get_logs oil-refinery-application-7d9f-abcde"},
	{"get_logs_usage", viewer, "/get_logs"},
	{"deploy", operator, "/deploy 0.10.5"},
	{"deploy_usage", operator, "/deploy"},
	{"deploy_unknown_tag", operator, "/deploy 9.9.9"},
	{"set_replicas", operator, "/set_replicas 5"},
	{"set_replicas_usage", operator, "/set_replicas"},
	{"set_replicas_out_of_range", operator, "/set_replicas 11"},
	{"cordon", operator, "/cordon node-a"},
	{"cordon_usage", operator, "/cordon"},
	{"cordon_already", operator, "/cordon node-b"},
	{"uncordon", operator, "/uncordon node-b"},
	{"get_logs_foreign_pod", viewer, "/get_logs kube-apiserver-0"},
	{"viewer_refused", viewer, "/deploy 0.10.5"},
	{"unknown_command", operator, "/reboot"},
	{"not_a_command", operator, "hello"},
	{"history", viewer, "/history"},
	{"rollback", operator, "/rollback"},
	{"rollback_viewer_refused", viewer, "/rollback"},
}

func TestRepliesGolden(t *testing.T) {
	for _, lang := range Languages() {
		for _, tt := range goldenCases {
			t.Run(lang+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.Lang = lang })
				rec, _ := h.run(t, tt.user, tt.text)
				name := tt.name
				if lang != "ru" {
					name = filepath.Join(lang, name)
				}
				golden(t, name, rec.texts())
			})
		}
	}
}

func TestRolesAndInput(t *testing.T) {
	tests := []struct {
		name        string
		user        int64
		text        string
		wantOutcome Outcome
		wantReply   string // a part of the first reply
		wantChanges []string
	}{
		{"stranger cannot read", stranger, "/get_nodes", OutcomeRefused, "Доступ запрещён. Ваш Telegram ID: <code>3003</code>", nil},
		{"stranger cannot change", stranger, "/cordon node-a", OutcomeRefused, "Доступ запрещён", nil},
		{"stranger gets refused for unknown commands too", stranger, "/nope", OutcomeRefused, "Доступ запрещён", nil},
		{"viewer cannot deploy", viewer, "/deploy 0.10.5", OutcomeRefused, "доступна только операторам", nil},
		{"viewer cannot cordon", viewer, "/cordon node-a", OutcomeRefused, "доступна только операторам", nil},
		{"viewer cannot scale", viewer, "/set_replicas 2", OutcomeRefused, "доступна только операторам", nil},
		{"viewer reads", viewer, "/get_pods", OutcomeOK, "Поды <b>oil-refinery-application</b> (2):", nil},
		{"operator cordons", operator, "/cordon node-a", OutcomeOK, "выведена", []string{"schedulable node-a=false"}},
		{"already cordoned changes nothing", operator, "/cordon node-b", OutcomeNoop, "уже недоступна", nil},
		{"already schedulable changes nothing", operator, "/uncordon node-a", OutcomeNoop, "и так доступна", nil},
		{"unknown node", operator, "/cordon node-z", OutcomeInvalid, "Ноды <b>node-z</b> нет в кластере", nil},
		{"node name that cannot exist never reaches the cluster", operator, "/cordon Node_A;rm", OutcomeInvalid, "нет в кластере", nil},
		{"missing argument", operator, "/cordon", OutcomeInvalid, "Использование: /cordon {нода}", nil},
		{"extra argument", operator, "/get_nodes all", OutcomeInvalid, "Использование: /get_nodes", nil},
		{"replicas not a number", operator, "/set_replicas many", OutcomeInvalid, "целым от 0 до 10, получено «many»", nil},
		{"replicas negative", operator, "/set_replicas -1", OutcomeInvalid, "от 0 до 10", nil},
		{"replicas zero is allowed", operator, "/set_replicas 0", OutcomeOK, "3 → 0", []string{"replicas=0"}},
		{"same replicas changes nothing", operator, "/set_replicas 3", OutcomeNoop, "уже 3 реплик", nil},
		{"unknown tag lists the newest", operator, "/deploy 1.0.0", OutcomeInvalid, "Последние версии: <code>0.10.5</code>, <code>main</code>", nil},
		{"tag with bad characters", operator, "/deploy ../x", OutcomeInvalid, "Использование: /deploy", nil},
		{"deploy pins the digest", operator, "/deploy 0.10.5", OutcomeOK, "Разворачиваю <b>0.10.5 (sha256:ddb8838898f9)</b>", []string{"image=registry.example.com/oil/app:0.10.5@" + fakeDigest("0.10.5") + " cause=/deploy 0.10.5 by @op (1001)"}},
		{"rollback to the previous distinct image", operator, "/rollback", OutcomeOK, "0.10.4 → 0.10.3 (sha256:0123456789ab)", []string{"image=registry.example.com/oil/app:0.10.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef cause=/rollback to 0.10.3 by @op (1001)"}},
		{"viewer cannot roll back", viewer, "/rollback", OutcomeRefused, "доступна только операторам", nil},
		{"viewer reads the history", viewer, "/history", OutcomeOK, "Развёртывания <b>oil-refinery-application</b> (2", nil},
		{"logs of a foreign pod", operator, "/get_logs etcd-0", OutcomeInvalid, "Список подов: /get_pods", nil},
		{"unknown command", operator, "/reboot", OutcomeInvalid, "Неизвестная команда /reboot", nil},
		{"for this bot in a group", operator, "/get_nodes@oil_bot", OutcomeOK, "Ноды кластера (4):", nil},
		{"command case is ignored", operator, "/GET_NODES", OutcomeOK, "Ноды кластера", nil},
		{"plain text in a DM", operator, "hello", OutcomeInvalid, "Я понимаю только команды", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			rec, res := h.run(t, tt.user, tt.text)
			if res.Outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", res.Outcome, tt.wantOutcome)
			}
			if len(rec.out) == 0 || !strings.Contains(rec.out[0].Text, tt.wantReply) {
				t.Errorf("reply:\n%s\nwant it to contain %q", rec.texts(), tt.wantReply)
			}
			if diff := cmp.Diff(tt.wantChanges, h.cluster.changes); diff != "" {
				t.Errorf("cluster changes (-want +got):\n%s", diff)
			}
			if tt.wantOutcome == OutcomeRefused && (h.cluster.calls != 0 || h.registry.n != 0) {
				t.Errorf("a refused command reached the cluster (%d calls) or the registry (%d)", h.cluster.calls, h.registry.n)
			}
		})
	}
}

func TestRollbackWithNothingToGoBackTo(t *testing.T) {
	h := newHarness(t, nil)
	h.cluster.revisions = h.cluster.revisions[:1] // only the running image
	rec, res := h.run(t, operator, "/rollback")
	if res.Outcome != OutcomeNoop || !strings.Contains(rec.texts(), "не к чему откатывать") {
		t.Fatalf("outcome %v, replies %q", res.Outcome, rec.texts())
	}
	if len(h.cluster.changes) != 0 {
		t.Fatalf("changes %v, want none", h.cluster.changes)
	}
}

func TestArgoManagedDeploymentIsNotPatched(t *testing.T) {
	for _, cmd := range []string{"/deploy 0.10.5", "/set_replicas 5"} {
		t.Run(cmd, func(t *testing.T) {
			h := newHarness(t, nil)
			h.cluster.deploy.ArgoApp, h.cluster.deploy.ArgoTrackedBy = "oil-app", "annotation argocd.argoproj.io/tracking-id"
			rec, res := h.run(t, operator, cmd)
			want := "<b>oil-refinery-application</b> управляется Argo CD (приложение <b>oil-app</b>, annotation argocd.argoproj.io/tracking-id)"
			if res.Outcome != OutcomeRefused || len(rec.out) != 1 || !strings.Contains(rec.out[0].Text, want) ||
				!strings.Contains(rec.out[0].Text, "DEPLOY_VIA=argocd") {
				t.Errorf("outcome %q, replies:\n%s", res.Outcome, rec.texts())
			}
			if len(h.cluster.changes) != 0 {
				t.Errorf("changed the cluster: %v", h.cluster.changes)
			}
		})
	}
}

func TestOtherBotsCommandsAreIgnored(t *testing.T) {
	h := newHarness(t, nil)
	rec := &recorder{chatID: -5}
	res := h.handle(t, rec, Input{UserID: operator, ChatID: -5, Text: "/cordon@other_bot node-a", Sent: time.Unix(now, 0)})
	if res.Outcome != OutcomeIgnored || len(rec.out) != 0 || h.cluster.calls != 0 {
		t.Errorf("outcome %q, %d replies, %d cluster calls; want it ignored", res.Outcome, len(rec.out), h.cluster.calls)
	}
	res = h.handle(t, rec, Input{UserID: operator, ChatID: -5, Text: "chatter in the group", Sent: time.Unix(now, 0)})
	if res.Outcome != OutcomeIgnored || len(rec.out) != 0 {
		t.Errorf("group chatter: outcome %q, %d replies; want it ignored", res.Outcome, len(rec.out))
	}
}

func TestStaleCommandIsAnsweredNotRun(t *testing.T) {
	h := newHarness(t, nil)
	rec := &recorder{chatID: operator}
	res := h.handle(t, rec, Input{UserID: operator, ChatID: operator, Private: true,
		Text: "/cordon node-a", Sent: time.Unix(now-180, 0)})
	if res.Outcome != OutcomeStale || h.cluster.calls != 0 {
		t.Fatalf("outcome %q after %d cluster calls; want stale and none", res.Outcome, h.cluster.calls)
	}
	want := "Команда /cordon пришла через 3m0s после отправки (больше 2m0s) и не выполнена. Если она всё ещё нужна, отправьте её снова."
	if len(rec.out) != 1 || rec.out[0].Text != want {
		t.Errorf("reply:\n%s\nwant %q", rec.texts(), want)
	}
}

func TestAuditLogAndChat(t *testing.T) {
	h := newHarness(t, nil)
	rec, _ := h.run(t, operator, "/cordon node-a")
	h.run(t, stranger, "/deploy 0.10.5")
	var announces []sent
	for _, s := range rec.out {
		if s.Kind == "announce" {
			announces = append(announces, s)
		}
	}
	if len(announces) != 1 || announces[0].Chat != audit || announces[0].Text != "@op (1001): /cordon node-a → выполнено" {
		t.Errorf("audit chat got %+v", announces)
	}
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if e["msg"] == "command" {
			delete(e, "time")
			entries = append(entries, e)
		}
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "command", "user_id": float64(operator), "username": "op", "chat_id": float64(operator),
			"command": "cordon", "args": []any{"node-a"}, "role": "operator", "role_via": "list", "outcome": "ok"},
		{"level": "WARN", "msg": "command", "user_id": float64(stranger), "username": "eve", "chat_id": float64(stranger),
			"command": "deploy", "args": []any{"0.10.5"}, "role": "stranger", "role_via": "none", "outcome": "refused"},
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
}

// TestLogsAreAListing: /get_logs answers with the lines as they are, for
// the adapter to send as messages or as a document (tgbot's tests).
func TestLogsAreAListing(t *testing.T) {
	h := newHarness(t, nil)
	const pod = "oil-refinery-application-7d9f-abcde"
	logs := []string{strings.Repeat("x", 1000), "<b>not markup</b>", ""}
	h.cluster.logs[pod] = logs
	res := h.core.Handle(context.Background(), Input{UserID: viewer, ChatID: viewer, Private: true,
		Text: "/get_logs " + pod, Sent: time.Unix(now-1, 0)}, "oil_bot")
	want := Reply{HTML: "Последние 3 строк лога <b>" + pod + "</b>:", Lines: logs, Pre: true, File: pod + ".log"}
	if diff := cmp.Diff(want, res.Reply); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	if got, want := res.Reply.Text(), want.HTML+"\n<pre>"+logs[0]+"\n&lt;b&gt;not markup&lt;/b&gt;\n</pre>"; got != want {
		t.Errorf("as a message:\n%q\nwant\n%q", got, want)
	}
	if got, want := string(res.Reply.Document()), strings.Join(logs, "\n")+"\n"; got != want {
		t.Errorf("as a document:\n%q\nwant\n%q", got, want)
	}
}

func TestClusterErrorsAreReported(t *testing.T) {
	h := newHarness(t, nil)
	h.cluster.err = errForbidden
	rec, res := h.run(t, operator, "/get_nodes")
	if res.Outcome != OutcomeError || !strings.Contains(rec.out[0].Text, "Не удалось выполнить /get_nodes: list nodes: forbidden") {
		t.Errorf("outcome %q, reply %s", res.Outcome, rec.texts())
	}
}

func TestEnglish(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Lang = "en" })
	rec, _ := h.run(t, viewer, "/cordon node-a")
	if !strings.Contains(rec.out[0].Text, "is for operators only") {
		t.Errorf("reply %s", rec.texts())
	}
	if Menu("en")[0].Description != "image versions in the registry" || Menu("ru")[0].Command != "showcontainers" {
		t.Errorf("menu %+v", Menu("en"))
	}
}

func TestImageReference(t *testing.T) {
	tests := []struct{ image, repo, tag string }{
		{"registry.example.com/oil/app:0.10.4", "registry.example.com/oil/app", "0.10.4"},
		{"localhost:5000/app:1", "localhost:5000/app", "1"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"app@sha256:abc", "app", ""},
		{"r/app:1@sha256:abc", "r/app", "1"},
	}
	for _, tt := range tests {
		if imageRepo(tt.image) != tt.repo || imageTag(tt.image) != tt.tag {
			t.Errorf("%q: repo %q tag %q, want %q %q", tt.image, imageRepo(tt.image), imageTag(tt.image), tt.repo, tt.tag)
		}
	}
}

var errForbidden = &forbidden{}

type forbidden struct{}

func (*forbidden) Error() string { return "list nodes: forbidden" }
