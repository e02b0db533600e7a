package notify

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestMessage(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	const layout = "2006-01-02 15:04:05 MST"
	tests := []struct {
		name      string
		id        string
		createdAt string
		ref       string
		status    Status
		want      string
	}{
		{"created, UTC input", "4242", "2026-11-26T04:00:36Z", "0.10.5", Created,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 создан"},
		{"success, +03:00 input", "4242", "2026-11-26T07:00:36+03:00", "0.10.5", Success,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен успешно"},
		{"failed", "4243", "2026-11-26T04:00:36Z", "main", Failed,
			"Пайплайн 4243 2026-11-26 07:00:36 MSK main завершен неуспешно"},
		{"slash in branch stays", "7", "2026-01-01T21:30:00Z", "feature/x", Success,
			"Пайплайн 7 2026-01-02 00:30:00 MSK feature/x завершен успешно"},
		{"cyrillic branch stays", "8", "2026-11-26T04:00:36Z", "релиз/нефть-1", Created,
			"Пайплайн 8 2026-11-26 07:00:36 MSK релиз/нефть-1 создан"},
		{"deployed", "4242", "2026-11-26T04:00:36Z", "0.10.5", Deployed,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 развернут"},
		{"deploy failed", "4242", "2026-11-26T04:00:36Z", "0.10.5", DeployFailed,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 развертывание завершено неуспешно"},
		{"fractional seconds", "9", "2026-11-26T04:00:36.123Z", "0.10.5", Created,
			"Пайплайн 9 2026-11-26 07:00:36 MSK 0.10.5 создан"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := EventFromEnv(envOf(map[string]string{VarPipelineID: tt.id, VarCreatedAt: tt.createdAt, VarRef: tt.ref}), tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if got := MessageIn(LangRU, ev, moscow, layout); got != tt.want {
				t.Errorf("Message = %q\n           want %q", got, tt.want)
			}
		})
	}
}

func TestMessageOtherZoneAndLayout(t *testing.T) {
	ev := Event{PipelineID: 1, CreatedAt: time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC), Ref: "main", Status: Created}
	if got, want := MessageIn(LangRU, ev, time.UTC, time.RFC3339), "Пайплайн 1 2026-11-26T04:00:36Z main создан"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	good := map[string]string{VarPipelineID: "1", VarCreatedAt: "2026-11-26T04:00:36Z", VarRef: "main"}
	tests := []struct {
		name, key, value, want string
	}{
		{"no id", VarPipelineID, "", "CI_PIPELINE_ID is not set"},
		{"id not a number", VarPipelineID, "abc", `CI_PIPELINE_ID must be a positive integer, got "abc"`},
		{"negative id", VarPipelineID, "-4", "CI_PIPELINE_ID must be a positive integer"},
		{"no created-at", VarCreatedAt, "", "CI_PIPELINE_CREATED_AT is not set"},
		{"created-at not ISO 8601", VarCreatedAt, "26.11.2026 04:00", `CI_PIPELINE_CREATED_AT must be an ISO 8601 time`},
		{"created-at without zone", VarCreatedAt, "2026-11-26T04:00:36", "CI_PIPELINE_CREATED_AT must be"},
		{"no ref", VarRef, " ", "CI_COMMIT_REF_NAME is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range good {
				m[k] = v
			}
			m[tt.key] = tt.value
			_, err := EventFromEnv(envOf(m), Created)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range []string{"created", "success", "failed", "deployed", "deploy-failed"} {
		if st, err := ParseStatus(s); err != nil || string(st) != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, st, err)
		}
	}
	for _, s := range []string{"", "Created", "running", "успех", "deploy_failed", "deploy"} {
		_, err := ParseStatus(s)
		if err == nil || !strings.Contains(err.Error(), "created, success, failed, deployed, deploy-failed") {
			t.Errorf("ParseStatus(%q) err = %v, want the five words listed", s, err)
		}
	}
}

func TestMessageIn(t *testing.T) {
	ev := Event{PipelineID: 4242, CreatedAt: time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC), Ref: "0.10.5"}
	want := map[Status]string{
		Created: "created", Success: "succeeded", Failed: "failed", Deployed: "deployed", DeployFailed: "deployment failed",
	}
	for _, st := range Statuses {
		ev.Status = st
		if got, w := MessageIn(LangEN, ev, time.UTC, "2006-01-02 15:04:05 MST"), "Pipeline 4242 2026-11-26 04:00:36 UTC 0.10.5 "+want[st]; got != w {
			t.Errorf("MessageIn(en, %s) = %q, want %q", st, got, w)
		}
		if got, w := MessageIn(LangRU, ev, time.UTC, "2006-01-02 15:04:05 MST"), "Пайплайн 4242 2026-11-26 04:00:36 UTC 0.10.5 "+Russian[st]; got != w {
			t.Errorf("MessageIn(ru, %s) = %q, want %q", st, got, w)
		}
		if Russian[st] == "" || English[st] == "" {
			t.Errorf("status %s has no text", st)
		}
	}
	for _, s := range []string{"", "ru", "en"} {
		if _, err := ParseLang(s); err != nil {
			t.Errorf("ParseLang(%q): %v", s, err)
		}
	}
	if _, err := ParseLang("EN"); err == nil {
		t.Error("ParseLang(EN) accepted")
	}
}
