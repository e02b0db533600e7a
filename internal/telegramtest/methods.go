package telegramtest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Command is one entry of the bot's command menu (setMyCommands).
type Command struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// CommandScope selects whom a command list is for; the zero value is the default scope.
type CommandScope struct {
	Type   string `json:"type"` // "default", "all_private_chats", "chat", ...
	ChatID int64  `json:"chat_id,omitempty"`
	UserID int64  `json:"user_id,omitempty"`
}

type commandKey struct {
	scope CommandScope
	lang  string
}

var commandName = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// Commands returns the commands the bot set for scope and language code ("" for all languages).
func (s *Server) Commands(scope CommandScope, languageCode string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands[commandKeyOf(scope, languageCode)])
}

func commandKeyOf(scope CommandScope, lang string) commandKey {
	if scope.Type == "" {
		scope.Type = "default"
	}
	return commandKey{scope, lang}
}

func (s *Server) getMe(context.Context, params) (any, *apiError) {
	b := s.cfg.Bot
	return wireUser{ID: b.ID, IsBot: true, FirstName: b.FirstName, Username: b.Username}, nil
}

// textParams reads chat_id, text and parse_mode and validates the text.
func textParams(p params) (chatID int64, plain string, e *apiError) {
	if chatID, e = p.chatID(); e != nil {
		return 0, "", e
	}
	plain, e = checkText(p.vals["text"], p.vals["parse_mode"], false)
	return chatID, plain, e
}

func (s *Server) sendMessage(_ context.Context, p params) (any, *apiError) {
	chatID, plain, e := textParams(p)
	if e != nil {
		return nil, e
	}
	kb, _, e := keyboardParam(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.appendLocked(Message{ChatID: chatID, From: s.cfg.Bot, Text: p.vals["text"], ParseMode: p.vals["parse_mode"], Plain: plain, Keyboard: kb})
	return s.wireLocked(m), nil
}

func (s *Server) editMessageText(_ context.Context, p params) (any, *apiError) {
	chatID, plain, e := textParams(p)
	if e != nil {
		return nil, e
	}
	// Without reply_markup the edit removes the inline keyboard, as Telegram does.
	kb, _, e := keyboardParam(p)
	if e != nil {
		return nil, e
	}
	text, mode := p.vals["text"], p.vals["parse_mode"]
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.editableLocked(p, chatID)
	switch {
	case e != nil:
		return nil, e
	case m.Document != nil:
		return nil, badRequest("there is no text in the message to edit")
	case m.Text == text && m.ParseMode == mode && slices.EqualFunc(m.Keyboard, kb, slices.Equal):
		return nil, badRequest(notModified)
	}
	if m.Text != text || m.ParseMode != mode {
		m.History = append(slices.Clip(m.History), m.Text) // never share a backing array with readers
	}
	m.Text, m.ParseMode, m.Plain, m.Keyboard = text, mode, plain, kb
	m.Edits++
	s.notifyLocked()
	return s.wireLocked(*m), nil
}

func (s *Server) sendDocument(_ context.Context, p params) (any, *apiError) {
	chatID, e := p.chatID()
	if e != nil {
		return nil, e
	}
	caption, mode := p.vals["caption"], p.vals["parse_mode"]
	plain, e := checkText(caption, mode, true)
	if e != nil {
		return nil, e
	}
	ref := p.vals["document"]
	file, uploaded := p.files["document"]
	if name, ok := strings.CutPrefix(ref, "attach://"); ok {
		file, uploaded = p.files[name]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var doc Document
	switch {
	case uploaded && len(file.data) == 0:
		return nil, badRequest("file must be non-empty")
	case uploaded:
		doc = Document{FileID: fmt.Sprintf("document-%d", len(s.files)+1), Name: file.name, Content: file.data}
		s.files[doc.FileID] = doc
	case ref == "":
		return nil, badRequest("there is no document in the request")
	default:
		var ok bool
		if doc, ok = s.files[ref]; !ok {
			return nil, badRequest("wrong file identifier/HTTP URL specified")
		}
	}
	doc.Caption = caption
	m := s.appendLocked(Message{ChatID: chatID, From: s.cfg.Bot, ParseMode: mode, Plain: plain, Document: &doc})
	return s.wireLocked(m), nil
}

func (s *Server) setMyCommands(_ context.Context, p params) (any, *apiError) {
	var cmds []Command
	given, e := p.json("commands", &cmds)
	if e != nil {
		return nil, e
	}
	if !given {
		return nil, badRequest(`parameter "commands" is required`)
	}
	for _, c := range cmds {
		if !commandName.MatchString(c.Command) {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(c.Description)); n == 0 || n > 256 {
			return nil, badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	var scope CommandScope
	if _, e := p.json("scope", &scope); e != nil {
		return nil, e
	}
	key := commandKeyOf(scope, p.vals["language_code"])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(cmds) == 0 {
		delete(s.commands, key)
	} else {
		s.commands[key] = cmds
	}
	s.notifyLocked()
	return true, nil
}

func (s *Server) getMyCommands(_ context.Context, p params) (any, *apiError) {
	var scope CommandScope
	if _, e := p.json("scope", &scope); e != nil {
		return nil, e
	}
	if cmds := s.Commands(scope, p.vals["language_code"]); cmds != nil {
		return cmds, nil
	}
	return []Command{}, nil
}

func (s *Server) deleteWebhook(_ context.Context, p params) (any, *apiError) {
	if b, _ := strconv.ParseBool(p.vals["drop_pending_updates"]); b {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.updates = nil
		s.notifyLocked()
	}
	return true, nil
}
