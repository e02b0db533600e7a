package argocd_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

const (
	testToken = "eyJhbGciOiJIUzI1NiJ9.secret-argocd-token.sig"
	testApp   = "oil-refinery-application"
)

// request is what the fake saw of one call.
type request struct {
	Method, Path, Query, ContentType string
	Body                             map[string]any
}

// fakeArgo answers like Argo CD's API server for one Application: GET and
// PATCH (merge) of /api/v1/applications/NAME and POST .../sync. Like the
// real one it wants a bearer token and Content-Type: application/json on
// every non-GET call.
type fakeArgo struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	app      map[string]any
	requests []request
	// answer, when set, replaces the normal answer to a call: return
	// status 0 to answer normally.
	answer func(r request) (status int, body string)
}

func newFakeArgo(t *testing.T) *fakeArgo {
	t.Helper()
	f := &fakeArgo{t: t, app: loadApp(t)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func loadApp(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/app.json")
	if err != nil {
		t.Fatal(err)
	}
	var app map[string]any
	if err := json.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	return app
}

// client returns a client of the fake with a short poll interval.
func (f *fakeArgo) client(t *testing.T, mod ...func(*argocd.Config)) *argocd.Client {
	t.Helper()
	cfg := argocd.Config{Server: f.srv.URL, Token: testToken, PollInterval: 5 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := argocd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeArgo) calls() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// source returns spec.source of the stored application.
func (f *fakeArgo) source() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.app["spec"].(map[string]any)["source"].(map[string]any)
}

// set changes the stored application with a merge patch.
func (f *fakeArgo) set(patch string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.app = mergePatch(f.app, mustJSON(f.t, patch)).(map[string]any)
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	return v
}

func (f *fakeArgo) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type")}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req.Body); err != nil {
			writeError(w, http.StatusBadRequest, 3, "bad body: "+err.Error())
			return
		}
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	answer := f.answer
	f.mu.Unlock()

	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeError(w, http.StatusUnauthorized, 16, "invalid session: token signature is invalid")
		return
	}
	if r.Method != http.MethodGet && req.ContentType != "application/json" {
		http.Error(w, "Unsupported Media Type", http.StatusUnsupportedMediaType)
		return
	}
	if answer != nil {
		if status, body := answer(req); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
	}
	name, action, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/v1/applications/"), "/")
	if name != testApp {
		writeError(w, http.StatusForbidden, 7, "permission denied")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && action == "":
	case r.Method == http.MethodPatch && action == "":
		if req.Body["patchType"] != "merge" || req.Body["name"] != testApp {
			writeError(w, http.StatusBadRequest, 3, fmt.Sprintf("unexpected patch request %v", req.Body))
			return
		}
		var patch any
		if err := json.Unmarshal([]byte(req.Body["patch"].(string)), &patch); err != nil {
			writeError(w, http.StatusBadRequest, 3, "error calculating merge patch: "+err.Error())
			return
		}
		f.app = mergePatch(f.app, patch).(map[string]any)
	case r.Method == http.MethodPost && action == "sync":
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(f.app)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": msg, "message": msg, "code": code})
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}
