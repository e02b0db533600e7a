// Package access decides what a Telegram user may do with the ChatOps bot:
// by the explicit lists CHATOPS_OPERATORS and CHATOPS_VIEWERS first, then,
// when CHATOPS_GROUP_ID is set, by the user's membership of the team's
// group as Telegram reports it (getChatMember). Answers are cached per user,
// concurrent questions about one user make one call, and when Telegram
// cannot answer the user is a stranger (fail closed).
package access

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Role is what a user may do.
type Role int

// Roles, from least to most.
const (
	Stranger Role = iota
	Viewer
	Operator
)

func (r Role) String() string {
	return [...]string{"stranger", "viewer", "operator"}[r]
}

// GroupRoles are the accepted values of CHATOPS_GROUP_ADMIN_ROLE and
// CHATOPS_GROUP_MEMBER_ROLE.
var GroupRoles = []string{"operator", "viewer", "none"}

// ParseRole reads a GroupRoles value; "none" is Stranger.
func ParseRole(s string) (Role, bool) {
	r, ok := map[string]Role{"operator": Operator, "viewer": Viewer, "none": Stranger}[s]
	return r, ok
}

// How a role was decided (Decision.Via), for the audit log.
const (
	ViaList  = "list"  // the user is in CHATOPS_OPERATORS or CHATOPS_VIEWERS
	ViaGroup = "group" // Telegram's answer about the group decided
	ViaNone  = "none"  // in no list, and no group is configured
)

// Decision is the role of one user and how it was decided.
type Decision struct {
	Role Role
	Via  string
	// Unchecked is set when the group could not be asked (Telegram failed
	// or timed out): the user is a stranger for now and should try again.
	Unchecked bool
}

// Member is a user's membership of a chat as getChatMember reports it.
type Member struct {
	// Status is creator, administrator, member, restricted, left or kicked.
	Status string
	// IsMember is the is_member field of a restricted member.
	IsMember bool
}

// InGroup reports whether m is in the chat at all.
func (m Member) InGroup() bool {
	switch m.Status {
	case "creator", "administrator", "member":
		return true
	case "restricted":
		return m.IsMember
	}
	return false
}

// Admin reports whether m administers the chat.
func (m Member) Admin() bool { return m.Status == "creator" || m.Status == "administrator" }

// Membership asks Telegram about a user in a chat; tgbot.Membership is the
// production one.
type Membership interface {
	ChatMember(ctx context.Context, chatID, userID int64) (Member, error)
}

// Config is the access policy.
type Config struct {
	Operators, Viewers []int64 // numeric Telegram user ids; they win over the group
	GroupID            int64   // 0: no group
	AdminRole          Role    // of the group's creator and administrators
	MemberRole         Role    // of the group's other members
	CacheTTL           time.Duration
	// Timeout bounds one getChatMember call; default DefaultTimeout.
	Timeout time.Duration
	// MaxCached bounds the cache; default DefaultMaxCached.
	MaxCached int
}

// Defaults of the optional settings.
const (
	DefaultCacheTTL  = time.Minute
	DefaultTimeout   = 5 * time.Second
	DefaultMaxCached = 10000
	// failureLogEvery is how often a failing membership check is logged.
	failureLogEvery = time.Minute
)

// Checker decides roles. It is safe for concurrent use.
type Checker struct {
	cfg Config
	m   Membership
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	cache     map[int64]cached
	flights   map[int64]*flight
	lastFail  time.Time
	failCount int // failures since the last logged one
}

type cached struct {
	role    Role
	expires time.Time
}

type flight struct {
	done chan struct{}
	d    Decision
}

// New returns a Checker for cfg; m may be nil when cfg.GroupID is 0.
func New(cfg Config, m Membership, log *slog.Logger) *Checker {
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, DefaultCacheTTL)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxCached = cmp.Or(cfg.MaxCached, DefaultMaxCached)
	return &Checker{cfg: cfg, m: m, log: cmp.Or(log, slog.New(slog.DiscardHandler)), now: time.Now, cache: map[int64]cached{}, flights: map[int64]*flight{}}
}

