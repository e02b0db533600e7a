package main

import (
	"strings"
	"testing"
)

// A token read from a Kubernetes Secret often ends in a newline; the
// configuration trims it, and the log must mask the trimmed value.
func TestLogMasksTheSecretsAsConfigured(t *testing.T) {
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN": "7000000002:AAsecret-from-a-secret\n",
		"CHATOPS_OPERATORS":  "1",
		"REGISTRY_SOURCE":    "gitlab",
		"GITLAB_URL":         "https://gitlab.example.com",
		"GITLAB_TOKEN":       "glpat-trailing-space ",
		"GITLAB_PROJECT":     "oil/app",
	}
	var out strings.Builder
	cfg, log, err := setup(func(k string) string { return env[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	log.Error("call failed", "error", "Post \"https://api.telegram.org/bot"+cfg.Token+"/getMe\": timeout", "gitlab", "PRIVATE-TOKEN "+cfg.GitLab.Token)
	for _, secret := range []string{"AAsecret-from-a-secret", "glpat-trailing-space"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("log shows %q:\n%s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "<redacted>") {
		t.Errorf("nothing masked:\n%s", out.String())
	}
}
