// Package telegramtest is an in-process emulator of the Telegram Bot API for tests and demos.
//
// A Server listens on 127.0.0.1 and answers POST or GET /bot<token>/<method> with JSON,
// urlencoded or multipart bodies, like api.telegram.org does for the methods Derrick uses.
// A test plays the user with Inject, reads what the bot sent with Messages and WaitFor, sets
// who is in a group (getChat, getChatMember) with SetGroup and SetMember, and makes calls fail
// with InjectFault. The package logs nothing.
package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Server.
type Config struct {
	// Token is the bot token clients put in the path (/bot<token>/<method>). Required.
	Token string
	// Bot is the bot's own account as getMe reports it. A zero ID is taken from the token's
	// numeric prefix ("123:abc" gives 123); empty names default to "Test Bot" and "test_bot".
	Bot User
	// Addr is the address to listen on; default "127.0.0.1:0" (a free port).
	Addr string
}

// User is a Telegram account: the bot itself or a person who talks to it.
type User struct {
	ID        int64
	Username  string
	FirstName string
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg       Config
	url       string
	http      *http.Server
	closing   chan struct{}
	closeOnce sync.Once

	connMu sync.Mutex
	fresh  map[net.Conn]bool // connections that have not sent a request yet

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change of state
	calls     map[string]int
	faults    []*Fault
	updates   []update      // not yet confirmed by the bot
	lastUpd   int64         // update_id of the newest update
	allowed   []string      // allowed_updates of the last getUpdates that gave it
	poll      chan struct{} // closed to terminate the getUpdates that is running
	chats     map[int64]*chat
	files     map[string]Document // by file_id
	commands  map[commandKey][]Command
	users     map[int64]User    // accounts Telegram knows: who wrote, or was set as a member
	presses   map[string]*Press // callback queries by id
	lastQuery int64
}

// New starts a Server listening on cfg.Addr (default a free port on 127.0.0.1).
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("telegramtest: Config.Token is required")
	}
	if cfg.Bot.ID == 0 {
		prefix, _, _ := strings.Cut(cfg.Token, ":")
		id, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			return nil, errors.New(`telegramtest: set Config.Bot.ID or use a token like "123:abc"`)
		}
		cfg.Bot.ID = id
	}
	if cfg.Bot.FirstName == "" {
		cfg.Bot.FirstName = "Test Bot"
	}
	if cfg.Bot.Username == "" {
		cfg.Bot.Username = "test_bot"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("telegramtest: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{
		cfg:      cfg,
		url:      "http://" + ln.Addr().String(),
		closing:  make(chan struct{}),
		changed:  make(chan struct{}),
		calls:    map[string]int{},
		chats:    map[int64]*chat{},
		files:    map[string]Document{},
		commands: map[commandKey][]Command{},
		presses:  map[string]*Press{},
		fresh:    map[net.Conn]bool{},
	}
	s.http = &http.Server{
		Handler:           s,
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         s.trackConn,
	}
	// Shutdown waits up to 5 s for connections that have sent nothing yet (clients dial
	// spare ones); close them at once, after the listener is closed.
	s.http.RegisterOnShutdown(func() {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		for c := range s.fresh {
			_ = c.Close()
		}
	})
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// URL returns the API base, such as "http://127.0.0.1:PORT"; clients call
// URL()+"/bot"+token+"/sendMessage".
func (s *Server) URL() string { return s.url }

// Bot returns the bot's account, with the defaults of Config filled in.
func (s *Server) Bot() User { return s.cfg.Bot }

// Close stops the server: every long poll returns, WaitFor gives up, the listener closes.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
	})
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if state == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func badRequest(format string, a ...any) *apiError {
	return &apiError{code: http.StatusBadRequest, desc: "Bad Request: " + fmt.Sprintf(format, a...)}
}

type methodFunc func(s *Server, ctx context.Context, p params) (any, *apiError)

// methods maps lower-case method names (the API ignores case) to the canonical name and handler.
var methods = map[string]struct {
	name string
	fn   methodFunc
}{
	"getme":                  {"getMe", (*Server).getMe},
	"getupdates":             {"getUpdates", (*Server).getUpdates},
	"sendmessage":            {"sendMessage", (*Server).sendMessage},
	"editmessagetext":        {"editMessageText", (*Server).editMessageText},
	"senddocument":           {"sendDocument", (*Server).sendDocument},
	"setmycommands":          {"setMyCommands", (*Server).setMyCommands},
	"getmycommands":          {"getMyCommands", (*Server).getMyCommands},
	"deletewebhook":          {"deleteWebhook", (*Server).deleteWebhook},
	"answercallbackquery":    {"answerCallbackQuery", (*Server).answerCallbackQuery},
	"editmessagereplymarkup": {"editMessageReplyMarkup", (*Server).editMessageReplyMarkup},
	"getchat":                {"getChat", (*Server).getChat},
	"getchatmember":          {"getChatMember", (*Server).getChatMember},
}