// Decide returns the role of userID. Only numeric ids count; usernames can
// change hands.
func (c *Checker) Decide(ctx context.Context, userID int64) Decision {
	switch {
	case slices.Contains(c.cfg.Operators, userID):
		return Decision{Role: Operator, Via: ViaList}
	case slices.Contains(c.cfg.Viewers, userID):
		return Decision{Role: Viewer, Via: ViaList}
	case c.cfg.GroupID == 0 || c.m == nil:
		return Decision{Role: Stranger, Via: ViaNone}
	}
	c.mu.Lock()
	if e, ok := c.cache[userID]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return Decision{Role: e.role, Via: ViaGroup}
	}
	if f, ok := c.flights[userID]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.d
		case <-ctx.Done():
			return Decision{Role: Stranger, Via: ViaGroup, Unchecked: true}
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[userID] = f
	c.mu.Unlock()

	f.d = c.ask(ctx, userID)

	c.mu.Lock()
	delete(c.flights, userID)
	if !f.d.Unchecked {
		c.storeLocked(userID, f.d.Role)
	}
	c.mu.Unlock()
	close(f.done)
	return f.d
}

// DecideFresh is Decide past the cache: a confirmation's press checks the
// group as it is now, not as it was up to CacheTTL ago.
func (c *Checker) DecideFresh(ctx context.Context, userID int64) Decision {
	c.mu.Lock()
	delete(c.cache, userID)
	c.mu.Unlock()
	return c.Decide(ctx, userID)
}

// ask makes the getChatMember call, bounded by Timeout; it is not
// cancelled with the asking command, since others may wait for it.
func (c *Checker) ask(ctx context.Context, userID int64) Decision {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	defer cancel()
	m, err := c.m.ChatMember(ctx, c.cfg.GroupID, userID)
	if err != nil {
		c.failed(userID, err)
		return Decision{Role: Stranger, Via: ViaGroup, Unchecked: true}
	}
	d := Decision{Role: Stranger, Via: ViaGroup}
	switch {
	case m.Admin():
		d.Role = c.cfg.AdminRole
	case m.InGroup():
		d.Role = c.cfg.MemberRole
	}
	return d
}

// storeLocked caches a role; when the cache is full it drops the expired
// entries, then, if still full, any one.
func (c *Checker) storeLocked(userID int64, r Role) {
	now := c.now()
	if len(c.cache) >= c.cfg.MaxCached {
		for id, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, id)
			}
		}
		for id := range c.cache {
			if len(c.cache) < c.cfg.MaxCached {
				break
			}
			delete(c.cache, id)
		}
	}
	c.cache[userID] = cached{role: r, expires: now.Add(c.cfg.CacheTTL)}
}

// failed logs why membership could not be checked, at most once per
// failureLogEvery, with how many failures the silence hid.
func (c *Checker) failed(userID int64, err error) {
	c.mu.Lock()
	now := c.now()
	c.failCount++
	if !c.lastFail.IsZero() && now.Sub(c.lastFail) < failureLogEvery {
		c.mu.Unlock()
		return
	}
	n := c.failCount
	c.lastFail, c.failCount = now, 0
	c.mu.Unlock()
	c.log.Warn("group membership could not be checked; treating the user as a stranger",
		"group_id", c.cfg.GroupID, "user_id", userID, "failures", n, "error", err)
}

// GroupError says why the bot cannot use the group of CHATOPS_GROUP_ID.
type GroupError struct {
	GroupID int64
	Reason  string
	Err     error
}

func (e *GroupError) Error() string {
	s := fmt.Sprintf("CHATOPS_GROUP_ID %d: %s", e.GroupID, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *GroupError) Unwrap() error { return e.Err }
