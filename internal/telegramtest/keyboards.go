package telegramtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Button is one button of an inline keyboard (InlineKeyboardButton): a
// callback button (CallbackData, 1-64 bytes) or a link (URL).
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// wireMarkup is an InlineKeyboardMarkup.
type wireMarkup struct {
	InlineKeyboard [][]Button `json:"inline_keyboard"`
}

// wireCallback is a CallbackQuery.
type wireCallback struct {
	ID           string      `json:"id"`
	From         wireUser    `json:"from"`
	Message      wireMessage `json:"message"`
	ChatInstance string      `json:"chat_instance"`
	Data         string      `json:"data,omitempty"`
}

// Press is a user's press of an inline keyboard button: a callback query
// and what the bot answered to it.
type Press struct {
	ID        string
	From      User
	ChatID    int64
	MessageID int64
	Data      string
	// Answered: the bot called answerCallbackQuery for it (once only is
	// accepted); Answer is what it said.
	Answered bool
	Answer   CallbackAnswer
}

// CallbackAnswer is what answerCallbackQuery showed the user.
type CallbackAnswer struct {
	Text      string
	ShowAlert bool
	URL       string
	CacheTime int64
}

// keyboardParam reads reply_markup: only an inline keyboard is emulated.
// given reports whether reply_markup was sent at all.
func keyboardParam(p params) (kb [][]Button, given bool, e *apiError) {
	var m struct {
		InlineKeyboard *[][]Button `json:"inline_keyboard"`
	}
	if given, e = p.json("reply_markup", &m); e != nil || !given {
		return nil, given, e
	}
	if m.InlineKeyboard == nil { // {} or {"inline_keyboard":null}: no keyboard
		return nil, true, nil
	}
	for _, row := range *m.InlineKeyboard {
		for _, b := range row {
			switch {
			case b.Text == "":
				return nil, true, badRequest("can't parse inline keyboard button: Text must be non-empty")
			case b.CallbackData == "" && b.URL == "":
				return nil, true, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			case len(b.CallbackData) > 64:
				return nil, true, badRequest("BUTTON_DATA_INVALID")
			}
		}
	}
	if len(*m.InlineKeyboard) == 0 {
		return nil, true, nil
	}
	return *m.InlineKeyboard, true, nil
}

// PressButton plays user from pressing the button with callback data data
// on the bot's message messageID in chat chatID: it queues a callback_query
// update (delivered only while allowed_updates allows callback_query) and
// returns the query's id. A message that has no such button now is an
// error, as a user cannot press it.
func (s *Server) PressButton(from User, chatID, messageID int64, data string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil || messageID < 1 || messageID > int64(len(c.msgs)) {
		return "", fmt.Errorf("telegramtest: no message %d in chat %d", messageID, chatID)
	}
	m := c.msgs[messageID-1]
	if !slices.ContainsFunc(m.Keyboard, func(row []Button) bool {
		return slices.ContainsFunc(row, func(b Button) bool { return b.CallbackData == data && b.CallbackData != "" })
	}) {
		return "", fmt.Errorf("telegramtest: message %d in chat %d has no button with callback data %q (keyboard %v)", messageID, chatID, data, m.Keyboard)
	}
	s.knowLocked(from)
	s.lastQuery++
	id := strconv.FormatInt(4_611_686_018_427_387_904+s.lastQuery, 10) // Telegram's ids are long numbers
	s.presses[id] = &Press{ID: id, From: from, ChatID: chatID, MessageID: messageID, Data: data}
	s.lastUpd++
	s.updates = append(s.updates, update{id: s.lastUpd, kind: "callback_query", cb: &wireCallback{
		ID: id, From: wireUser{ID: from.ID, FirstName: from.FirstName, Username: from.Username},
		Message: s.wireLocked(m), ChatInstance: strconv.FormatInt(-chatID^0x5bd1e995, 10), Data: data,
	}})
	s.notifyLocked()
	return id, nil
}

// CallbackQuery returns the press with that id and what the bot answered.
func (s *Server) CallbackQuery(id string) (Press, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.presses[id]
	if !ok {
		return Press{}, false
	}
	return *p, true
}

// WaitAnswer waits until the bot answered the press with that id.
func (s *Server) WaitAnswer(ctx context.Context, id string) (Press, error) {
	for {
		changed := s.Changed()
		if p, ok := s.CallbackQuery(id); ok && p.Answered {
			return p, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p, _ := s.CallbackQuery(id)
			return p, fmt.Errorf("wait for the answer to callback query %s: %w", id, ctx.Err())
		case <-s.closing:
			return Press{}, ErrClosed
		}
	}
}

func (s *Server) answerCallbackQuery(_ context.Context, p params) (any, *apiError) {
	show, _ := strconv.ParseBool(p.vals["show_alert"])
	cache, _, e := p.int("cache_time")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.presses[p.vals["callback_query_id"]]
	if q == nil || q.Answered {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	q.Answered = true
	q.Answer = CallbackAnswer{Text: p.vals["text"], ShowAlert: show, URL: p.vals["url"], CacheTime: cache}
	s.notifyLocked()
	return true, nil
}

func (s *Server) editMessageReplyMarkup(_ context.Context, p params) (any, *apiError) {
	chatID, e := p.chatID()
	if e != nil {
		return nil, e
	}
	kb, _, e := keyboardParam(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.editableLocked(p, chatID)
	if e != nil {
		return nil, e
	}
	if slices.EqualFunc(m.Keyboard, kb, slices.Equal) {
		return nil, badRequest(notModified)
	}
	m.Keyboard = kb
	m.Edits++
	s.notifyLocked()
	return s.wireLocked(*m), nil
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

// editableLocked finds the bot's message message_id of the chat.
func (s *Server) editableLocked(p params, chatID int64) (*Message, *apiError) {
	id, _, e := p.int("message_id")
	if e != nil {
		return nil, e
	}
	c := s.chats[chatID]
	var m *Message
	if c != nil && id > 0 && id <= int64(len(c.msgs)) {
		m = &c.msgs[id-1] // message IDs are 1, 2, ... per chat
	}
	switch {
	case m == nil:
		return nil, badRequest("message to edit not found")
	case m.From.ID != s.cfg.Bot.ID:
		return nil, badRequest("message can't be edited")
	}
	return m, nil
}
