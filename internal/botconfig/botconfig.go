// Package botconfig reads the ChatOps bot's configuration from the
// environment once, at start-up, and refuses bad values with the variable's
// name and what it accepts.
package botconfig

import (
	"cmp"
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

// Load reads the configuration through getenv and validates it; the error
// is the first bad value's, in the order below.
func Load(getenv func(string) string) (Config, error) {
	v := &vars{getenv: getenv}
	env := v.get
	c := Config{
		Token:      env("TELEGRAM_BOT_TOKEN"),
		APIURL:     cmp.Or(env("TELEGRAM_API_URL"), telegram.DefaultAPIURL),
		Kubeconfig: env("KUBECONFIG"),
		Namespace:  env("APP_NAMESPACE"),
		Deployment: cmp.Or(env("APP_DEPLOYMENT"), "oil-refinery-application"),
		Container:  env("APP_CONTAINER"),
		Source:     env("REGISTRY_SOURCE"),
		DeployVia:  cmp.Or(env("DEPLOY_VIA"), "kubernetes"),
		HTTPAddr:   cmp.Or(env("BOT_HTTP_ADDR"), ":8080"),
		GitLab: registry.GitLabConfig{
			URL: env("GITLAB_URL"), Token: env("GITLAB_TOKEN"), Project: env("GITLAB_PROJECT"),
			Repository: env("REGISTRY_IMAGE"),
		},
		OCI: registry.OCIConfig{
			Image: env("REGISTRY_IMAGE"), Username: env("REGISTRY_USERNAME"), Password: env("REGISTRY_PASSWORD"),
		},
		Core: chatops.Config{
			Lang:          cmp.Or(env("BOT_LANG"), "ru"),
			RegistryImage: env("REGISTRY_IMAGE"),
		},
	}
	v.fail(telegram.CheckConfig(c.Token, c.APIURL))
	c.Core.Operators = v.userIDs("CHATOPS_OPERATORS")
	c.Core.Viewers = v.userIDs("CHATOPS_VIEWERS")
	c.Access = groupAccess(v)
	v.check(len(c.Core.Operators)+len(c.Core.Viewers) > 0 || c.Access.GroupID != 0, "none of CHATOPS_OPERATORS, CHATOPS_VIEWERS, CHATOPS_GROUP_ID is set: nobody could use the bot; set comma-separated numeric Telegram user ids such as 123456789,987654321, or the numeric id of the team's group such as -1001234567890")
	if s := env("CHATOPS_AUDIT_CHAT_ID"); s != "" {
		var err error
		c.Core.AuditChatID, err = strconv.ParseInt(s, 10, 64)
		v.check(err == nil && c.Core.AuditChatID != 0, "CHATOPS_AUDIT_CHAT_ID must be a numeric chat id such as -1001234567890, got %q", s)
	}
	v.oneOf("BOT_LANG", c.Core.Lang, chatops.Languages())
	v.check(c.Source != "", "REGISTRY_SOURCE is not set: it must be gitlab (GITLAB_URL, GITLAB_TOKEN, GITLAB_PROJECT) or oci (REGISTRY_IMAGE)")
	v.oneOf("REGISTRY_SOURCE", c.Source, Sources)
	v.oneOf("DEPLOY_VIA", c.DeployVia, DeployVia)
	if c.DeployVia == "argocd" {
		c.ArgoCD = argoConfig(v)
	}
	c.OCI.Insecure = v.boolean("REGISTRY_INSECURE")
	// /deploy sets <REGISTRY_IMAGE>:<tag>; without a host Kubernetes would
	// pull it from Docker Hub.
	img := c.Core.RegistryImage
	v.check(img == "" || imageref.HasRegistryHost(img), "REGISTRY_IMAGE must name the registry host, such as registry.example.com/oil/app, got %q", img)
	c.GitLab.CacheTTL = v.cacheTTL()
	c.OCI.CacheTTL = c.GitLab.CacheTTL
	switch c.Source {
	case "oci":
		v.check(c.OCI.Image != "", "REGISTRY_IMAGE is not set: REGISTRY_SOURCE=oci needs the image reference without tag, such as registry.example.com/oil/app")
		v.fail(c.OCI.Validate())
	case "gitlab":
		v.fail(c.GitLab.Validate())
	}
	_, _, err := net.SplitHostPort(c.HTTPAddr)
	v.check(err == nil, "BOT_HTTP_ADDR must be host:port or :port such as :8080, got %q", c.HTTPAddr)
	c.Core.MaxReplicas = int32(v.intIn("BOT_MAX_REPLICAS", chatops.DefaultMaxReplicas, 0, 1000))
	c.Core.MaxCommandAge = v.duration("BOT_MAX_COMMAND_AGE", chatops.DefaultMaxCommandAge)
	c.Core.RolloutTimeout = v.duration("BOT_ROLLOUT_TIMEOUT", chatops.DefaultRolloutTimeout)
	c.Core.CommandTimeout = v.duration("BOT_COMMAND_TIMEOUT", chatops.DefaultCommandTimeout)
	v.check(c.Core.CommandTimeout >= time.Second && c.Core.CommandTimeout <= MaxCommandTimeout,
		"BOT_COMMAND_TIMEOUT must be from 1s to %s, got %q", MaxCommandTimeout, env("BOT_COMMAND_TIMEOUT"))
	c.Delivery.ChatQueue = v.intIn("BOT_CHAT_QUEUE", DefaultChatQueue, 1, 1000)
	c.Delivery.StrangerReplyEvery = v.duration("BOT_STRANGER_REPLY_EVERY", DefaultStrangerReplyEvery)
	c.Core.GroupLogs = v.boolean("BOT_GROUP_LOGS")
	c.loadConfirm(v)
	c.Leader = leaderConfig(v)
	return c, v.err
}

// Hostname is the replica's name when POD_NAME is unset; a variable for
// tests.
var Hostname = os.Hostname

// leaderConfig reads BOT_LEADER_ELECTION, BOT_LEASE_NAME, POD_NAMESPACE,
// POD_NAME and the BOT_LEASE_* timings. The replica's name is read even
// without leader election: the audit log names it.
func leaderConfig(v *vars) leader.Config {
	l := leader.Config{Lease: cmp.Or(v.get("BOT_LEASE_NAME"), leader.DefaultLease), Namespace: v.get("POD_NAMESPACE"), Identity: v.get("POD_NAME")}
	if l.Identity == "" {
		l.Identity, _ = Hostname()
	}
	l.Enabled = v.boolean("BOT_LEADER_ELECTION")
	l.LeaseDuration = v.duration("BOT_LEASE_DURATION", leader.DefaultLeaseDuration)
	l.RenewDeadline = v.duration("BOT_LEASE_RENEW_DEADLINE", leader.DefaultRenewDeadline)
	l.RetryPeriod = v.duration("BOT_LEASE_RETRY_PERIOD", leader.DefaultRetryPeriod)
	if !l.Enabled {
		return l
	}
	errs := validation.IsDNS1123Subdomain(l.Lease)
	v.check(len(errs) == 0, "BOT_LEASE_NAME must be a Kubernetes object name such as %s, got %q: %s", leader.DefaultLease, l.Lease, strings.Join(errs, "; "))
	v.fail(l.Validate())
	return l
}

// groupAccess reads CHATOPS_GROUP_ID and the settings that go with it.
func groupAccess(v *vars) access.Config {
	a := access.Config{AdminRole: access.Operator, MemberRole: access.Viewer}
	if s := v.get("CHATOPS_GROUP_ID"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		v.check(err == nil && id < 0, "CHATOPS_GROUP_ID must be the numeric id of a Telegram group, negative such as -1001234567890, got %q", s)
		a.GroupID = id
	}
	for _, r := range []struct {
		name string
		dst  *access.Role
	}{{"CHATOPS_GROUP_ADMIN_ROLE", &a.AdminRole}, {"CHATOPS_GROUP_MEMBER_ROLE", &a.MemberRole}} {
		if s := v.get(r.name); s != "" {
			role, ok := access.ParseRole(s)
			v.check(ok, "%s must be one of %s, got %q", r.name, strings.Join(access.GroupRoles, ", "), s)
			*r.dst = role
		}
	}
	a.CacheTTL = v.duration("CHATOPS_GROUP_CACHE", access.DefaultCacheTTL)
	return a
}

// argoConfig reads the ARGOCD_* variables of DEPLOY_VIA=argocd.
func argoConfig(v *vars) argocd.Config {
	a := argocd.Config{
		Server:  strings.TrimRight(v.get("ARGOCD_SERVER"), "/"),
		Token:   v.get("ARGOCD_AUTH_TOKEN"),
		App:     cmp.Or(v.get("ARGOCD_APP"), argocd.DefaultApp),
		Project: v.get("ARGOCD_PROJECT"),
	}
	u, err := url.Parse(a.Server)
	switch {
	case a.Server == "":
		v.fail(fmt.Errorf("ARGOCD_SERVER is not set: DEPLOY_VIA=argocd needs Argo CD's base URL such as https://argocd.example.com"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		v.fail(fmt.Errorf("ARGOCD_SERVER must be an http:// or https:// base URL such as https://argocd.example.com, got %q", a.Server))
	}
	v.check(a.Token != "", "ARGOCD_AUTH_TOKEN is not set: DEPLOY_VIA=argocd needs an Argo CD API token (argocd account generate-token)")
	a.Insecure = v.boolean("ARGOCD_INSECURE")
	if err := a.Validate(); err != nil {
		// Names what is wrong (the app or project name); never the token.
		v.fail(fmt.Errorf("ARGOCD_APP / ARGOCD_PROJECT: %w", err))
	}
	return a
}

// vars reads variables for Load, trimmed. It keeps the first error: later
// reads go on (their values are not used), so that Load reads as a list.
type vars struct {
	getenv func(string) string
	err    error
}

func (v *vars) get(name string) string { return strings.TrimSpace(v.getenv(name)) }

// fail keeps err unless it is nil or an earlier error was kept.
func (v *vars) fail(err error) {
	if v.err == nil {
		v.err = err
	}
}

// check fails with the message unless ok.
func (v *vars) check(ok bool, format string, args ...any) {
	if !ok {
		v.fail(fmt.Errorf(format, args...))
	}
}

func (v *vars) oneOf(name, s string, accepted []string) {
	v.check(slices.Contains(accepted, s), "%s must be one of %s, got %q", name, strings.Join(accepted, ", "), s)
}

func (v *vars) userIDs(name string) []int64 {
	var ids []int64
	for _, f := range strings.Split(v.get(name), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		v.check(err == nil && id > 0, "%s must be comma-separated numeric Telegram user ids such as 123456789,987654321, got %q (usernames are not accepted: they can change hands)", name, f)
		ids = append(ids, id)
	}
	return ids
}

func (v *vars) boolean(name string) bool {
	s := v.get(name)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	v.check(err == nil, "%s must be true or false, got %q", name, s)
	return b
}

func (v *vars) intIn(name string, def, lo, hi int) int {
	s := v.get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	v.check(err == nil && n >= lo && n <= hi, "%s must be a whole number from %d to %d, got %q", name, lo, hi, s)
	return n
}

func (v *vars) duration(name string, def time.Duration) time.Duration {
	s := v.get(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	v.check(err == nil && d > 0, "%s must be a positive Go duration such as 2m or 90s, got %q", name, s)
	return d
}

// cacheTTL reads REGISTRY_CACHE_TTL: how long a tag listing is reused.
func (v *vars) cacheTTL() time.Duration {
	s := v.get("REGISTRY_CACHE_TTL")
	if s == "" {
		return registry.DefaultCacheTTL
	}
	d, err := time.ParseDuration(s)
	v.check(err == nil, "REGISTRY_CACHE_TTL must be a Go duration such as 30s or 2m (0s: list anew for every command), got %q", s)
	v.fail(registry.ValidateCacheTTL(d))
	return d
}
