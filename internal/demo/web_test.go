package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// pageServer serves the page over an emulator that no bot polls: the test
// plays the bot through the Bot API.
func pageServer(t *testing.T, lang string) (*httptest.Server, *telegramtest.Server) {
	t.Helper()
	tg, err := telegramtest.New(telegramtest.Config{Token: botToken, Bot: telegramtest.User{FirstName: botName, Username: botUsername}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	srv := httptest.NewServer((&page{tg: tg, lang: lang}).handler())
	t.Cleanup(srv.Close)
	return srv, tg
}

// botCall calls the emulator's Bot API as the bot would.
func botCall(t *testing.T, tg *telegramtest.Server, method string, form url.Values) {
	t.Helper()
	resp, err := http.PostForm(tg.URL()+"/bot"+botToken+"/"+method, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", method, resp.Status, body)
	}
}

func request(t *testing.T, method, url, contentType, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

func TestPageFiles(t *testing.T) {
	srv, _ := pageServer(t, "en")
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `<script src="app.js" defer></script>`},
		{"/app.js", "text/javascript", "new EventSource("},
		{"/app.css", "text/css", ".bubble"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, body := request(t, "GET", srv.URL+tc.path, "", "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %s %s, want %s containing %q", tc.path, resp.Status, resp.Header.Get("Content-Type"), tc.contentType, tc.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want only the page's own files", tc.path, csp)
		}
	}
	// Nothing on the page comes from elsewhere.
	for _, f := range []string{"web/index.html", "web/app.js", "web/app.css"} {
		data, err := webFiles.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			// XML namespaces are names, not addresses.
			rest := bytes.ReplaceAll(data, []byte("http://www.w3.org/2000/svg"), nil)
			if i := bytes.Index(rest, []byte(bad)); i >= 0 {
				t.Errorf("%s refers to %q: the page must load nothing from outside", f, rest[i:min(len(rest), i+40)])
			}
		}
	}
}

func TestConfig(t *testing.T) {
	srv, _ := pageServer(t, "ru")
	_, body := request(t, "GET", srv.URL+"/api/config", "", "")
	var got config
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("config %s: %v", body, err)
	}
	want := config{
		Bot:  botInfo{ID: 7000000001, Name: botName, Username: botUsername},
		Lang: "ru", People: People, Audit: chatInfo{ID: AuditChatID, Title: auditTitle},
		Namespace: Namespace, Deployment: Deployment,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestSend(t *testing.T) {
	srv, tg := pageServer(t, "en")
	operator := People[0]
	dm := srv.URL + "/api/chats/" + strconv.FormatInt(operator.ID, 10) + "/messages"
	for _, tc := range []struct {
		name, url, contentType, body string
		header                       []string
		want                         int
	}{
		{"a command", dm, "application/json", `{"text":" /get_nodes "}`, nil, http.StatusCreated},
		{"empty", dm, "application/json", `{"text":"  "}`, nil, http.StatusBadRequest},
		{"too long", dm, "application/json", `{"text":"` + strings.Repeat("x", 4097) + `"}`, nil, http.StatusBadRequest},
		{"not JSON", dm, "application/json", `text=/help`, nil, http.StatusBadRequest},
		{"a form", dm, "application/x-www-form-urlencoded", `text=/help`, nil, http.StatusUnsupportedMediaType},
		{"another origin", dm, "application/json", `{"text":"/help"}`, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"another host", dm, "application/json", `{"text":"/help"}`, []string{"Host", "evil.example:8080"}, http.StatusMisdirectedRequest},
		{"the audit group", srv.URL + "/api/chats/" + strconv.Itoa(AuditChatID) + "/messages", "application/json", `{"text":"/help"}`, nil, http.StatusNotFound},
		{"someone else", srv.URL + "/api/chats/42/messages", "application/json", `{"text":"/help"}`, nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := request(t, "POST", tc.url, tc.contentType, tc.body, tc.header...)
			if resp.StatusCode != tc.want {
				t.Errorf("POST: %s %s, want %d", resp.Status, body, tc.want)
			}
		})
	}
	got := tg.Transcript(operator.ID)
	if len(got) != 1 || got[0].Text != "/get_nodes" || got[0].From.ID != operator.ID || got[0].From.Username != operator.Username {
		t.Errorf("the emulator received %+v, want one /get_nodes from %s", got, operator.Name)
	}
	if n := tg.Pending(); n != 1 {
		t.Errorf("%d updates wait for the bot, want 1", n)
	}
}

func TestMessages(t *testing.T) {
	srv, tg := pageServer(t, "en")
	viewer := People[1]
	chat := strconv.FormatInt(viewer.ID, 10)
	tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: viewer.ID, FirstName: viewer.Name}, Text: "<b>not bold</b>"})
	botCall(t, tg, "sendMessage", url.Values{"chat_id": {chat}, "parse_mode": {"HTML"},
		"text": {`Pods of <b>app</b>: <a href="https://example.com">x</a>` + "\n<pre>a &lt;script&gt;</pre>"}})
	botCall(t, tg, "editMessageText", url.Values{"chat_id": {chat}, "message_id": {"2"}, "parse_mode": {"HTML"}, "text": {"<i>edited</i>"}})
	botCall(t, tg, "setMyCommands", url.Values{"commands": {`[{"command":"get_pods","description":"pods"}]`}, "language_code": {"en"}})
	var doc bytes.Buffer
	mw := multipart.NewWriter(&doc)
	_ = mw.WriteField("chat_id", chat)
	_ = mw.WriteField("parse_mode", "HTML")
	_ = mw.WriteField("caption", "Last <b>300</b> lines")
	fw, _ := mw.CreateFormFile("document", "pod.log")
	_, _ = fw.Write([]byte("line 1\nline 2\n"))
	_ = mw.Close()
	resp, err := http.Post(tg.URL()+"/bot"+botToken+"/sendDocument", mw.FormDataContentType(), &doc)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sendDocument: %v %v", err, resp)
	}
	resp.Body.Close()

	_, body := request(t, "GET", srv.URL+"/api/chats/"+chat+"/messages", "", "")
	var got snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	for i := range got.Messages {
		got.Messages[i].Date = 0
	}
	want := snapshot{
		Messages: []message{
			{ID: 1, From: viewer.Name, HTML: "&lt;b&gt;not bold&lt;/b&gt;"},
			{ID: 2, FromBot: true, From: botName, HTML: "<i>edited</i>", Edited: true},
			{ID: 3, FromBot: true, From: botName, HTML: "Last <b>300</b> lines",
				Document: &document{Name: "pod.log", Size: 14, URL: "/api/chats/" + chat + "/files/3"}},
		},
		Menu: []telegramtest.Command{{Command: "get_pods", Description: "pods"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	fresp, file := request(t, "GET", srv.URL+want.Messages[2].Document.URL, "", "")
	if file != "line 1\nline 2\n" || fresp.Header.Get("Content-Disposition") != `attachment; filename=pod.log` {
		t.Errorf("download: %q with %q, want the document as an attachment", file, fresp.Header.Get("Content-Disposition"))
	}
	if r, _ := request(t, "GET", srv.URL+"/api/chats/"+chat+"/files/2", "", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("download of a text message: %s, want 404", r.Status)
	}
	if r, _ := request(t, "GET", srv.URL+"/api/chats/42/messages", "", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("messages of a chat the page does not show: %s, want 404", r.Status)
	}
}

func TestEvents(t *testing.T) {
	srv, tg := pageServer(t, "en")
	op := People[0]
	chat := strconv.FormatInt(op.ID, 10)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/chats/"+chat+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := bufio.NewReader(resp.Body)
	next := func() snapshot {
		t.Helper()
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("read event: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var s snapshot
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				return s
			}
		}
	}
	if s := next(); len(s.Messages) != 0 {
		t.Errorf("first event %+v, want the empty chat", s)
	}
	tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: op.ID, FirstName: op.Name}, Text: "/help"})
	if s := next(); len(s.Messages) != 1 || s.Messages[0].HTML != "/help" {
		t.Errorf("event after a message %+v, want it", s)
	}
	botCall(t, tg, "sendMessage", url.Values{"chat_id": {chat}, "text": {"hi"}})
	botCall(t, tg, "editMessageText", url.Values{"chat_id": {chat}, "message_id": {"2"}, "text": {"hello"}})
	var s snapshot
	for s = next(); len(s.Messages) < 2 || !s.Messages[1].Edited; s = next() {
	}
	if s.Messages[1].HTML != "hello" {
		t.Errorf("event after an edit %+v, want the edited text", s)
	}
}
