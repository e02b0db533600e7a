package argocd

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Config.
const (
	DefaultApp                 = "oil-refinery-application"
	DefaultPollInterval        = time.Second
	DefaultRequestTimeout      = 30 * time.Second
	DefaultHelmImageRepository = "image.repository"
	DefaultHelmImageTag        = "image.tag"
)

// Config says which Argo CD and which Application a Client works on.
type Config struct {
	// Server is the base URL of the Argo CD API server, e.g.
	// https://argocd.example.com (http:// is allowed; a path prefix such as
	// https://example.com/argocd is kept).
	Server string
	// Token is a bearer token of an Argo CD account (apiKey capability)
	// whose RBAC allows applications get, update and sync on the app.
	Token string
	// Insecure skips TLS certificate verification. It cannot be combined
	// with HTTPClient, whose transport is used as it is.
	Insecure bool
	// App is the Application's name; DefaultApp when empty.
	App string
	// Project, when set, is sent with every request. Argo CD then answers
	// 404 for an application that does not exist; without it, it answers
	// 403 both for that and for missing rights, so as not to reveal names.
	Project string
	// HTTPClient, when set, makes the requests; it is copied, not changed.
	// Its Timeout, when not zero, replaces RequestTimeout.
	HTTPClient *http.Client
	// PollInterval is how often Wait reads the Application;
	// DefaultPollInterval when zero.
	PollInterval time.Duration
	// RequestTimeout bounds each request on top of the context;
	// DefaultRequestTimeout when zero.
	RequestTimeout time.Duration
	// HelmImageRepository and HelmImageTag are the Helm parameters SetImage
	// sets on a Helm application; DefaultHelmImageRepository and
	// DefaultHelmImageTag when empty.
	HelmImageRepository, HelmImageTag string
}

// withDefaults returns cfg with the empty fields that have defaults filled.
func (cfg Config) withDefaults() Config {
	cfg.App = cmp.Or(cfg.App, DefaultApp)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.HelmImageRepository = cmp.Or(cfg.HelmImageRepository, DefaultHelmImageRepository)
	cfg.HelmImageTag = cmp.Or(cfg.HelmImageTag, DefaultHelmImageTag)
	return cfg
}

// Validate reports every field of cfg (after defaults) that cannot work,
// saying what is accepted. It never prints the token.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	var errs []error
	u, err := url.Parse(cfg.Server)
	switch {
	case cfg.Server == "":
		errs = append(errs, errors.New("argocd server: missing: want a base URL such as https://argocd.example.com"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("argocd server %q: want an http:// or https:// base URL such as https://argocd.example.com", cfg.Server))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("argocd server %s: want a base URL without user info, query or fragment", u.Redacted()))
	}
	if strings.TrimSpace(cfg.Token) == "" {
		errs = append(errs, errors.New("argocd token: missing: want an API token of an Argo CD account"))
	} else if strings.ContainsAny(cfg.Token, " \t\r\n") {
		errs = append(errs, errors.New("argocd token: contains white space (a stray newline from a file?)"))
	}
	if !validName(cfg.App) {
		errs = append(errs, fmt.Errorf("argocd app %q: want an Application name (lower case letters, digits, '-' and '.')", cfg.App))
	}
	if cfg.Project != "" && !validName(cfg.Project) {
		errs = append(errs, fmt.Errorf("argocd project %q: want an AppProject name (lower case letters, digits, '-' and '.')", cfg.Project))
	}
	if cfg.Insecure && cfg.HTTPClient != nil {
		errs = append(errs, errors.New("argocd: Insecure and HTTPClient cannot be combined: set TLS on the HTTPClient's transport"))
	}
	if cfg.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("argocd poll interval %s: must be positive", cfg.PollInterval))
	}
	if cfg.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("argocd request timeout %s: must be positive", cfg.RequestTimeout))
	}
	return errors.Join(errs...)
}

// validName reports whether s is a Kubernetes object name (DNS-1123
// subdomain), as Application and AppProject names are.
func validName(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }
