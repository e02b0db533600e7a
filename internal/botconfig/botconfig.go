// Package botconfig reads the ChatOps bot's configuration from the
// environment once, at start-up, and refuses bad values with the variable's
// name and what it accepts.
package botconfig

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/imageref"
	"gitlab.com/derrick-kit/derrick/internal/leader"
	"gitlab.com/derrick-kit/derrick/internal/registry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Config is everything the bot reads from its environment.
type Config struct {
	Token      string // TELEGRAM_BOT_TOKEN
	APIURL     string // TELEGRAM_API_URL
	Kubeconfig string // KUBECONFIG; "" = in-cluster
	Namespace  string // APP_NAMESPACE; "" = the pod's namespace or "default"
	Deployment string // APP_DEPLOYMENT
	Container  string // APP_CONTAINER; "" = the first container
	Source     string // REGISTRY_SOURCE: gitlab or oci
	GitLab     registry.GitLabConfig
	OCI        registry.OCIConfig
	DeployVia  string // DEPLOY_VIA
	ArgoCD     argocd.Config
	HTTPAddr   string // BOT_HTTP_ADDR
	Core       chatops.Config
	Delivery   Delivery
	Leader     leader.Config
	// Access is the group part of the access policy (CHATOPS_GROUP_*); the
	// lists are Core.Operators and Core.Viewers.
	Access access.Config
}

// Delivery tunes how messages reach the command core.
type Delivery struct {
	ChatQueue          int           // BOT_CHAT_QUEUE
	StrangerReplyEvery time.Duration // BOT_STRANGER_REPLY_EVERY
}

// Defaults and bounds of the delivery settings.
const (
	DefaultChatQueue          = 20
	DefaultStrangerReplyEvery = 10 * time.Minute
	MaxCommandTimeout         = 10 * time.Minute
)

// Secrets are the secret values the configuration uses, exactly as used
// (trimmed), for the log redactor.
func (c Config) Secrets() []string {
	return []string{c.Token, c.GitLab.Token, c.OCI.Password, c.ArgoCD.Token}
}

// Accepted values of the enumerations.
var (
	Sources   = []string{"gitlab", "oci"}
	DeployVia = []string{"kubernetes", "argocd"}
)

