// Package argocd drives one Argo CD Application through Argo CD's REST API
// (/api/v1/applications/...): read its state, set the image of the app
// (a kustomize images override, or Helm parameters for a Helm source), set
// replicas (a kustomize replicas override), sync, and wait until it is
// Synced and Healthy on the new image.
//
// It talks HTTP through resty and imports nothing of Argo CD. Every error
// names the application and carries Argo CD's own message; the token never
// appears in an error.
package argocd

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-resty/resty/v2"

	"gitlab.com/derrick-kit/derrick/internal/redact"
)

// Client works on the one Application named in its Config. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	http   *resty.Client
	redact redact.Redactor
}

// New validates cfg and returns a client for it. It makes no request.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var hc *resty.Client
	if cfg.HTTPClient != nil {
		// A copy: resty sets the timeout on the client it is given.
		own := *cfg.HTTPClient
		own.Timeout = cmp.Or(own.Timeout, cfg.RequestTimeout)
		hc = resty.NewWithClient(&own)
	} else {
		hc = resty.New().SetTimeout(cfg.RequestTimeout)
		if cfg.Insecure {
			hc.SetTLSClientConfig(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // asked for by ARGOCD_INSECURE
		}
	}
	hc.SetBaseURL(strings.TrimRight(cfg.Server, "/")).
		SetLogger(discardLogger{}). // resty would print requests and warnings
		SetDisableWarn(true).       // e.g. "sensitive credentials in HTTP mode"
		SetAuthToken(cfg.Token).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "derrick")
	return &Client{cfg: cfg, http: hc, redact: redact.New(cfg.Token)}, nil
}

// AppName is the name of the Application the client works on.
func (c *Client) AppName() string { return c.cfg.App }

// Errors that APIError and Wait wrap, for errors.Is.
var (
	// ErrUnauthorized: Argo CD refused the token (HTTP 401).
	ErrUnauthorized = errors.New("token rejected")
	// ErrForbidden: the account may not do this, or (without
	// Config.Project) the application does not exist (HTTP 403).
	ErrForbidden = errors.New("permission denied")
	// ErrNotFound: the application does not exist (HTTP 404).
	ErrNotFound = errors.New("application not found")
	// ErrDegraded: the application's health became Degraded.
	ErrDegraded = errors.New("application degraded")
	// ErrSyncFailed: the sync operation of the current spec failed.
	ErrSyncFailed = errors.New("sync failed")
)

// APIError is an error answer of Argo CD: {"error":..,"message":..,"code":..}.
type APIError struct {
	App    string // application name
	Op     string // what the client did, e.g. "get", "set image of", "sync"
	Status int    // HTTP status
	Code   int    // gRPC code Argo CD gave, 0 when absent
	// Message is Argo CD's message (redacted), or the HTTP status text when
	// the body was not Argo CD's.
	Message string
}

func (e *APIError) Error() string {
	prefix := fmt.Sprintf("%s application %q", e.Op, e.App)
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s: Argo CD rejected the token (401: %s): it is invalid or expired; "+
			"create a new one with `argocd account generate-token`", prefix, e.Message)
	case http.StatusForbidden:
		return fmt.Sprintf("%s: Argo CD denied it (403: %s): the token's account lacks rights on it, "+
			"or the application does not exist (Argo CD answers both alike); "+
			"the account needs RBAC applications get, update and sync on its project", prefix, e.Message)
	case http.StatusNotFound:
		return fmt.Sprintf("%s: application %q not found (404: %s)", prefix, e.App, e.Message)
	}
	return fmt.Sprintf("%s: Argo CD answered %d: %s", prefix, e.Status, e.Message)
}

// Unwrap lets errors.Is match ErrUnauthorized, ErrForbidden and ErrNotFound.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// apiMessage is the body of Argo CD's error answers (grpc-gateway).
type apiMessage struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code"`
}

// appPath is the path of the Application, with suffix ("" or "/sync").
func (c *Client) appPath(suffix string) string {
	return "/api/v1/applications/" + url.PathEscape(c.cfg.App) + suffix
}

// do sends one request; body, when not nil, is sent as JSON; a 2xx answer
// is decoded into out when out is not nil. op names the action in errors.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	req := c.http.R().SetContext(ctx)
	if method != http.MethodGet {
		// Argo CD answers 415 to any non-GET call without it, body or not.
		req.SetHeader("Content-Type", "application/json")
		if body == nil {
			body = struct{}{}
		}
		req.SetBody(body)
	}
	if len(query) > 0 {
		req.SetQueryParamsFromValues(query)
	}
	resp, err := req.Execute(method, path)
	if err != nil {
		return c.redact.Error(fmt.Errorf("%s application %q: %w", op, c.cfg.App, err))
	}
	if resp.IsError() || resp.StatusCode() >= 300 {
		return c.apiError(op, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return fmt.Errorf("%s application %q: the answer (%s) is not Argo CD's JSON "+
				"(is the server the base URL of Argo CD's API?): %w", op, c.cfg.App, resp.Header().Get("Content-Type"), err)
		}
	}
	return nil
}

func (c *Client) apiError(op string, resp *resty.Response) error {
	e := &APIError{App: c.cfg.App, Op: op, Status: resp.StatusCode()}
	var m apiMessage
	if json.Unmarshal(resp.Body(), &m) == nil && (m.Message != "" || m.Error != "") {
		e.Code = m.Code
		e.Message = cmp.Or(m.Message, m.Error)
	} else {
		// Not Argo CD talking: a proxy's error page, say.
		e.Message = cmp.Or(http.StatusText(e.Status), "unexpected answer")
		if snippet := strings.Join(strings.Fields(string(resp.Body())), " "); snippet != "" {
			if r := []rune(snippet); len(r) > 200 {
				snippet = string(r[:200]) + "..."
			}
			e.Message += ": " + snippet
		}
	}
	e.Message = c.redact.String(e.Message)
	return e
}

type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
