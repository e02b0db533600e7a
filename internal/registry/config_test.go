package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewGitLabValidates(t *testing.T) {
	ok := GitLabConfig{URL: "https://gitlab.example.com", Token: "glpat-secret-value", Project: "oil/refinery"}
	tests := []struct {
		name    string
		edit    func(c *GitLabConfig)
		wantErr string // "" means valid
	}{
		{name: "project path", edit: func(c *GitLabConfig) {}},
		{name: "numeric project, image as repository", edit: func(c *GitLabConfig) {
			c.Project, c.Repository = "42", "registry.example.com/oil/refinery/worker"
		}},
		{name: "repository path", edit: func(c *GitLabConfig) { c.Repository = "oil/refinery/worker" }},
		{name: "URL with API path", edit: func(c *GitLabConfig) { c.URL = "http://gitlab.local:8080/api/v4" }},
		{name: "no URL", edit: func(c *GitLabConfig) { c.URL = "" },
			wantErr: `GITLAB_URL must be the GitLab instance's URL such as https://gitlab.example.com, got ""`},
		{name: "URL without scheme", edit: func(c *GitLabConfig) { c.URL = "gitlab.example.com" },
			wantErr: `GITLAB_URL must be the GitLab instance's URL such as https://gitlab.example.com, got "gitlab.example.com"`},
		{name: "no token", edit: func(c *GitLabConfig) { c.Token = "" },
			wantErr: "GITLAB_TOKEN is required: a token with the read_api scope (api for a project or group access token)"},
		{name: "token with newline", edit: func(c *GitLabConfig) { c.Token = "glpat-secret-value\n" },
			wantErr: "GITLAB_TOKEN must be a single token without spaces or newlines"},
		{name: "project without group", edit: func(c *GitLabConfig) { c.Project = "refinery" },
			wantErr: `GITLAB_PROJECT must be a numeric project id such as 42 or a path such as group/project, got "refinery"`},
		{name: "project URL", edit: func(c *GitLabConfig) { c.Project = "https://gitlab.example.com/oil/refinery" },
			wantErr: `GITLAB_PROJECT must be a numeric project id such as 42 or a path such as group/project`},
		{name: "repository with tag", edit: func(c *GitLabConfig) { c.Repository = "registry.example.com/oil/refinery:1.0" },
			wantErr: `REGISTRY_IMAGE must be an image reference without tag such as registry.example.com/group/project, got "registry.example.com/oil/refinery:1.0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			g, err := NewGitLab(cfg)
			checkConfigErr(t, err, tc.wantErr, g == nil, "glpat-secret-value")
		})
	}
}

func TestNewOCIValidates(t *testing.T) {
	ok := OCIConfig{Image: "registry.example.com/oil/app", Username: "bot", Password: "hunter2-secret"}
	tests := []struct {
		name     string
		edit     func(c *OCIConfig)
		wantBase string // with wantName, for valid configs
		wantName string
		wantErr  string
	}{
		{name: "https by default", edit: func(c *OCIConfig) {}, wantBase: "https://registry.example.com", wantName: "oil/app"},
		{name: "insecure with port", edit: func(c *OCIConfig) { c.Image, c.Insecure = "127.0.0.1:5000/oil/app", true },
			wantBase: "http://127.0.0.1:5000", wantName: "oil/app"},
		{name: "localhost", edit: func(c *OCIConfig) { c.Image = "localhost/app" }, wantBase: "https://localhost", wantName: "app"},
		{name: "IPv6", edit: func(c *OCIConfig) { c.Image = "[::1]:5000/a/b/c" }, wantBase: "https://[::1]:5000", wantName: "a/b/c"},
		{name: "docker hub", edit: func(c *OCIConfig) { c.Image = "docker.io/nginx" },
			wantBase: "https://registry-1.docker.io", wantName: "library/nginx"},
		{name: "anonymous", edit: func(c *OCIConfig) { c.Username, c.Password = "", "" },
			wantBase: "https://registry.example.com", wantName: "oil/app"},
		{name: "no image", edit: func(c *OCIConfig) { c.Image = "" },
			wantErr: "REGISTRY_IMAGE is required: an image reference without tag such as registry.example.com/oil/app"},
		{name: "image with scheme", edit: func(c *OCIConfig) { c.Image = "https://registry.example.com/oil/app" },
			wantErr: `REGISTRY_IMAGE must be an image reference without tag such as registry.example.com/oil/app (no scheme; REGISTRY_INSECURE=true selects plain HTTP), got "https://registry.example.com/oil/app"`},
		{name: "image with tag", edit: func(c *OCIConfig) { c.Image = "registry.example.com:5000/oil/app:0.10.5" },
			wantErr: `REGISTRY_IMAGE must be an image reference without tag such as registry.example.com/oil/app (drop ":0.10.5"), got "registry.example.com:5000/oil/app:0.10.5"`},
		{name: "image with digest", edit: func(c *OCIConfig) { c.Image = "registry.example.com/oil/app@sha256:abc" },
			wantErr: `(drop "@sha256:abc")`},
		{name: "image without host", edit: func(c *OCIConfig) { c.Image = "oil/app" },
			wantErr: `(it starts with the registry host), got "oil/app"`},
		{name: "image without path", edit: func(c *OCIConfig) { c.Image = "registry.example.com" },
			wantErr: `(it starts with the registry host), got "registry.example.com"`},
		{name: "upper-case path", edit: func(c *OCIConfig) { c.Image = "registry.example.com/Oil/app" },
			wantErr: "(path components are lower-case letters, digits and . _ -)"},
		{name: "username without password", edit: func(c *OCIConfig) { c.Password = "" },
			wantErr: "REGISTRY_PASSWORD is required when REGISTRY_USERNAME is set"},
		{name: "password without username", edit: func(c *OCIConfig) { c.Username = "" },
			wantErr: "REGISTRY_USERNAME is required when REGISTRY_PASSWORD is set"},
		{name: "username with colon", edit: func(c *OCIConfig) { c.Username = "a:b" },
			wantErr: `REGISTRY_USERNAME must not contain a colon, got "a:b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			o, err := NewOCI(cfg)
			checkConfigErr(t, err, tc.wantErr, o == nil, "hunter2-secret")
			if err == nil {
				// REGISTRY_INSECURE=false: HTTPS only, whatever the host (see TestOCIRefusesPlainHTTP).
				want := []string{strings.TrimPrefix(strings.TrimPrefix(tc.wantBase, "https://"), "http://"), tc.wantName}
				if diff := cmp.Diff(want, []string{o.repo.RegistryStr(), o.repo.RepositoryStr()}); diff != "" {
					t.Errorf("base and name (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func checkConfigErr(t *testing.T, err error, wantErr string, isNil bool, secret string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", wantErr)
	}
	if !isNil {
		t.Errorf("a source was returned with the error")
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %q\ndoes not contain %q", err, wantErr)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error reveals a secret: %q", err)
	}
}

func FuzzParseImage(f *testing.F) {
	f.Add("registry.example.com/oil/app")
	f.Add("127.0.0.1:5000/a/b:tag")
	f.Add("[::1]:5000/x")
	f.Fuzz(func(t *testing.T, s string) {
		host, name, err := parseImage(s)
		if err != nil {
			if !strings.Contains(err.Error(), "REGISTRY_IMAGE") {
				t.Fatalf("error does not name the variable: %v", err)
			}
			return
		}
		if host == "" || name == "" || strings.ContainsAny(name, ":@ ") {
			t.Fatalf("parseImage(%q) = %q, %q", s, host, name)
		}
	})
}