// Load reads the configuration through getenv and validates it.
func Load(getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	c := Config{
		Token:      env("TELEGRAM_BOT_TOKEN"),
		APIURL:     or(env("TELEGRAM_API_URL"), telegram.DefaultAPIURL),
		Kubeconfig: env("KUBECONFIG"),
		Namespace:  env("APP_NAMESPACE"),
		Deployment: or(env("APP_DEPLOYMENT"), "oil-refinery-application"),
		Container:  env("APP_CONTAINER"),
		Source:     env("REGISTRY_SOURCE"),
		DeployVia:  or(env("DEPLOY_VIA"), "kubernetes"),
		HTTPAddr:   or(env("BOT_HTTP_ADDR"), ":8080"),
		GitLab: registry.GitLabConfig{
			URL: env("GITLAB_URL"), Token: env("GITLAB_TOKEN"), Project: env("GITLAB_PROJECT"),
			Repository: env("REGISTRY_IMAGE"),
		},
		OCI: registry.OCIConfig{
			Image: env("REGISTRY_IMAGE"), Username: env("REGISTRY_USERNAME"), Password: env("REGISTRY_PASSWORD"),
		},
		Core: chatops.Config{
			Lang:          or(env("BOT_LANG"), "ru"),
			RegistryImage: env("REGISTRY_IMAGE"),
		},
	}
	var err error
	if err = telegram.CheckConfig(c.Token, c.APIURL); err != nil {
		return c, err
	}
	if c.Core.Operators, err = userIDs("CHATOPS_OPERATORS", env("CHATOPS_OPERATORS")); err != nil {
		return c, err
	}
	if c.Core.Viewers, err = userIDs("CHATOPS_VIEWERS", env("CHATOPS_VIEWERS")); err != nil {
		return c, err
	}
	if c.Access, err = groupAccess(env); err != nil {
		return c, err
	}
	if len(c.Core.Operators)+len(c.Core.Viewers) == 0 && c.Access.GroupID == 0 {
		return c, fmt.Errorf("none of CHATOPS_OPERATORS, CHATOPS_VIEWERS, CHATOPS_GROUP_ID is set: nobody could use the bot; set comma-separated numeric Telegram user ids such as 123456789,987654321, or the numeric id of the team's group such as -1001234567890")
	}
	if v := env("CHATOPS_AUDIT_CHAT_ID"); v != "" {
		if c.Core.AuditChatID, err = strconv.ParseInt(v, 10, 64); err != nil || c.Core.AuditChatID == 0 {
			return c, fmt.Errorf("CHATOPS_AUDIT_CHAT_ID must be a numeric chat id such as -1001234567890, got %q", v)
		}
	}
	if !slices.Contains(chatops.Languages(), c.Core.Lang) {
		return c, fmt.Errorf("BOT_LANG must be one of %s, got %q", strings.Join(chatops.Languages(), ", "), c.Core.Lang)
	}
	if c.Source == "" {
		return c, fmt.Errorf("REGISTRY_SOURCE is not set: it must be gitlab (GITLAB_URL, GITLAB_TOKEN, GITLAB_PROJECT) or oci (REGISTRY_IMAGE)")
	}
	if !slices.Contains(Sources, c.Source) {
		return c, fmt.Errorf("REGISTRY_SOURCE must be one of %s, got %q", strings.Join(Sources, ", "), c.Source)
	}
	if !slices.Contains(DeployVia, c.DeployVia) {
		return c, fmt.Errorf("DEPLOY_VIA must be one of %s, got %q", strings.Join(DeployVia, ", "), c.DeployVia)
	}
	if c.DeployVia == "argocd" {
		if c.ArgoCD, err = argoConfig(env, getenv); err != nil {
			return c, err
		}
	}
	if c.OCI.Insecure, err = boolean("REGISTRY_INSECURE", env("REGISTRY_INSECURE")); err != nil {
		return c, err
	}
	if img := c.Core.RegistryImage; img != "" && !imageref.HasRegistryHost(img) {
		// /deploy sets <REGISTRY_IMAGE>:<tag>; without a host Kubernetes
		// would pull it from Docker Hub.
		return c, fmt.Errorf("REGISTRY_IMAGE must name the registry host, such as registry.example.com/oil/app, got %q", img)
	}
	if c.GitLab.CacheTTL, err = cacheTTL(env("REGISTRY_CACHE_TTL")); err != nil {
		return c, err
	}
	c.OCI.CacheTTL = c.GitLab.CacheTTL
	switch c.Source {
	case "oci":
		if c.OCI.Image == "" {
			return c, fmt.Errorf("REGISTRY_IMAGE is not set: REGISTRY_SOURCE=oci needs the image reference without tag, such as registry.example.com/oil/app")
		}
		err = c.OCI.Validate()
	case "gitlab":
		err = c.GitLab.Validate()
	}
	if err != nil {
		return c, err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return c, fmt.Errorf("BOT_HTTP_ADDR must be host:port or :port such as :8080, got %q", c.HTTPAddr)
	}
	n, err := intIn("BOT_MAX_REPLICAS", env("BOT_MAX_REPLICAS"), chatops.DefaultMaxReplicas, 0, 1000)
	if err != nil {
		return c, err
	}
	c.Core.MaxReplicas = int32(n)
	if c.Core.MaxCommandAge, err = duration("BOT_MAX_COMMAND_AGE", env("BOT_MAX_COMMAND_AGE"), chatops.DefaultMaxCommandAge); err != nil {
		return c, err
	}
	if c.Core.RolloutTimeout, err = duration("BOT_ROLLOUT_TIMEOUT", env("BOT_ROLLOUT_TIMEOUT"), chatops.DefaultRolloutTimeout); err != nil {
		return c, err
	}
	if err := c.loadDelivery(env); err != nil {
		return c, err
	}
	if err := c.loadConfirm(env); err != nil {
		return c, err
	}
	if c.Leader, err = leaderConfig(env); err != nil {
		return c, err
	}
	return c, nil
}

// Hostname is the replica's name when POD_NAME is unset; a variable for
// tests.
var Hostname = os.Hostname

// leaderConfig reads BOT_LEADER_ELECTION, BOT_LEASE_NAME, POD_NAMESPACE,
// POD_NAME and the BOT_LEASE_* timings. The replica's name is read even
// without leader election: the audit log names it.
func leaderConfig(env func(string) string) (leader.Config, error) {
	l := leader.Config{Lease: env("BOT_LEASE_NAME"), Namespace: env("POD_NAMESPACE"), Identity: env("POD_NAME")}
	if l.Lease == "" {
		l.Lease = leader.DefaultLease
	}
	if l.Identity == "" {
		l.Identity, _ = Hostname()
	}
	var err error
	if l.Enabled, err = boolean("BOT_LEADER_ELECTION", env("BOT_LEADER_ELECTION")); err != nil {
		return l, err
	}
	if l.LeaseDuration, err = duration("BOT_LEASE_DURATION", env("BOT_LEASE_DURATION"), leader.DefaultLeaseDuration); err != nil {
		return l, err
	}
	if l.RenewDeadline, err = duration("BOT_LEASE_RENEW_DEADLINE", env("BOT_LEASE_RENEW_DEADLINE"), leader.DefaultRenewDeadline); err != nil {
		return l, err
	}
	if l.RetryPeriod, err = duration("BOT_LEASE_RETRY_PERIOD", env("BOT_LEASE_RETRY_PERIOD"), leader.DefaultRetryPeriod); err != nil {
		return l, err
	}
	if !l.Enabled {
		return l, nil
	}
	if errs := validation.IsDNS1123Subdomain(l.Lease); len(errs) > 0 {
		return l, fmt.Errorf("BOT_LEASE_NAME must be a Kubernetes object name such as %s, got %q: %s", leader.DefaultLease, l.Lease, strings.Join(errs, "; "))
	}
	return l, l.Validate()
}

