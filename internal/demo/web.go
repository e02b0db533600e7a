package demo

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

//go:embed web
var webFiles embed.FS

// Person is one of the demo's Telegram accounts.
type Person struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	// Role is what the bot is configured to let them do: operator, viewer
	// or stranger (in neither list nor the team's group).
	Role string `json:"role"`
	// Via is how the bot decides the role: "list" (CHATOPS_OPERATORS or
	// CHATOPS_VIEWERS) or "group" (membership of the team's group).
	Via string `json:"via"`
	// InGroup is whether they are a member of the team's group.
	InGroup bool `json:"inGroup"`
}

// People are the accounts the page can write as.
var People = []Person{
	{ID: 314159265, Name: "Olga", Username: "olga_ops", Role: "operator", Via: "list", InGroup: true},
	{ID: 271828182, Name: "Viktor", Username: "viktor_sre", Role: "viewer", Via: "list", InGroup: true},
	{ID: 161803398, Name: "Stas", Username: "stas_intern", Role: "stranger", Via: "group"},
	{ID: 141421356, Name: "Marina", Username: "marina_dev", Role: "viewer", Via: "group", InGroup: true},
}

// The team's group: the bot announces every change there
// (CHATOPS_AUDIT_CHAT_ID), and its members get access (CHATOPS_GROUP_ID).
const (
	AuditChatID = -1001234567890
	auditTitle  = "Oil refinery ops"
)

// The bot's account in the emulator. The token is no secret: it opens
// nothing but this process's emulator.
const (
	botToken    = "7000000001:demo-token-of-the-in-process-emulator"
	botName     = "Derrick"
	botUsername = "derrick_demo_bot"
)

// maxShown bounds how many of a chat's latest messages the page gets.
const maxShown = 500

// page serves the chat page and its JSON API.
type page struct {
	tg   *telegramtest.Server
	lang string
}

func (p *page) handler() http.Handler {
	files := http.FileServerFS(webFiles)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.URL.Path = "/web" + r.URL.Path // the page's files are in web/
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /api/config", p.config)
	mux.HandleFunc("GET /api/chats/{chat}/messages", p.messages)
	mux.HandleFunc("POST /api/chats/{chat}/messages", p.send)
	mux.HandleFunc("POST /api/chats/{chat}/press", p.press)
	mux.HandleFunc("GET /api/chats/{chat}/events", p.events)
	mux.HandleFunc("GET /api/chats/{chat}/files/{msg}", p.file)
	return guard(mux)
}

// guard answers only requests addressed to a loopback name (a page on
// another site cannot reach this one through DNS rebinding), refuses writes
// that are no JSON or come from another origin, and sets a strict content
// security policy: the page loads nothing but its own files.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !isLoopbackName(host) {
			http.Error(w, "this demo answers only on 127.0.0.1 or localhost", http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
				http.Error(w, "send application/json", http.StatusUnsupportedMediaType)
				return
			}
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

type config struct {
	Bot        botInfo  `json:"bot"`
	Lang       string   `json:"lang"`
	People     []Person `json:"people"`
	Audit      chatInfo `json:"audit"`
	Namespace  string   `json:"namespace"`
	Deployment string   `json:"deployment"`
}

type botInfo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

type chatInfo struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
}

func (p *page) config(w http.ResponseWriter, _ *http.Request) {
	b := p.tg.Bot()
	writeJSON(w, http.StatusOK, config{
		Bot: botInfo{ID: b.ID, Name: b.FirstName, Username: b.Username}, Lang: p.lang, People: People,
		Audit:     chatInfo{ID: AuditChatID, Title: auditTitle},
		Namespace: Namespace, Deployment: Deployment,
	})
}

// message is a message as the page shows it.
type message struct {
	ID      int64  `json:"id"`
	FromBot bool   `json:"fromBot"`
	From    string `json:"from"`
	Date    int64  `json:"date"` // Unix milliseconds
	// HTML is safe to insert: the bot's HTML sanitized, other text escaped.
	HTML     string    `json:"html"`
	Edited   bool      `json:"edited"`
	Document *document `json:"document,omitempty"`
	// Keyboard is the message's inline keyboard, rows of buttons.
	Keyboard [][]telegramtest.Button `json:"keyboard,omitempty"`
}

type document struct {
	Name string `json:"name"`
	Size int    `json:"size"`
	URL  string `json:"url"`
}

// snapshot is the state of one chat.
type snapshot struct {
	Messages []message              `json:"messages"`
	Menu     []telegramtest.Command `json:"menu"`
}

// chatID reads {chat} and accepts only the chats the page shows: each
// person's private chat with the bot, and the audit group.
func chatID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("chat"), 10, 64)
	if err != nil {
		return 0, false
	}
	if id == AuditChatID {
		return id, true
	}
	_, ok := person(id)
	return id, ok
}

