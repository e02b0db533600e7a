package telegramtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Chat is a conversation the bot takes part in.
type Chat struct {
	// ID is the user's ID for a private chat and negative for groups.
	ID int64
	// Type is "private", "group" or "supergroup".
	Type string
	// Title names a group.
	Title string
}

// Message is one message of a chat as the emulator stores it.
type Message struct {
	ID     int64
	ChatID int64
	// From is the bot for messages the bot sent, else the user who wrote it.
	From User
	Date time.Time
	// Text is the text as sent: the HTML source when ParseMode is "HTML". Empty for documents.
	Text      string
	ParseMode string
	// Plain is what the user sees: Text (or a document's caption) after entity parsing,
	// trimmed like Telegram trims it.
	Plain string
	// History holds the earlier versions of Text, oldest first; nil if never edited.
	History  []string
	Document *Document
	// Keyboard is the inline keyboard (reply_markup's inline_keyboard), rows
	// of buttons; nil when the message has none.
	Keyboard [][]Button
	// Edits counts the edits of text or keyboard.
	Edits int
}

// Document is a file the bot sent.
type Document struct {
	FileID  string
	Name    string
	Content []byte
	// Caption is the caption as sent (HTML source when the message's ParseMode is "HTML").
	Caption string
}

// ErrClosed is returned by WaitFor when the Server is closed.
var ErrClosed = errors.New("telegramtest: server closed")

type chat struct {
	info Chat
	user User // the other party of a private chat, once known
	next int64
	msgs []Message
	// members of a group, set with SetMember
	members map[int64]ChatMember
}

func (s *Server) chatLocked(id int64) *chat {
	c := s.chats[id]
	if c == nil {
		typ := "private"
		switch {
		case id < -1_000_000_000_000:
			typ = "supergroup"
		case id < 0:
			typ = "group"
		}
		c = &chat{info: Chat{ID: id, Type: typ}}
		s.chats[id] = c
	}
	return c
}

// describe sets the chat's type and title to those info gives.
func (c *chat) describe(info Chat) {
	if info.Type != "" {
		c.info.Type = info.Type
	}
	if info.Title != "" {
		c.info.Title = info.Title
	}
}

// appendLocked stores m in its chat with the chat's next message ID and returns it.
func (s *Server) appendLocked(m Message) Message {
	c := s.chatLocked(m.ChatID)
	c.next++
	m.ID = c.next
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	c.msgs = append(c.msgs, m)
	s.notifyLocked()
	return m
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next change of state: a message sent,
// edited or injected, an update confirmed, commands set, or any call received. Take the
// channel before reading the state so that no change is missed.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Messages returns what the bot sent to the chat, oldest first.
func (s *Server) Messages(chatID int64) []Message {
	return s.transcript(chatID, true)
}

// Transcript returns every message of the chat, the users' and the bot's, oldest first.
func (s *Server) Transcript(chatID int64) []Message {
	return s.transcript(chatID, false)
}

func (s *Server) transcript(chatID int64, botOnly bool) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil {
		return nil
	}
	var out []Message
	for _, m := range c.msgs {
		if !botOnly || m.From.ID == s.cfg.Bot.ID {
			out = append(out, m)
		}
	}
	return out
}

// Chats lists every chat the bot has received from or written to, by ID.
func (s *Server) Chats() []Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Chat, 0, len(s.chats))
	for _, c := range s.chats {
		out = append(out, c.info)
	}
	slices.SortFunc(out, func(a, b Chat) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Calls reports how many authorised requests reached method (any case), faulted ones included.
func (s *Server) Calls(method string) int {
	m, ok := methods[strings.ToLower(method)]
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[m.name]
}

// WaitFor waits until cond holds for the messages the bot sent to the chat and returns them.
// It gives up when ctx ends or the Server closes, returning the last messages and the reason.
func (s *Server) WaitFor(ctx context.Context, chatID int64, cond func([]Message) bool) ([]Message, error) {
	for {
		changed := s.Changed()
		msgs := s.Messages(chatID)
		if cond(msgs) {
			return msgs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, fmt.Errorf("wait for messages in chat %d: %w", chatID, ctx.Err())
		case <-s.closing:
			return msgs, ErrClosed
		}
	}
}

// wire types: the JSON the Bot API sends.

type wireUser struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

type wireChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
}

type wireEntity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

type wireDocument struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	FileSize     int    `json:"file_size"`
}

type wireMessage struct {
	MessageID int64         `json:"message_id"`
	From      wireUser      `json:"from"`
	Chat      wireChat      `json:"chat"`
	Date      int64         `json:"date"`
	EditDate  int64         `json:"edit_date,omitempty"`
	Text      string        `json:"text,omitempty"`
	Entities  []wireEntity  `json:"entities,omitempty"`
	Document  *wireDocument `json:"document,omitempty"`
	Caption   string        `json:"caption,omitempty"`
	// ForwardOrigin is set on injected forwards only.
	ForwardOrigin *wireOrigin `json:"forward_origin,omitempty"`
	ReplyMarkup   *wireMarkup `json:"reply_markup,omitempty"`
}

// wireOrigin is a MessageOrigin of the Bot API (only "user" is emulated).
type wireOrigin struct {
	Type       string    `json:"type"`
	Date       int64     `json:"date"`
	SenderUser *wireUser `json:"sender_user,omitempty"`
}

func (s *Server) wireLocked(m Message) wireMessage {
	c := s.chatLocked(m.ChatID)
	w := wireMessage{
		MessageID: m.ID,
		From:      wireUser{ID: m.From.ID, IsBot: m.From.ID == s.cfg.Bot.ID, FirstName: m.From.FirstName, Username: m.From.Username},
		Chat:      wireChat{ID: c.info.ID, Type: c.info.Type, Title: c.info.Title},
		Date:      m.Date.Unix(),
		Text:      m.Plain,
	}
	if c.info.Type == "private" {
		w.Chat.Username, w.Chat.FirstName = c.user.Username, c.user.FirstName
	}
	if d := m.Document; d != nil {
		w.Text = ""
		w.Document = &wireDocument{FileID: d.FileID, FileUniqueID: d.FileID, FileName: d.Name, FileSize: len(d.Content)}
		w.Caption = m.Plain
	}
	if m.Edits > 0 {
		w.EditDate = time.Now().Unix()
	}
	if m.Keyboard != nil {
		w.ReplyMarkup = &wireMarkup{InlineKeyboard: m.Keyboard}
	}
	return w
}
