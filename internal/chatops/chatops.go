// Package chatops is the ChatOps bot's core: it parses a chat command,
// decides whether this user may run it, runs it against the cluster and the
// registry, and returns the reply as Telegram HTML in a Result. It knows
// nothing of the Telegram client: an adapter turns updates into Input and
// delivers each Result (splitting long replies, sending documents).
package chatops

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/registry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Input is one message addressed to the bot.
type Input struct {
	UserID   int64
	Username string
	ChatID   int64
	Private  bool      // a direct message, not a group
	Text     string    // as typed, e.g. "/deploy@oil_bot 0.10.5"
	Sent     time.Time // when Telegram says the user sent it
	// Forwarded is set for a forwarded message: it is never run.
	Forwarded bool
	// Press, when set, makes this a press of the bot's inline button in
	// ChatID rather than a message (Text and Sent are then unset).
	Press *Press
}

// Cluster is what the bot does to Kubernetes.
type Cluster interface {
	Nodes(ctx context.Context) ([]cluster.Node, error)
	SetSchedulable(ctx context.Context, node string, schedulable bool) (changed bool, err error)
	Pods(ctx context.Context) ([]cluster.Pod, error)
	Logs(ctx context.Context, pod string, lines int64) ([]string, error)
	Deployment(ctx context.Context) (cluster.Deployment, error)
}

var _ Cluster = (*cluster.Client)(nil)

// Registry is where the application image's tags are: listed for
// /showcontainers, and one looked up afresh (past the listing cache) for
// the digest /deploy pins.
type Registry interface {
	registry.Lister
	registry.Resolver
}

var (
	_ Registry = (*registry.GitLab)(nil)
	_ Registry = (*registry.OCI)(nil)
)

// Role is what a user may do.
type Role = access.Role

// Roles, from least to most.
const (
	Stranger = access.Stranger
	Viewer   = access.Viewer
	Operator = access.Operator
)

// Access decides who may do what; *access.Checker is the production one.
type Access interface {
	Decide(ctx context.Context, userID int64) access.Decision
	// DecideFresh decides past any cache (a confirmation's press).
	DecideFresh(ctx context.Context, userID int64) access.Decision
}

var _ Access = (*access.Checker)(nil)

// Config is the core's configuration; the bot's main reads it from the
// environment and validates it.
type Config struct {
	Operators, Viewers []int64 // numeric Telegram user ids
	Lang               string  // "ru" (default) or "en"
	MaxCommandAge      time.Duration
	MaxReplicas        int32
	RolloutTimeout     time.Duration
	ProgressEvery      time.Duration // how often the rollout message may be edited
	RegistryImage      string        // repository /deploy sets; "" keeps the container's
	AuditChatID        int64         // 0: no audit chat
	LogLines           int64         // /get_logs tail
	CommandTimeout     time.Duration // BOT_COMMAND_TIMEOUT: bound of one command
	GroupLogs          bool          // BOT_GROUP_LOGS: /get_logs allowed in groups
	// Access decides roles; nil: by Operators and Viewers only.
	Access Access
	// Group is the title of the team's group when access goes through
	// one (CHATOPS_GROUP_ID), for the refusal texts; "" when none.
	Group string
	// Confirm lists the commands that ask for a confirmation first
	// (BOT_CONFIRM, from ConfirmCommands); ConfirmTTL is how long the
	// question is open (BOT_CONFIRM_TTL, default DefaultConfirmTTL).
	Confirm    []string
	ConfirmTTL time.Duration
}

// Defaults of the optional settings.
const (
	DefaultMaxCommandAge  = 2 * time.Minute
	DefaultMaxReplicas    = 10
	DefaultRolloutTimeout = 5 * time.Minute
	DefaultProgressEvery  = time.Second
	DefaultLogLines       = 30
	DefaultCommandTimeout = time.Minute
)

// Core runs chat commands. It is safe for concurrent use: the adapter may
// handle several updates at once.
type Core struct {
	cfg      Config
	t        *texts
	pt       *pollTexts
	ct       *confirmTexts
	requests *requests
	health   *Health
	cluster  Cluster
	deployer Deployer
	registry Registry
	log      *slog.Logger
	now      func() time.Time
	ns, name string
}