func person(id int64) (Person, bool) {
	for _, p := range People {
		if p.ID == id {
			return p, true
		}
	}
	return Person{}, false
}

func (p *page) snapshot(chat int64) snapshot {
	msgs := p.tg.Transcript(chat)
	msgs = msgs[max(0, len(msgs)-maxShown):]
	out := snapshot{Messages: make([]message, 0, len(msgs)), Menu: p.menu()}
	bot := p.tg.Bot().ID
	for _, m := range msgs {
		text, mode := m.Text, m.ParseMode
		v := message{ID: m.ID, FromBot: m.From.ID == bot, From: m.From.FirstName, Date: m.Date.UnixMilli(), Edited: m.Edits > 0, Keyboard: m.Keyboard}
		if d := m.Document; d != nil {
			text = d.Caption
			v.Document = &document{Name: d.Name, Size: len(d.Content), URL: fmt.Sprintf("/api/chats/%d/files/%d", chat, m.ID)}
		}
		if strings.EqualFold(mode, "HTML") {
			v.HTML = Sanitize(text)
		} else {
			v.HTML = html.EscapeString(text)
		}
		out.Messages = append(out.Messages, v)
	}
	return out
}

// menu is the command menu the bot set for its language, as a Telegram
// client in that language shows it.
func (p *page) menu() []telegramtest.Command {
	lang := p.lang
	if lang == "ru" { // the bot sets Russian as the default list
		lang = ""
	}
	cmds := p.tg.Commands(telegramtest.CommandScope{}, lang)
	if cmds == nil {
		cmds = p.tg.Commands(telegramtest.CommandScope{}, "")
	}
	if cmds == nil {
		cmds = []telegramtest.Command{}
	}
	return cmds
}

func (p *page) messages(w http.ResponseWriter, r *http.Request) {
	chat, ok := chatID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, p.snapshot(chat))
}

// maxText is Telegram's limit on a message's length, in characters.
const maxText = 4096

// send writes a message as a person to the bot in their private chat.
func (p *page) send(w http.ResponseWriter, r *http.Request) {
	chat, ok := chatID(r)
	who, isPerson := person(chat)
	if !ok || !isPerson {
		http.Error(w, "only a person's private chat with the bot takes messages", http.StatusNotFound)
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		http.Error(w, "body must be JSON such as {\"text\": \"/help\"}", http.StatusBadRequest)
		return
	}
	text := strings.TrimSpace(in.Text)
	if text == "" || utf8.RuneCountInString(text) > maxText {
		http.Error(w, fmt.Sprintf("text must have 1 to %d characters", maxText), http.StatusBadRequest)
		return
	}
	m := p.tg.Inject(telegramtest.Incoming{
		From: telegramtest.User{ID: who.ID, Username: who.Username, FirstName: who.Name},
		Text: text,
	})
	writeJSON(w, http.StatusCreated, struct {
		ID int64 `json:"id"`
	}{m.ID})
}

// press presses an inline button of a message in a person's private chat
// as that person, as a Telegram client sends a callback query.
func (p *page) press(w http.ResponseWriter, r *http.Request) {
	chat, ok := chatID(r)
	who, isPerson := person(chat)
	if !ok || !isPerson {
		http.Error(w, "only a person's private chat with the bot has buttons to press", http.StatusNotFound)
		return
	}
	var in struct {
		Message int64  `json:"message"`
		Data    string `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&in); err != nil {
		http.Error(w, "body must be JSON such as {\"message\": 12, \"data\": \"confirm\"}", http.StatusBadRequest)
		return
	}
	id, err := p.tg.PressButton(telegramtest.User{ID: who.ID, Username: who.Username, FirstName: who.Name}, chat, in.Message, in.Data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		ID string `json:"id"`
	}{id})
}

// events streams the chat's snapshot as server-sent events: one at once,
// then one whenever it changes, until the client or the demo goes.
func (p *page) events(w http.ResponseWriter, r *http.Request) {
	chat, ok := chatID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	var last []byte
	for {
		changed := p.tg.Changed()
		data, err := json.Marshal(p.snapshot(chat))
		if err != nil {
			return
		}
		if !bytes.Equal(data, last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last = data
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// file downloads a document the bot sent.
func (p *page) file(w http.ResponseWriter, r *http.Request) {
	chat, ok := chatID(r)
	id, err := strconv.ParseInt(r.PathValue("msg"), 10, 64)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	for _, m := range p.tg.Transcript(chat) {
		if m.ID != id || m.Document == nil {
			continue
		}
		d := m.Document
		ct := "application/octet-stream"
		if utf8.Valid(d.Content) {
			ct = "text/plain; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
		w.Header().Set("Content-Length", strconv.Itoa(len(d.Content)))
		_, _ = w.Write(d.Content)
		return
	}
	http.NotFound(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
