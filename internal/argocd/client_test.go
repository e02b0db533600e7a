package argocd_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

func TestConfigValidate(t *testing.T) {
	ok := argocd.Config{Server: "https://argocd.example.com", Token: testToken}
	tests := []struct {
		name string
		mod  func(*argocd.Config)
		want []string // substrings of the error; none: valid
	}{
		{name: "minimal", mod: func(*argocd.Config) {}},
		{name: "plain http with path prefix", mod: func(c *argocd.Config) { c.Server = "http://127.0.0.1:8080/argocd/" }},
		{name: "missing server", mod: func(c *argocd.Config) { c.Server = "" }, want: []string{"argocd server: missing"}},
		{name: "server without scheme", mod: func(c *argocd.Config) { c.Server = "argocd.example.com" },
			want: []string{`argocd server "argocd.example.com": want an http:// or https:// base URL`}},
		{name: "server with credentials", mod: func(c *argocd.Config) { c.Server = "https://u:pw@argocd.example.com" },
			want: []string{"without user info"}},
		{name: "missing token", mod: func(c *argocd.Config) { c.Token = " " }, want: []string{"argocd token: missing"}},
		{name: "token with newline", mod: func(c *argocd.Config) { c.Token = testToken + "\n" }, want: []string{"white space"}},
		{name: "bad app", mod: func(c *argocd.Config) { c.App = "Oil_App" }, want: []string{`argocd app "Oil_App"`}},
		{name: "bad project", mod: func(c *argocd.Config) { c.Project = "-x" }, want: []string{`argocd project "-x"`}},
		{name: "insecure and client", mod: func(c *argocd.Config) { c.Insecure, c.HTTPClient = true, http.DefaultClient },
			want: []string{"Insecure and HTTPClient cannot be combined"}},
		{name: "several at once", mod: func(c *argocd.Config) { c.Server, c.Token = "", "" },
			want: []string{"argocd server: missing", "argocd token: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if tok := strings.TrimSpace(cfg.Token); tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("Validate() = %q prints the token", err)
			}
			if _, err := argocd.New(cfg); err == nil {
				t.Error("New() accepted a config Validate refuses")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		is     error
		want   []string
	}{
		{
			name: "token rejected", status: 401,
			body: `{"error":"invalid session: token signature is invalid","code":16,"message":"invalid session: token signature is invalid"}`,
			is:   argocd.ErrUnauthorized,
			want: []string{`get application "oil-refinery-application"`, "rejected the token", "invalid session: token signature is invalid"},
		},
		{
			name: "no rights or no such app", status: 403,
			body: `{"error":"permission denied","code":7,"message":"permission denied"}`,
			is:   argocd.ErrForbidden,
			want: []string{`application "oil-refinery-application"`, "denied it (403: permission denied)", "applications get, update and sync", "does not exist"},
		},
		{
			name: "not found", status: 404,
			body: `{"error":"applications.argoproj.io \"oil-refinery-application\" not found","code":5,"message":"applications.argoproj.io \"oil-refinery-application\" not found"}`,
			is:   argocd.ErrNotFound,
			want: []string{`application "oil-refinery-application" not found`},
		},
		{
			name: "server error", status: 500,
			body: `{"error":"rpc error: redis down","code":13,"message":"rpc error: redis down"}`,
			want: []string{"Argo CD answered 500: rpc error: redis down"},
		},
		{
			name: "proxy page", status: 502,
			body: "<html><body>Bad gateway</body></html>",
			want: []string{"Argo CD answered 502: Bad Gateway: <html><body>Bad gateway</body></html>"},
		},
		{
			name: "token echoed by a proxy", status: 400,
			body: `{"error":"bad header Bearer ` + testToken + `","code":3,"message":"bad header Bearer ` + testToken + `"}`,
			want: []string{"bad header Bearer <redacted>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := argocd.New(argocd.Config{Server: srv.URL, Token: testToken})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Application(t.Context())
			if err == nil {
				t.Fatal("Application() = nil error")
			}
			var apiErr *argocd.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
				t.Errorf("Application() = %#v, want an APIError with status %d", err, tt.status)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%q, %v) = false", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Application() = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("Application() = %q prints the token", err)
			}
		})
	}
}

func TestTransportErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens there now
	c, err := argocd.New(argocd.Config{Server: url, Token: testToken, App: "app"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Sync(t.Context())
	if err == nil || !strings.Contains(err.Error(), `sync application "app"`) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("Sync() = %v, want a connection error naming the app without the token", err)
	}
}

func TestRequestsCarryTokenAndContentType(t *testing.T) {
	f := newFakeArgo(t)
	c := f.client(t, func(cfg *argocd.Config) { cfg.Server += "/" }) // a trailing slash is fine
	ctx := t.Context()
	if _, err := c.Application(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReplicas(ctx, "worker", 5); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.calls() {
		got = append(got, r.Method+" "+r.Path+" "+r.ContentType)
	}
	want := []string{
		"GET /api/v1/applications/oil-refinery-application ",
		"GET /api/v1/applications/oil-refinery-application ",
		"PATCH /api/v1/applications/oil-refinery-application application/json",
		"POST /api/v1/applications/oil-refinery-application/sync application/json",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestProjectIsSent(t *testing.T) {
	f := newFakeArgo(t)
	c := f.client(t, func(cfg *argocd.Config) { cfg.Project = "default" })
	ctx := t.Context()
	if err := c.SetImage(ctx, "registry.example.com/oil/app:0.10.5"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	calls := f.calls()
	if got := calls[0].Query; got != "project=default" {
		t.Errorf("GET query = %q, want project=default", got)
	}
	for _, r := range calls[1:] {
		if r.Body["project"] != "default" {
			t.Errorf("%s %s body %v has no project", r.Method, r.Path, r.Body)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c, err := argocd.New(argocd.Config{Server: srv.URL, Token: testToken, RequestTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Application(context.Background())
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Application() = %v after %s, want a timeout after ~50ms", err, time.Since(start))
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"metadata":{"name":"oil-refinery-application"}}`))
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		cfg     argocd.Config
		wantErr string
	}{
		{name: "verified by default", cfg: argocd.Config{}, wantErr: "certificate"},
		{name: "insecure", cfg: argocd.Config{Insecure: true}},
		{name: "caller's client", cfg: argocd.Config{HTTPClient: srv.Client()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Server, cfg.Token = srv.URL, testToken
			c, err := argocd.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Application(t.Context())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Application() = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Application() = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	if srv.Client().Timeout != 0 {
		t.Errorf("New changed the caller's http.Client: Timeout = %s", srv.Client().Timeout)
	}
}

func TestNotArgoCD(t *testing.T) {
	// A login page of a proxy in front of Argo CD, or a wrong base URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>sign in</html>"))
	}))
	defer srv.Close()
	c, err := argocd.New(argocd.Config{Server: srv.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Application(t.Context())
	want := `get application "oil-refinery-application": the answer (text/html) is not Argo CD's JSON (is the server the base URL of Argo CD's API?)`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Application() = %v, want %q", err, want)
	}
}