// groupAccess reads CHATOPS_GROUP_ID and the settings that go with it.
func groupAccess(env func(string) string) (access.Config, error) {
	a := access.Config{AdminRole: access.Operator, MemberRole: access.Viewer, CacheTTL: access.DefaultCacheTTL}
	if v := env("CHATOPS_GROUP_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id >= 0 {
			return a, fmt.Errorf("CHATOPS_GROUP_ID must be the numeric id of a Telegram group, negative such as -1001234567890, got %q", v)
		}
		a.GroupID = id
	}
	for _, r := range []struct {
		name string
		dst  *access.Role
	}{{"CHATOPS_GROUP_ADMIN_ROLE", &a.AdminRole}, {"CHATOPS_GROUP_MEMBER_ROLE", &a.MemberRole}} {
		v := env(r.name)
		if v == "" {
			continue
		}
		role, ok := access.ParseRole(v)
		if !ok {
			return a, fmt.Errorf("%s must be one of %s, got %q", r.name, strings.Join(access.GroupRoles, ", "), v)
		}
		*r.dst = role
	}
	var err error
	if a.CacheTTL, err = duration("CHATOPS_GROUP_CACHE", env("CHATOPS_GROUP_CACHE"), access.DefaultCacheTTL); err != nil {
		return a, err
	}
	return a, nil
}

// argoConfig reads the ARGOCD_* variables of DEPLOY_VIA=argocd.
func argoConfig(env, getenv func(string) string) (argocd.Config, error) {
	a := argocd.Config{
		Server:  strings.TrimRight(env("ARGOCD_SERVER"), "/"),
		Token:   strings.TrimSpace(getenv("ARGOCD_AUTH_TOKEN")),
		App:     env("ARGOCD_APP"),
		Project: env("ARGOCD_PROJECT"),
	}
	if a.App == "" {
		a.App = argocd.DefaultApp
	}
	u, err := url.Parse(a.Server)
	switch {
	case a.Server == "":
		return a, fmt.Errorf("ARGOCD_SERVER is not set: DEPLOY_VIA=argocd needs Argo CD's base URL such as https://argocd.example.com")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		return a, fmt.Errorf("ARGOCD_SERVER must be an http:// or https:// base URL such as https://argocd.example.com, got %q", a.Server)
	}
	if a.Token == "" {
		return a, fmt.Errorf("ARGOCD_AUTH_TOKEN is not set: DEPLOY_VIA=argocd needs an Argo CD API token (argocd account generate-token)")
	}
	if a.Insecure, err = boolean("ARGOCD_INSECURE", env("ARGOCD_INSECURE")); err != nil {
		return a, err
	}
	if err := a.Validate(); err != nil {
		// Names what is wrong (the app or project name); never the token.
		return a, fmt.Errorf("ARGOCD_APP / ARGOCD_PROJECT: %w", err)
	}
	return a, nil
}

func userIDs(name, v string) ([]int64, error) {
	var ids []int64
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%s must be comma-separated numeric Telegram user ids such as 123456789,987654321, got %q (usernames are not accepted: they can change hands)", name, f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func boolean(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false, got %q", name, v)
	}
	return b, nil
}

func intIn(name, v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

func duration(name, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive Go duration such as 2m or 90s, got %q", name, v)
	}
	return d, nil
}

// loadDelivery reads BOT_COMMAND_TIMEOUT, BOT_CHAT_QUEUE,
// BOT_STRANGER_REPLY_EVERY and BOT_GROUP_LOGS.
func (c *Config) loadDelivery(env func(string) string) error {
	var err error
	if c.Core.CommandTimeout, err = duration("BOT_COMMAND_TIMEOUT", env("BOT_COMMAND_TIMEOUT"), chatops.DefaultCommandTimeout); err != nil {
		return err
	}
	if c.Core.CommandTimeout < time.Second || c.Core.CommandTimeout > MaxCommandTimeout {
		return fmt.Errorf("BOT_COMMAND_TIMEOUT must be from 1s to %s, got %q", MaxCommandTimeout, env("BOT_COMMAND_TIMEOUT"))
	}
	if c.Delivery.ChatQueue, err = intIn("BOT_CHAT_QUEUE", env("BOT_CHAT_QUEUE"), DefaultChatQueue, 1, 1000); err != nil {
		return err
	}
	if c.Delivery.StrangerReplyEvery, err = duration("BOT_STRANGER_REPLY_EVERY", env("BOT_STRANGER_REPLY_EVERY"), DefaultStrangerReplyEvery); err != nil {
		return err
	}
	if c.Core.GroupLogs, err = boolean("BOT_GROUP_LOGS", env("BOT_GROUP_LOGS")); err != nil {
		return err
	}
	return nil
}

// cacheTTL reads REGISTRY_CACHE_TTL: how long a tag listing is reused.
func cacheTTL(v string) (time.Duration, error) {
	if v == "" {
		return registry.DefaultCacheTTL, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("REGISTRY_CACHE_TTL must be a Go duration such as 30s or 2m (0s: list anew for every command), got %q", v)
	}
	return d, registry.ValidateCacheTTL(d)
}
