package telegramtest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Statuses of a chat member, as getChatMember reports them.
const (
	StatusCreator       = "creator"
	StatusAdministrator = "administrator"
	StatusMember        = "member"
	StatusRestricted    = "restricted"
	StatusLeft          = "left"
	StatusKicked        = "kicked"
)

// ChatMember is a user's membership of a group, set with SetMember.
type ChatMember struct {
	// Status is one of the Status constants.
	Status string
	// IsMember tells, for StatusRestricted only, whether the user is in the group.
	IsMember bool
}

// SetGroup creates or updates a group the bot is a member of ("member" unless SetMember
// says otherwise for the bot). Type defaults to "supergroup" for IDs below
// -1000000000000, else "group".
func (s *Server) SetGroup(c Chat) error {
	if c.ID >= 0 {
		return fmt.Errorf("telegramtest: group ID %d: must be negative", c.ID)
	}
	if c.Type == "private" || c.Type == "channel" {
		return fmt.Errorf("telegramtest: group %d: type %q is not a group", c.ID, c.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(c.ID).describe(c)
	s.notifyLocked()
	return nil
}

// SetMember sets user's membership of group chatID (created as by SetGroup if needed), the
// bot's own included (s.Bot()). A user is known to Telegram once set here or once they
// wrote to the bot; getChatMember about anyone else fails with "user not found".
func (s *Server) SetMember(chatID int64, user User, m ChatMember) error {
	switch m.Status {
	case StatusCreator, StatusAdministrator, StatusMember, StatusRestricted, StatusLeft, StatusKicked:
	default:
		return fmt.Errorf("telegramtest: member status %q: must be creator, administrator, member, restricted, left or kicked", m.Status)
	}
	if err := s.SetGroup(Chat{ID: chatID}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.chatLocked(chatID)
	if ch.members == nil {
		ch.members = map[int64]ChatMember{}
	}
	if m.Status != StatusRestricted {
		m.IsMember = false
	}
	ch.members[user.ID] = m
	s.knowLocked(user)
	s.notifyLocked()
	return nil
}

// knowLocked records an account Telegram knows.
func (s *Server) knowLocked(u User) {
	if s.users == nil {
		s.users = map[int64]User{}
	}
	if _, ok := s.users[u.ID]; !ok || u.Username != "" || u.FirstName != "" {
		s.users[u.ID] = u
	}
}

// memberLocked is the membership of user in a group chat: as set, else
// "member" for the bot and for users who wrote in the group, else "left".
func (s *Server) memberLocked(c *chat, userID int64) ChatMember {
	if m, ok := c.members[userID]; ok {
		return m
	}
	if userID == s.cfg.Bot.ID {
		return ChatMember{Status: StatusMember}
	}
	for _, msg := range c.msgs {
		if msg.From.ID == userID {
			return ChatMember{Status: StatusMember}
		}
	}
	return ChatMember{Status: StatusLeft}
}

// groupLocked finds a chat the bot may read, answering as Telegram does when it may not:
// 400 "chat not found" for a chat it never was in or has left, 403 when it was kicked.
func (s *Server) groupLocked(p params) (*chat, *apiError) {
	id, e := p.chatID()
	if e != nil {
		return nil, e
	}
	c := s.chats[id]
	if c == nil {
		return nil, badRequest("chat not found")
	}
	if c.info.Type == "private" {
		return c, nil
	}
	switch s.memberLocked(c, s.cfg.Bot.ID).Status {
	case StatusLeft:
		return nil, badRequest("chat not found")
	case StatusKicked:
		kind := "group"
		if c.info.Type == "supergroup" {
			kind = "supergroup"
		}
		return nil, &apiError{code: http.StatusForbidden, desc: "Forbidden: bot was kicked from the " + kind + " chat"}
	}
	return c, nil
}

type wireChatFullInfo struct {
	wireChat
	AccentColorID    int `json:"accent_color_id"`
	MaxReactionCount int `json:"max_reaction_count"`
}

func (s *Server) getChat(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, e := s.groupLocked(p)
	if e != nil {
		return nil, e
	}
	w := wireChatFullInfo{wireChat: wireChat{ID: c.info.ID, Type: c.info.Type, Title: c.info.Title}, MaxReactionCount: 11}
	if c.info.Type == "private" {
		w.Username, w.FirstName = c.user.Username, c.user.FirstName
	}
	return w, nil
}

// wireChatMember carries the fields of every ChatMember kind that Derrick reads, plus the
// ones Telegram always sends for restricted members.
type wireChatMember struct {
	Status      string   `json:"status"`
	User        wireUser `json:"user"`
	IsAnonymous *bool    `json:"is_anonymous,omitempty"`
	CanBeEdited *bool    `json:"can_be_edited,omitempty"`
	IsMember    *bool    `json:"is_member,omitempty"`
	UntilDate   *int64   `json:"until_date,omitempty"`
}

func (s *Server) getChatMember(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, e := s.groupLocked(p)
	if e != nil {
		return nil, e
	}
	uid, given, e := p.int("user_id")
	if e != nil {
		return nil, e
	}
	u, known := s.users[uid]
	if uid == s.cfg.Bot.ID {
		u, known = s.cfg.Bot, true
	}
	if !given || !known {
		return nil, badRequest("user not found")
	}
	var m ChatMember
	if c.info.Type == "private" {
		m = ChatMember{Status: StatusLeft}
		if uid == c.info.ID || uid == s.cfg.Bot.ID {
			m.Status = StatusMember
		}
	} else {
		m = s.memberLocked(c, uid)
	}
	f, zero := false, int64(0)
	w := wireChatMember{Status: m.Status, User: wireUser{ID: u.ID, IsBot: u.ID == s.cfg.Bot.ID, FirstName: u.FirstName, Username: u.Username}}
	switch m.Status {
	case StatusCreator:
		w.IsAnonymous = &f
	case StatusAdministrator:
		w.IsAnonymous, w.CanBeEdited = &f, &f
	case StatusRestricted:
		w.IsMember, w.UntilDate = &m.IsMember, &zero
	case StatusKicked:
		w.UntilDate = &zero
	}
	if w.User.FirstName == "" {
		w.User.FirstName = "User " + strconv.FormatInt(u.ID, 10)
	}
	return w, nil
}
