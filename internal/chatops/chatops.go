// Package chatops is the ChatOps bot's core: it parses a chat command,
// decides whether this user may run it, runs it against the cluster and the
// registry, and renders the reply as Telegram HTML. It knows nothing of the
// Telegram client: an adapter turns updates into Input and implements
// Responder.
package chatops

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
}

// Responder delivers the bot's answers to the chat the Input came from.
type Responder interface {
	// Send posts an HTML message and returns its id.
	Send(ctx context.Context, html string) (int64, error)
	// Edit replaces the text of a message sent earlier.
	Edit(ctx context.Context, messageID int64, html string) error
	// SendDocument posts a file with an HTML caption.
	SendDocument(ctx context.Context, name string, content []byte, caption string) error
	// Announce posts an HTML message to another chat (the audit chat).
	Announce(ctx context.Context, chatID int64, html string) error
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
	MaxMessages        int           // longer replies become a document
	CommandTimeout     time.Duration // BOT_COMMAND_TIMEOUT: bound of one command
	GroupLogs          bool          // BOT_GROUP_LOGS: /get_logs allowed in groups
	// Access decides roles; nil: by Operators and Viewers only.
	Access Access
	// Group is the title of the team's group when access goes through
	// one (CHATOPS_GROUP_ID), for the refusal texts; "" when none.
	Group string
}

// Defaults of the optional settings.
const (
	DefaultMaxCommandAge  = 2 * time.Minute
	DefaultMaxReplicas    = 10
	DefaultRolloutTimeout = 5 * time.Minute
	DefaultProgressEvery  = time.Second
	DefaultLogLines       = 30
	DefaultMaxMessages    = 4
	DefaultCommandTimeout = time.Minute
)

// Core runs chat commands. It is safe for concurrent use: the adapter may
// handle several updates at once.
type Core struct {
	cfg      Config
	t        *texts
	pt       *pollTexts
	health   *Health
	cluster  Cluster
	deployer Deployer
	registry registry.Lister
	log      *slog.Logger
	now      func() time.Time
	target   string // "namespace/deployment", for texts
	ns, name string
}

// New returns a Core that reads the cluster through c and changes the
// application through d. ns and deployment name the application, for texts.
func New(cfg Config, c Cluster, d Deployer, reg registry.Lister, log *slog.Logger, ns, deployment string) *Core {
	if cfg.MaxCommandAge <= 0 {
		cfg.MaxCommandAge = DefaultMaxCommandAge
	}
	if cfg.RolloutTimeout <= 0 {
		cfg.RolloutTimeout = DefaultRolloutTimeout
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = DefaultLogLines
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = DefaultMaxMessages
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	t, pt := languages[cfg.Lang], pollLanguages[cfg.Lang]
	if t == nil {
		t, pt = &ru, &ruPoll
	}
	if cfg.Access == nil {
		cfg.Access = access.New(access.Config{Operators: cfg.Operators, Viewers: cfg.Viewers}, nil, log)
	}
	h := newHealth()
	core := &Core{cfg: cfg, t: t, pt: pt, health: h, cluster: trackedCluster{c, h}, deployer: newTrackedDeployer(d, h),
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

// Outcomes recorded in the audit log and metrics.
const (
	outcomeOK      = "ok"
	outcomeNoop    = "noop"    // valid, nothing needed doing
	outcomeRefused = "refused" // not allowed for this user
	outcomeInvalid = "invalid" // bad arguments, unknown command or object
	outcomeStale   = "stale"   // older than BOT_MAX_COMMAND_AGE
	outcomeError   = "error"   // the cluster or registry failed
	outcomeIgnored = "ignored" // not for this bot
)

// Result says what Handle did, for metrics.
type Result struct {
	Command string // without slash; "" when the text was no command
	Outcome string
	// Follow, when set, is work the command left to go on in the
	// background (a /deploy watching its rollout and editing its message).
	// The adapter runs it outside the chat's queue, so the operator can
	// keep issuing commands meanwhile, and waits for it at shutdown.
	Follow func(ctx context.Context)
}

// Handle runs one message and answers it through out: Triage, then Run.
// It returns what was done; failures to answer are logged, never retried
// here (the Responder retries what is safe to retry).
func (c *Core) Handle(ctx context.Context, in Input, out Responder, botUsername string) Result {
	return c.Run(ctx, c.Triage(ctx, in, botUsername), out)
}

// audit logs one line per command for this bot.
func (c *Core) audit(ctx context.Context, v Verdict, outcome string) {
	if outcome == outcomeIgnored {
		return
	}
	level := slog.LevelInfo
	if outcome == outcomeRefused || outcome == outcomeError {
		level = slog.LevelWarn
	}
	attrs := []any{"user_id", v.In.UserID, "username", v.In.Username, "chat_id", v.In.ChatID,
		"command", v.name, "args", v.args, "role", v.who.Role.String(), "role_via", v.who.Via, "outcome", outcome}
	if v.In.Forwarded {
		attrs = append(attrs, "forwarded", true)
	}
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

// announce tells the audit chat, when there is one, who changed what and
// how it ended.
func (c *Core) announce(ctx context.Context, out Responder, in Input, what, outcome string) {
	if c.cfg.AuditChatID == 0 || c.cfg.AuditChatID == in.ChatID {
		return
	}
	text := fmt.Sprintf(c.t.Audit, esc(displayName(in)), what, c.t.Outcome[outcome])
	if err := out.Announce(ctx, c.cfg.AuditChatID, text); err != nil {
		c.log.Warn("audit chat announcement failed", "chat_id", c.cfg.AuditChatID, "error", err)
	}
}

// reply sends an HTML answer, split to fit Telegram, or as a document when
// it would take more than MaxMessages messages.
func (c *Core) reply(ctx context.Context, out Responder, html string) {
	chunks := telegram.SplitHTML(html, telegram.MaxMessageLength)
	for _, chunk := range chunks {
		if _, err := out.Send(ctx, chunk); err != nil {
			c.log.Warn("reply not delivered", "error", err)
			return
		}
	}
}

// replyLong sends header plus body lines, as messages when they fit in
// MaxMessages, else as a text document named file with header as caption.
func (c *Core) replyLong(ctx context.Context, out Responder, header string, lines []string, pre bool, file string) {
	// A message holds at most MaxMessageLength characters of text, so more
	// text than MaxMessages of them needs more messages however it is split:
	// send the document without escaping and splitting it first (for 5,000
	// nodes that was most of the bot's own time).
	text := 0
	for _, l := range lines {
		text += utf8.RuneCountInString(l) + 1
	}
	if text > c.cfg.MaxMessages*telegram.MaxMessageLength {
		c.sendDocument(ctx, out, header, lines, file)
		return
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(esc(l))
		b.WriteByte('\n')
	}
	body := strings.TrimSuffix(b.String(), "\n")
	if pre {
		body = "<pre>" + body + "</pre>"
	}
	html := header + "\n" + body
	if chunks := telegram.SplitHTML(html, telegram.MaxMessageLength); len(chunks) > c.cfg.MaxMessages {
		c.sendDocument(ctx, out, header, lines, file)
		return
	}
	c.reply(ctx, out, html)
}

func (c *Core) sendDocument(ctx context.Context, out Responder, header string, lines []string, file string) {
	if err := out.SendDocument(ctx, file, []byte(strings.Join(lines, "\n")+"\n"), header); err != nil {
		c.log.Warn("document not delivered", "error", err)
	}
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