// ServeHTTP answers one Bot API request. New already serves it on URL; the demo may mount it too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, isBot := strings.CutPrefix(r.URL.Path, "/bot")
	token, name, hasMethod := strings.Cut(rest, "/")
	switch {
	case !isBot || !hasMethod:
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found"})
		return
	case token != s.cfg.Token:
		writeError(w, &apiError{code: http.StatusUnauthorized, desc: "Unauthorized"})
		return
	}
	m, ok := methods[strings.ToLower(name)]
	if !ok {
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found"})
		return
	}
	s.mu.Lock()
	s.calls[m.name]++
	f, faulty := s.takeFaultLocked(m.name)
	s.notifyLocked()
	s.mu.Unlock()
	if faulty && f.Delay > 0 {
		if !s.delay(r.Context(), f.Delay) {
			return // the client gave up, or the server closes
		}
		faulty = f.Status != 0 || f.Drop
	}
	if faulty {
		serveFault(w, r, f)
		return
	}
	p, e := readParams(r)
	if e == nil {
		var res any
		if res, e = m.fn(s, r.Context(), p); e == nil {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(struct {
				OK     bool `json:"ok"`
				Result any  `json:"result"`
			}{true, res})
			return
		}
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *apiError) {
	type parameters struct {
		RetryAfter int `json:"retry_after"`
	}
	body := struct {
		OK          bool        `json:"ok"`
		ErrorCode   int         `json:"error_code"`
		Description string      `json:"description"`
		Parameters  *parameters `json:"parameters,omitempty"`
	}{ErrorCode: e.code, Description: e.desc}
	if e.code == http.StatusTooManyRequests {
		body.Parameters = &parameters{RetryAfter: e.retryAfter}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.code)
	_ = json.NewEncoder(w).Encode(body)
}

// params are a request's parameters as strings, the way form bodies carry them: JSON bodies
// are flattened so that strings are unquoted and objects, arrays and numbers stay JSON text.
type params struct {
	vals  map[string]string
	files map[string]upload
}

type upload struct {
	name string
	data []byte
}

func readParams(r *http.Request) (params, *apiError) {
	p := params{vals: map[string]string{}, files: map[string]upload{}}
	for k, v := range r.URL.Query() {
		p.vals[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var raw map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
			return p, badRequest("can't parse JSON body: %v", err)
		}
		for k, v := range raw {
			var str string
			if json.Unmarshal(v, &str) == nil {
				p.vals[k] = str
			} else if string(v) != "null" {
				p.vals[k] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return p, badRequest("can't parse form body: %v", err)
		}
		for k, v := range r.PostForm {
			p.vals[k] = v[0]
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return p, badRequest("can't parse multipart body: %v", err)
		}
		defer func() { _ = r.MultipartForm.RemoveAll() }()
		for k, v := range r.MultipartForm.Value {
			p.vals[k] = v[0]
		}
		for k, fhs := range r.MultipartForm.File {
			f, err := fhs[0].Open()
			if err != nil {
				return p, badRequest("can't read file %q: %v", k, err)
			}
			data, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				return p, badRequest("can't read file %q: %v", k, err)
			}
			p.files[k] = upload{name: fhs[0].Filename, data: data}
		}
	}
	return p, nil
}

// int returns an integer parameter and whether it was given.
func (p params) int(key string) (int64, bool, *apiError) {
	v := p.vals[key]
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, badRequest("invalid %s %q: must be an integer", key, v)
	}
	return n, true, nil
}

func (p params) chatID() (int64, *apiError) {
	v := p.vals["chat_id"]
	if v == "" {
		return 0, badRequest("chat_id is empty")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest("chat not found")
	}
	return n, nil
}

// json decodes an object-valued parameter into dst and reports whether it was given.
func (p params) json(key string, dst any) (bool, *apiError) {
	v, ok := p.vals[key]
	if !ok || v == "" || v == "null" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(v), dst); err != nil {
		return true, badRequest("can't parse %s JSON object", key)
	}
	return true, nil
}
