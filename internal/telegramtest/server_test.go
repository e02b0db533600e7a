package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const token = "123456:secret"

func newServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Token: token, Bot: User{Username: "derrick_bot", FirstName: "Derrick"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type reply struct {
	Status      int             `json:"-"`
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  map[string]int  `json:"parameters,omitempty"`
}

// send makes a request and decodes the Bot API reply; it is safe in any goroutine.
func send(req *http.Request) (reply, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("decode reply: %w", err)
	}
	return r, nil
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	r, err := send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return r
}

func call(t *testing.T, s *Server, enc, method string, params map[string]any) reply {
	t.Helper()
	return do(t, newRequest(s, enc, method, params))
}

// newRequest builds a call of method in the encoding "json", "form", "multipart" or "query".
// In the form encodings objects become JSON strings and numbers decimal strings.
func newRequest(s *Server, enc, method string, params map[string]any) *http.Request {
	vals := url.Values{}
	for k, v := range params {
		if str, ok := v.(string); ok {
			vals.Set(k, str)
		} else {
			b, _ := json.Marshal(v)
			vals.Set(k, string(b))
		}
	}
	endpoint := s.URL() + "/bot" + token + "/" + method
	var body bytes.Buffer
	ct := ""
	switch enc {
	case "json":
		_ = json.NewEncoder(&body).Encode(params)
		ct = "application/json"
	case "form":
		body.WriteString(vals.Encode())
		ct = "application/x-www-form-urlencoded"
	case "multipart":
		w := multipart.NewWriter(&body)
		for k := range vals {
			_ = w.WriteField(k, vals.Get(k))
		}
		_ = w.Close()
		ct = w.FormDataContentType()
	case "query":
		req, _ := http.NewRequest(http.MethodGet, endpoint+"?"+vals.Encode(), nil)
		return req
	}
	req, _ := http.NewRequest(http.MethodPost, endpoint, &body)
	req.Header.Set("Content-Type", ct)
	return req
}

func result[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if !r.OK {
		t.Fatalf("reply %d %q, want ok", r.ErrorCode, r.Description)
	}
	if err := json.Unmarshal(r.Result, &v); err != nil {
		t.Fatalf("decode result %s: %v", r.Result, err)
	}
	return v
}

func TestRouting(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name, method, path string
		want               reply
	}{
		{"wrong token", "POST", "/bot1:wrong/getMe", reply{Status: 401, ErrorCode: 401, Description: "Unauthorized"}},
		{"unknown method", "POST", "/bot" + token + "/sendPigeon", reply{Status: 404, ErrorCode: 404, Description: "Not Found"}},
		{"no method", "POST", "/bot" + token + "/", reply{Status: 404, ErrorCode: 404, Description: "Not Found"}},
		{"not a bot path", "GET", "/", reply{Status: 404, ErrorCode: 404, Description: "Not Found"}},
		{"GET and any case", "GET", "/bot" + token + "/GETME", reply{Status: 200, OK: true}},
		{"missing parameter", "POST", "/bot" + token + "/sendmessage", reply{Status: 400, ErrorCode: 400, Description: "Bad Request: chat_id is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL()+tc.path, nil)
			got := do(t, req)
			got.Result = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBodyEncodings(t *testing.T) {
	for _, enc := range []string{"json", "form", "multipart", "query"} {
		t.Run(enc, func(t *testing.T) {
			s := newServer(t)
			r := call(t, s, enc, "sendMessage", map[string]any{
				"chat_id": -100, "text": "<b>привет</b>", "parse_mode": "HTML",
				"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "ok", "callback_data": "1"}}}},
			})
			if got := result[wireMessage](t, r).Text; got != "привет" {
				t.Errorf("result text = %q, want %q", got, "привет")
			}
			cmds := []Command{{"deploy", "set the image tag"}}
			r = call(t, s, enc, "setMyCommands", map[string]any{
				"commands": cmds, "scope": CommandScope{Type: "chat", ChatID: -100}, "language_code": "ru",
			})
			if !result[bool](t, r) {
				t.Error("setMyCommands returned false")
			}
			if diff := cmp.Diff(cmds, s.Commands(CommandScope{Type: "chat", ChatID: -100}, "ru")); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			want := []Message{{ID: 1, ChatID: -100, From: s.Bot(), Text: "<b>привет</b>", ParseMode: "HTML", Plain: "привет",
				Keyboard: [][]Button{{{Text: "ok", CallbackData: "1"}}}}}
			if diff := cmp.Diff(want, s.Messages(-100), ignoreDate); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

var ignoreDate = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Date" }, cmp.Ignore())

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Token: "no-numeric-prefix"}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			if s, err := New(cfg); err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
	s, err := New(Config{Token: "42:abc"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if diff := cmp.Diff(User{ID: 42, Username: "test_bot", FirstName: "Test Bot"}, s.Bot()); diff != "" {
		t.Errorf("default bot (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want http://127.0.0.1:PORT", s.URL())
	}
}
