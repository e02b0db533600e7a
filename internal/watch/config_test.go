package watch

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	good := map[string]string{
		"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_CHAT_ID": "-100500",
		"GITLAB_URL": "https://gitlab.example.com/", "GITLAB_TOKEN": "glpat-secret", "WATCH_PROJECTS": "42, group/project",
		"WATCH_STATE_CONFIGMAP": "oil-bot-watcher-state",
	}
	cfg, err := LoadConfig(func(k string) string { return good[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitLabURL != "https://gitlab.example.com" || len(cfg.Projects) != 2 || cfg.Projects[1] != "group/project" ||
		cfg.Interval != 20*time.Second || cfg.CreatedGrace != 2*time.Minute || cfg.Since != time.Hour ||
		cfg.JobPrefix != "" || cfg.HTTPAddr != ":8081" || cfg.Notify.Location.String() != "Europe/Moscow" {
		t.Errorf("defaults: %+v", cfg)
	}
	tests := []struct{ key, value, want string }{
		{"GITLAB_URL", "", "GITLAB_URL must be"},
		{"GITLAB_URL", "gitlab.example.com", "GITLAB_URL must be"},
		{"GITLAB_TOKEN", "", "GITLAB_TOKEN is not set"},
		{"GITLAB_TOKEN", "two words", "GITLAB_TOKEN must be a single token"},
		{"WATCH_PROJECTS", "", "WATCH_PROJECTS is not set"},
		{"WATCH_PROJECTS", "42,https://x/y", `WATCH_PROJECTS must be comma-separated project ids or paths such as 42,group/project, got "https://x/y"`},
		{"WATCH_INTERVAL", "20", `WATCH_INTERVAL must be a Go duration of at least 100ms such as 20s, got "20"`},
		{"WATCH_INTERVAL", "10ms", "WATCH_INTERVAL must be"},
		{"WATCH_CREATED_GRACE", "-1m", "WATCH_CREATED_GRACE must be"},
		{"WATCH_SINCE", "yesterday", "WATCH_SINCE must be"},
		{"WATCH_REQUEST_TIMEOUT", "0s", "WATCH_REQUEST_TIMEOUT must be"},
		{"WATCH_JOB_PREFIX", "oil notify", "WATCH_JOB_PREFIX must be the notify component's job_prefix"},
		{"WATCH_STATE_CONFIGMAP", "", "WATCH_STATE_CONFIGMAP is not set"},
		{"WATCH_STATE_CONFIGMAP", "State_Map", "WATCH_STATE_CONFIGMAP must be a ConfigMap name"},
		{"WATCH_NAMESPACE", "Oil", "WATCH_NAMESPACE must be a namespace name"},
		{"WATCH_HTTP_ADDR", "8081", "WATCH_HTTP_ADDR must be host:port"},
		{"TELEGRAM_CHAT_ID", "", "TELEGRAM_CHAT_ID is not set"},
		{"NOTIFY_TZ", "Mars/Olympus", "NOTIFY_TZ must be"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			env[tt.key] = tt.value
			_, err := LoadConfig(func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "glpat-secret") {
				t.Errorf("the token is in the error: %v", err)
			}
		})
	}
}
