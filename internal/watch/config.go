// Package watch is the notifier's long-running mode, `notifier watch`: it
// polls GitLab's pipelines API for the pipelines its notify jobs could not
// announce (canceled, timed out, a notify job that failed to start, no
// runner) and posts the line the pipeline's own job should have posted, in
// the same format. What it decided survives restarts in one ConfigMap.
package watch

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/notify"
)

// Config is the watcher's configuration, read once from the environment.
type Config struct {
	Notify       notify.Config // TELEGRAM_*, NOTIFY_TZ, NOTIFY_TIME_FORMAT, NOTIFY_TIMEOUT
	GitLabURL    string        // GITLAB_URL
	GitLabToken  string        // GITLAB_TOKEN (read_api)
	Projects     []string      // WATCH_PROJECTS: ids or paths
	Interval     time.Duration // WATCH_INTERVAL
	CreatedGrace time.Duration // WATCH_CREATED_GRACE
	JobPrefix    string        // WATCH_JOB_PREFIX: the notify component's job_prefix
	Since        time.Duration // WATCH_SINCE: how far back the first start looks
	ConfigMap    string        // WATCH_STATE_CONFIGMAP
	Namespace    string        // WATCH_NAMESPACE; "" = the pod's namespace
	Kubeconfig   string        // KUBECONFIG; "" = in-cluster
	HTTPAddr     string        // WATCH_HTTP_ADDR
	// Lease (WATCH_LEASE) is the bot's leader Lease: when set, only the
	// watcher of the replica named Identity (POD_NAME, else the hostname)
	// while it holds that Lease looks and posts.
	Lease    string
	Identity string
	// RequestTimeout bounds one GitLab request (WATCH_REQUEST_TIMEOUT).
	RequestTimeout time.Duration
}

// Defaults of the optional variables.
const (
	DefaultInterval       = 20 * time.Second
	DefaultCreatedGrace   = 2 * time.Minute
	DefaultSince          = time.Hour
	DefaultHTTPAddr       = ":8081"
	DefaultRequestTimeout = 10 * time.Second
)

var (
	projectIDRE   = regexp.MustCompile(`^[1-9][0-9]*$`)
	projectPathRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)
	jobPrefixRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`) // templates/notify.yml job_prefix
	// A ConfigMap (or Lease) name is a DNS subdomain.
	configMapRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// LoadConfig reads and validates the configuration; each error names the
// variable and what it accepts, and never echoes a token.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	n, err := notify.LoadConfig(getenv, true)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Notify:      n,
		GitLabURL:   strings.TrimRight(env("GITLAB_URL"), "/"),
		GitLabToken: env("GITLAB_TOKEN"),
		JobPrefix:   env("WATCH_JOB_PREFIX"),
		ConfigMap:   env("WATCH_STATE_CONFIGMAP"),
		Namespace:   env("WATCH_NAMESPACE"),
		Kubeconfig:  env("KUBECONFIG"),
		HTTPAddr:    cmp.Or(env("WATCH_HTTP_ADDR"), DefaultHTTPAddr),
		Lease:       env("WATCH_LEASE"),
		Identity:    env("POD_NAME"),
	}
	u, err := url.Parse(c.GitLabURL)
	if c.GitLabURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return c, fmt.Errorf("GITLAB_URL must be the GitLab instance's URL such as https://gitlab.example.com, got %q", c.GitLabURL)
	}
	if c.GitLabToken == "" {
		return c, errors.New("GITLAB_TOKEN is not set: give a token with the read_api scope (a personal, project or group access token)")
	}
	if strings.ContainsAny(c.GitLabToken, " \t\r\n") {
		return c, errors.New("GITLAB_TOKEN must be a single token without spaces or newlines")
	}
	for _, p := range strings.Split(env("WATCH_PROJECTS"), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !projectIDRE.MatchString(p) && !projectPathRE.MatchString(p) {
			return c, fmt.Errorf("WATCH_PROJECTS must be comma-separated project ids or paths such as 42,group/project, got %q", p)
		}
		c.Projects = append(c.Projects, p)
	}
	if len(c.Projects) == 0 {
		return c, errors.New("WATCH_PROJECTS is not set: give the projects to watch as comma-separated ids or paths such as 42,group/project")
	}
	if !jobPrefixRE.MatchString(c.JobPrefix) {
		return c, fmt.Errorf("WATCH_JOB_PREFIX must be the notify component's job_prefix (letters, digits, _ . -), got %q", c.JobPrefix)
	}
	durations := []struct {
		name string
		def  time.Duration
		min  time.Duration
		dst  *time.Duration
	}{
		{"WATCH_INTERVAL", DefaultInterval, 100 * time.Millisecond, &c.Interval},
		{"WATCH_CREATED_GRACE", DefaultCreatedGrace, 0, &c.CreatedGrace},
		{"WATCH_SINCE", DefaultSince, 0, &c.Since},
		{"WATCH_REQUEST_TIMEOUT", DefaultRequestTimeout, 10 * time.Millisecond, &c.RequestTimeout},
	}
	for _, d := range durations {
		*d.dst = d.def
		v := env(d.name)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < d.min || (d.min > 0 && parsed <= 0) {
			return c, fmt.Errorf("%s must be a Go duration of at least %s such as %s, got %q", d.name, d.min, d.def, v)
		}
		*d.dst = parsed
	}
	if c.ConfigMap == "" {
		return c, errors.New("WATCH_STATE_CONFIGMAP is not set: name the ConfigMap that keeps what the watcher announced (the chart creates it)")
	}
	if len(c.ConfigMap) > 253 || !configMapRE.MatchString(c.ConfigMap) {
		return c, fmt.Errorf("WATCH_STATE_CONFIGMAP must be a ConfigMap name (lowercase letters, digits, - and .), got %q", c.ConfigMap)
	}
	if c.Namespace != "" && !configMapRE.MatchString(c.Namespace) {
		return c, fmt.Errorf("WATCH_NAMESPACE must be a namespace name, got %q", c.Namespace)
	}
	if c.Lease != "" {
		if len(c.Lease) > 253 || !configMapRE.MatchString(c.Lease) {
			return c, fmt.Errorf("WATCH_LEASE must be the name of the bot's leader Lease (lowercase letters, digits, - and .), got %q", c.Lease)
		}
		if c.Identity == "" {
			c.Identity, _ = os.Hostname()
		}
		if c.Identity == "" {
			return c, errors.New("WATCH_LEASE is set but POD_NAME is not and the hostname is unknown: set POD_NAME to the pod's name, as the bot's elector sees it")
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return c, fmt.Errorf("WATCH_HTTP_ADDR must be host:port such as :8081 or 127.0.0.1:8081, got %q", c.HTTPAddr)
	}
	return c, nil
}