// New returns a Core that reads the cluster through c and changes the
// application through d. ns and deployment name the application, for texts.
func New(cfg Config, c Cluster, d Deployer, reg Registry, log *slog.Logger, ns, deployment string) *Core {
	for _, opt := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.MaxCommandAge, DefaultMaxCommandAge}, {&cfg.RolloutTimeout, DefaultRolloutTimeout},
		{&cfg.ProgressEvery, DefaultProgressEvery}, {&cfg.CommandTimeout, DefaultCommandTimeout},
		{&cfg.ConfirmTTL, DefaultConfirmTTL},
	} {
		if *opt.v <= 0 {
			*opt.v = opt.def
		}
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = DefaultLogLines
	}
	t, pt := languages[cfg.Lang], pollLanguages[cfg.Lang]
	if t == nil {
		t, pt = &ru, &ruPoll
	}
	if cfg.Access == nil {
		cfg.Access = access.New(access.Config{Operators: cfg.Operators, Viewers: cfg.Viewers}, nil, log)
	}
	h := newHealth()
	ct := confirmLanguages[cfg.Lang]
	if ct == nil {
		ct = &ruConfirm
	}
	core := &Core{cfg: cfg, t: t, pt: pt, ct: ct, requests: newRequests(), health: h, cluster: trackedCluster{c, h}, deployer: newTrackedDeployer(d, h),
		log: log, now: time.Now, ns: ns, name: deployment}
	if reg != nil {
		core.registry = trackedRegistry{reg, h}
	}
	return core
}

// Health is how the last call to each dependency ended, for /readyz.
func (c *Core) Health() *Health { return c.health }

// RoleOf decides by numeric user id (usernames can change hands): the
// explicit lists, then the team's group when there is one.
func (c *Core) RoleOf(ctx context.Context, userID int64) access.Decision {
	return c.cfg.Access.Decide(ctx, userID)
}

// Handle runs one message: Triage, then Run.
func (c *Core) Handle(ctx context.Context, in Input, botUsername string) Result {
	return c.Run(ctx, c.Triage(ctx, in, botUsername))
}

// audit logs one line per command for this bot, and per press of its
// buttons, with extra attributes (the confirmation's id).
func (c *Core) audit(ctx context.Context, v Verdict, outcome Outcome, extra ...any) {
	if outcome == OutcomeIgnored {
		return
	}
	level := slog.LevelInfo
	if outcome == OutcomeRefused || outcome == OutcomeError {
		level = slog.LevelWarn
	}
	role := v.who.Role.String()
	if v.In.Press != nil && v.who.Via == "" {
		role = "unchecked" // a press answered without a role lookup
	}
	attrs := []any{"user_id", v.In.UserID, "username", v.In.Username, "chat_id", v.In.ChatID,
		"command", v.name, "args", v.args, "role", role, "role_via", v.who.Via, "outcome", outcome}
	if v.In.Forwarded {
		attrs = append(attrs, "forwarded", true)
	}
	attrs = append(attrs, extra...)
	c.log.Log(ctx, level, "command", attrs...)
}

// refusal tells a stranger how to get access: join the team's group, when
// there is one, or give their id to an admin.
func (c *Core) refusal(userID int64, help bool) string {
	format := c.t.Refused
	if help {
		format = c.t.HelpStranger
	}
	how := c.t.AskAdmin
	if c.cfg.Group != "" {
		how = fmt.Sprintf(c.t.JoinGroup, esc(c.cfg.Group))
	}
	return fmt.Sprintf(format, userID, how)
}

// usage is the usage line of command name in the bot's language.
func (c *Core) usage(name string) string {
	u, ok := c.t.Usages[name]
	if !ok {
		u = "/" + name
	}
	return fmt.Sprintf(c.t.Usage, esc(u))
}

// announced adds to res the audit chat's line, when there is an audit
// chat, saying who changed what and how it ended (res.Outcome).
func (c *Core) announced(in Input, what string, res Result) Result {
	res.Announce = c.announcement(in, what, res.Outcome)
	return res
}

func (c *Core) announcement(in Input, what string, outcome Outcome) Announcement {
	if c.cfg.AuditChatID == 0 || c.cfg.AuditChatID == in.ChatID {
		return Announcement{}
	}
	return Announcement{ChatID: c.cfg.AuditChatID, HTML: fmt.Sprintf(c.t.Audit, esc(displayName(in)), what, c.t.Outcome[outcome])}
}

// parseCommand splits "/name@bot arg..." into name and args. ok is false for
// text that is no command, or a command addressed to another bot.
func parseCommand(text, botUsername string) (name string, args []string, ok bool) {
	fields := strings.Fields(text)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") || len(fields[0]) < 2 {
		return "", nil, false
	}
	name = strings.ToLower(fields[0][1:])
	if at := strings.IndexByte(name, '@'); at >= 0 {
		if botUsername == "" || !strings.EqualFold(name[at+1:], botUsername) {
			return name[:at], nil, false
		}
		name = name[:at]
	}
	return name, fields[1:], true
}

func displayName(in Input) string {
	if in.Username != "" {
		return "@" + in.Username + " (" + strconv.FormatInt(in.UserID, 10) + ")"
	}
	return strconv.FormatInt(in.UserID, 10)
}

// esc makes s safe in an HTML reply: markup escaped, and bytes that are not
// UTF-8 (a binary log line, say) replaced, since Telegram refuses the whole
// message for one of them.
func esc(s string) string { return telegram.EscapeHTML(strings.ToValidUTF8(s, "\uFFFD")) }
