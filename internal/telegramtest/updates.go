package telegramtest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Incoming is a message a user writes to the bot.
type Incoming struct {
	From User
	// Chat is where the message is written. The zero Chat is the private chat with From
	// (chat ID = From.ID); a negative ID without a Type is a "group".
	Chat Chat
	Text string
	// Date is when the user sent it; zero means now. Set it in the past to test age limits.
	Date time.Time
	// ForwardFrom, when set, makes it a message From forwarded from this user: the update
	// carries forward_origin {type "user", sender_user, date ForwardDate (zero: an hour ago)}.
	ForwardFrom *User
	ForwardDate time.Time
}

type update struct {
	id   int64
	kind string // the Update field that is set, as named in allowed_updates
	msg  wireMessage
	cb   *wireCallback // kind "callback_query"
}

const conflictDesc = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"

// Inject queues a user's message as an update for getUpdates and returns the stored message.
// A text that starts with "/" carries a bot_command entity for its first word (such as
// "/deploy@derrick_bot"), as Telegram sends it.
func (s *Server) Inject(in Incoming) Message {
	c := in.Chat
	if c.ID == 0 {
		c = Chat{ID: in.From.ID, Type: "private"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.chatLocked(c.ID)
	ch.describe(c)
	if ch.info.Type == "private" {
		ch.user = in.From
	}
	s.knowLocked(in.From)
	m := s.appendLocked(Message{ChatID: c.ID, From: in.From, Date: in.Date, Text: in.Text, Plain: in.Text})
	w := s.wireLocked(m)
	if strings.HasPrefix(in.Text, "/") {
		cmd := in.Text
		if i := strings.IndexFunc(cmd, unicode.IsSpace); i >= 0 {
			cmd = cmd[:i]
		}
		w.Entities = []wireEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(cmd)}}
	}
	if f := in.ForwardFrom; f != nil {
		date := in.ForwardDate
		if date.IsZero() {
			date = time.Now().Add(-time.Hour)
		}
		w.ForwardOrigin = &wireOrigin{Type: "user", Date: date.Unix(),
			SenderUser: &wireUser{ID: f.ID, FirstName: f.FirstName, Username: f.Username}}
	}
	s.lastUpd++
	s.updates = append(s.updates, update{id: s.lastUpd, kind: "message", msg: w})
	return m
}

// Pending reports how many updates the bot has not confirmed yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// Polling reports whether a getUpdates call is waiting for updates now; an Inject after it
// returned true wakes that call.
func (s *Server) Polling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll != nil
}

// confirmLocked forgets the updates below offset; a negative offset keeps only the last -offset.
func (s *Server) confirmLocked(offset int64) {
	n := len(s.updates)
	switch {
	case offset > 0:
		s.updates = slices.DeleteFunc(s.updates, func(u update) bool { return u.id < offset })
	case offset < 0 && int64(n) > -offset:
		s.updates = slices.Delete(s.updates, 0, n+int(offset))
	}
	if len(s.updates) != n {
		s.notifyLocked()
	}
}

func (s *Server) deliverableLocked(limit int64) []any {
	out := []any{}
	for _, u := range s.updates {
		if int64(len(out)) == limit {
			break
		}
		if len(s.allowed) == 0 || slices.Contains(s.allowed, u.kind) {
			w := struct {
				UpdateID      int64         `json:"update_id"`
				Message       *wireMessage  `json:"message,omitempty"`
				CallbackQuery *wireCallback `json:"callback_query,omitempty"`
			}{UpdateID: u.id, CallbackQuery: u.cb}
			if u.cb == nil {
				m := u.msg
				w.Message = &m
			}
			out = append(out, w)
		}
	}
	return out
}

func (s *Server) getUpdates(ctx context.Context, p params) (any, *apiError) {
	offset, _, e := p.int("offset")
	if e != nil {
		return nil, e
	}
	limit, given, e := p.int("limit")
	if e != nil {
		return nil, e
	}
	if !given || limit > 100 {
		limit = 100
	}
	limit = max(limit, 1)
	timeout, _, e := p.int("timeout")
	if e != nil {
		return nil, e
	}
	var allowed []string
	allowedGiven, e := p.json("allowed_updates", &allowed)
	if e != nil {
		return nil, e
	}

	timer := time.NewTimer(time.Duration(max(timeout, 0)) * time.Second)
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll != nil {
		close(s.poll)
	}
	mine := make(chan struct{})
	s.poll = mine
	if allowedGiven {
		s.allowed = allowed
	}
	s.confirmLocked(offset)
	for expired := timeout <= 0; ; {
		if ups := s.deliverableLocked(limit); len(ups) > 0 || expired {
			if s.poll == mine {
				s.poll = nil
			}
			return ups, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-mine:
			s.mu.Lock()
			return nil, &apiError{code: http.StatusConflict, desc: conflictDesc}
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			expired = true
		case <-s.closing:
			expired = true
		}
		s.mu.Lock()
	}
}
