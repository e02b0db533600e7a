package botconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/access"
)

func base() map[string]string {
	return map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456:bot-secret",
		"CHATOPS_OPERATORS":  "111, 222",
		"REGISTRY_SOURCE":    "oci",
		"REGISTRY_IMAGE":     "registry.example.com/oil/app",
	}
}

func load(over map[string]string) (Config, error) {
	m := base()
	for k, v := range over {
		m[k] = v
	}
	return Load(func(k string) string { return m[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.APIURL, c.Deployment, c.DeployVia, c.HTTPAddr, c.Core.Lang, c.Core.MaxReplicas,
		c.Core.MaxCommandAge, c.Core.RolloutTimeout, c.Core.Operators, len(c.Core.Viewers), c.Core.RegistryImage}
	want := []any{"https://api.telegram.org", "oil-refinery-application", "kubernetes", ":8080", "ru", int32(10),
		2 * time.Minute, 5 * time.Minute, []int64{111, 222}, 0, "registry.example.com/oil/app"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestGroupAccess(t *testing.T) {
	c, err := load(map[string]string{"CHATOPS_VIEWERS": "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := access.Config{AdminRole: access.Operator, MemberRole: access.Viewer, CacheTTL: time.Minute}
	if diff := cmp.Diff(want, c.Access); diff != "" {
		t.Errorf("access without a group (-want +got):\n%s", diff)
	}
	c, err = load(map[string]string{"CHATOPS_OPERATORS": "", "CHATOPS_GROUP_ID": "-1001234567890", "CHATOPS_GROUP_ADMIN_ROLE": "viewer",
		"CHATOPS_GROUP_MEMBER_ROLE": "none", "CHATOPS_GROUP_CACHE": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	want = access.Config{GroupID: -1001234567890, AdminRole: access.Viewer, MemberRole: access.Stranger, CacheTTL: 30 * time.Second}
	if diff := cmp.Diff(want, c.Access); diff != "" {
		t.Errorf("access through a group (-want +got):\n%s", diff)
	}
}

func TestAccepts(t *testing.T) {
	for name, over := range map[string]map[string]string{
		"viewers only":  {"CHATOPS_OPERATORS": "", "CHATOPS_VIEWERS": "5"},
		"group only":    {"CHATOPS_OPERATORS": "", "CHATOPS_GROUP_ID": "-1001234567890", "CHATOPS_GROUP_ADMIN_ROLE": "viewer", "CHATOPS_GROUP_MEMBER_ROLE": "none", "CHATOPS_GROUP_CACHE": "30s"},
		"gitlab source": {"REGISTRY_SOURCE": "gitlab", "GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "glpat-x", "GITLAB_PROJECT": "oil/app", "REGISTRY_IMAGE": ""},
		"english":       {"BOT_LANG": "en"},
		"audit chat":    {"CHATOPS_AUDIT_CHAT_ID": "-1001234567890"},
		"limits":        {"BOT_MAX_REPLICAS": "50", "BOT_MAX_COMMAND_AGE": "30s", "BOT_ROLLOUT_TIMEOUT": "10m"},
		"insecure":      {"REGISTRY_INSECURE": "true"},
		"http address":  {"BOT_HTTP_ADDR": "127.0.0.1:9090"},
		"argocd":        {"DEPLOY_VIA": "argocd", "ARGOCD_SERVER": "http://127.0.0.1:8081/", "ARGOCD_AUTH_TOKEN": "eyJ.x.y", "ARGOCD_INSECURE": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(over); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name string
		over map[string]string
		want string
	}{
		{"no token", map[string]string{"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"},
		{"token with a slash", map[string]string{"TELEGRAM_BOT_TOKEN": "12/34"}, "TELEGRAM_BOT_TOKEN is malformed"},
		{"nobody", map[string]string{"CHATOPS_OPERATORS": ""}, "none of CHATOPS_OPERATORS, CHATOPS_VIEWERS, CHATOPS_GROUP_ID is set"},
		{"group id a word", map[string]string{"CHATOPS_GROUP_ID": "oil-team"}, `CHATOPS_GROUP_ID must be the numeric id of a Telegram group, negative such as -1001234567890, got "oil-team"`},
		{"group id of a user", map[string]string{"CHATOPS_GROUP_ID": "12345"}, `CHATOPS_GROUP_ID must be the numeric id of a Telegram group`},
		{"group admin role", map[string]string{"CHATOPS_GROUP_ID": "-100", "CHATOPS_GROUP_ADMIN_ROLE": "admin"}, `CHATOPS_GROUP_ADMIN_ROLE must be one of operator, viewer, none, got "admin"`},
		{"group member role", map[string]string{"CHATOPS_GROUP_ID": "-100", "CHATOPS_GROUP_MEMBER_ROLE": "Viewer"}, `CHATOPS_GROUP_MEMBER_ROLE must be one of operator, viewer, none, got "Viewer"`},
		{"group cache", map[string]string{"CHATOPS_GROUP_ID": "-100", "CHATOPS_GROUP_CACHE": "60"}, `CHATOPS_GROUP_CACHE must be a positive Go duration such as 2m or 90s, got "60"`},
		{"username", map[string]string{"CHATOPS_VIEWERS": "@boss"}, `CHATOPS_VIEWERS must be comma-separated numeric Telegram user ids such as 123456789,987654321, got "@boss"`},
		{"negative id", map[string]string{"CHATOPS_OPERATORS": "-5"}, "CHATOPS_OPERATORS must be comma-separated numeric"},
		{"audit chat word", map[string]string{"CHATOPS_AUDIT_CHAT_ID": "ops"}, `CHATOPS_AUDIT_CHAT_ID must be a numeric chat id`},
		{"language", map[string]string{"BOT_LANG": "de"}, `BOT_LANG must be one of ru, en, got "de"`},
		{"no source", map[string]string{"REGISTRY_SOURCE": ""}, "REGISTRY_SOURCE is not set: it must be gitlab"},
		{"bad source", map[string]string{"REGISTRY_SOURCE": "hub"}, `REGISTRY_SOURCE must be one of gitlab, oci, got "hub"`},
		{"image without registry host", map[string]string{"REGISTRY_SOURCE": "gitlab", "GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "t", "GITLAB_PROJECT": "oil/app", "REGISTRY_IMAGE": "oil/app"}, `REGISTRY_IMAGE must name the registry host, such as registry.example.com/oil/app, got "oil/app"`},
		{"oci without image", map[string]string{"REGISTRY_IMAGE": ""}, "REGISTRY_IMAGE is not set"},
		{"oci image with tag", map[string]string{"REGISTRY_IMAGE": "registry.example.com/oil/app:1.0"}, "REGISTRY_IMAGE must be an image reference without tag"},
		{"gitlab without project", map[string]string{"REGISTRY_SOURCE": "gitlab", "GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "t"}, "GITLAB_PROJECT"},
		{"deploy via", map[string]string{"DEPLOY_VIA": "helm"}, `DEPLOY_VIA must be one of kubernetes, argocd, got "helm"`},
		{"argocd without server", map[string]string{"DEPLOY_VIA": "argocd", "ARGOCD_AUTH_TOKEN": "t"}, "ARGOCD_SERVER is not set"},
		{"argocd server not a URL", map[string]string{"DEPLOY_VIA": "argocd", "ARGOCD_SERVER": "argocd.example.com", "ARGOCD_AUTH_TOKEN": "t"}, `ARGOCD_SERVER must be an http:// or https:// base URL`},
		{"argocd without token", map[string]string{"DEPLOY_VIA": "argocd", "ARGOCD_SERVER": "https://argocd.example.com"}, "ARGOCD_AUTH_TOKEN is not set"},
		{"argocd bad app", map[string]string{"DEPLOY_VIA": "argocd", "ARGOCD_SERVER": "https://argocd.example.com", "ARGOCD_AUTH_TOKEN": "t", "ARGOCD_APP": "Oil App"}, "ARGOCD_APP / ARGOCD_PROJECT"},
		{"argocd insecure word", map[string]string{"DEPLOY_VIA": "argocd", "ARGOCD_SERVER": "https://argocd.example.com", "ARGOCD_AUTH_TOKEN": "t", "ARGOCD_INSECURE": "maybe"}, "ARGOCD_INSECURE must be true or false"},
		{"insecure word", map[string]string{"REGISTRY_INSECURE": "yes please"}, "REGISTRY_INSECURE must be true or false"},
		{"http address", map[string]string{"BOT_HTTP_ADDR": "8080"}, `BOT_HTTP_ADDR must be host:port or :port such as :8080, got "8080"`},
		{"max replicas", map[string]string{"BOT_MAX_REPLICAS": "-1"}, "BOT_MAX_REPLICAS must be a whole number from 0 to 1000"},
		{"command age", map[string]string{"BOT_MAX_COMMAND_AGE": "2"}, "BOT_MAX_COMMAND_AGE must be a positive Go duration"},
		{"rollout timeout", map[string]string{"BOT_ROLLOUT_TIMEOUT": "-1m"}, "BOT_ROLLOUT_TIMEOUT must be a positive Go duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.over)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "bot-secret") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestRegistryCacheTTL(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{value: "", want: 30 * time.Second},
		{value: "2m", want: 2 * time.Minute},
		{value: "0s", want: 0},
		{value: "30", wantErr: `REGISTRY_CACHE_TTL must be a Go duration such as 30s or 2m (0s: list anew for every command), got "30"`},
		{value: "-1s", wantErr: "REGISTRY_CACHE_TTL must be a Go duration from 0s (no cache) to 1h0m0s such as 30s, got -1s"},
		{value: "2h", wantErr: "REGISTRY_CACHE_TTL must be a Go duration from 0s (no cache) to 1h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			c, err := load(map[string]string{"REGISTRY_CACHE_TTL": tc.value})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.OCI.CacheTTL != tc.want || c.GitLab.CacheTTL != tc.want {
				t.Errorf("cache TTL %s / %s, want %s", c.OCI.CacheTTL, c.GitLab.CacheTTL, tc.want)
			}
		})
	}
}
