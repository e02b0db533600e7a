package telegramtest

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGetMe(t *testing.T) {
	s := newServer(t)
	got := result[wireUser](t, call(t, s, "json", "getMe", nil))
	if diff := cmp.Diff(wireUser{ID: 123456, IsBot: true, FirstName: "Derrick", Username: "derrick_bot"}, got); diff != "" {
		t.Errorf("getMe (-want +got):\n%s", diff)
	}
}

func TestSendMessage(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]any
		wantError string // description; "" for success
		wantText  string // text of the returned Message
	}{
		{"plain", map[string]any{"chat_id": 7, "text": "  a < b & c  "}, "", "a < b & c"},
		{"html", map[string]any{"chat_id": 7, "text": "<b>x</b> &lt;y&gt;", "parse_mode": "html"}, "", "x <y>"},
		{"no chat", map[string]any{"text": "x"}, "Bad Request: chat_id is empty", ""},
		{"username chat", map[string]any{"chat_id": "@nobody", "text": "x"}, "Bad Request: chat not found", ""},
		{"no text", map[string]any{"chat_id": 7}, "Bad Request: message text is empty", ""},
		{"blank text", map[string]any{"chat_id": 7, "text": " \n "}, "Bad Request: message text is empty", ""},
		{"empty after tags", map[string]any{"chat_id": 7, "text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message text is empty", ""},
		{"too long", map[string]any{"chat_id": 7, "text": strings.Repeat("ж", 4097)}, "Bad Request: message is too long", ""},
		{"bad html", map[string]any{"chat_id": 7, "text": "<x>", "parse_mode": "HTML"}, `Bad Request: can't parse entities: Unsupported start tag "x" at byte offset 0`, ""},
		{"bad parse mode", map[string]any{"chat_id": 7, "text": "x", "parse_mode": "BBCode"}, "Bad Request: unsupported parse_mode", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			r := call(t, s, "json", "sendMessage", tc.params)
			if tc.wantError != "" {
				if diff := cmp.Diff(reply{Status: 400, ErrorCode: 400, Description: tc.wantError}, r); diff != "" {
					t.Errorf("reply (-want +got):\n%s", diff)
				}
				if got := s.Messages(7); got != nil {
					t.Errorf("a refused message was stored: %+v", got)
				}
				return
			}
			m := result[wireMessage](t, r)
			want := wireMessage{MessageID: 1, From: wireUser{ID: 123456, IsBot: true, FirstName: "Derrick", Username: "derrick_bot"},
				Chat: wireChat{ID: 7, Type: "private"}, Date: m.Date, Text: tc.wantText}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("invalid UTF-8", func(t *testing.T) { // JSON cannot carry it; a form can
		r := call(t, newServer(t), "form", "sendMessage", map[string]any{"chat_id": "7", "text": "\xff"})
		if want := "Bad Request: text must be encoded in UTF-8"; r.Description != want {
			t.Errorf("description = %q, want %q", r.Description, want)
		}
	})
}

func TestMessageIDsPerChatAndTypes(t *testing.T) {
	s := newServer(t)
	var got []string
	for _, chat := range []int64{5, -20, 5, -1001234567890, 5} {
		m := result[wireMessage](t, call(t, s, "json", "sendMessage", map[string]any{"chat_id": chat, "text": "x"}))
		got = append(got, fmt.Sprint(m.Chat.Type, " ", m.MessageID))
	}
	want := []string{"private 1", "group 1", "private 2", "supergroup 1", "private 3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chat type and message_id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Chat{{-1001234567890, "supergroup", ""}, {-20, "group", ""}, {5, "private", ""}}, s.Chats()); diff != "" {
		t.Errorf("Chats (-want +got):\n%s", diff)
	}
}

func TestEditMessageText(t *testing.T) {
	s := newServer(t)
	call(t, s, "json", "sendMessage", map[string]any{"chat_id": 9, "text": "v1"})
	s.Inject(Incoming{From: User{ID: 9, FirstName: "Ann"}, Text: "hi"})
	steps := []struct {
		name   string
		params map[string]any
		want   string // description of the error; "" for success
	}{
		{"edit", map[string]any{"chat_id": 9, "message_id": 1, "text": "<i>v2</i>", "parse_mode": "HTML"}, ""},
		{"same text", map[string]any{"chat_id": 9, "message_id": 1, "text": "<i>v2</i>", "parse_mode": "HTML"},
			"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"},
		{"unknown message", map[string]any{"chat_id": 9, "message_id": 3, "text": "x"}, "Bad Request: message to edit not found"},
		{"unknown chat", map[string]any{"chat_id": 10, "message_id": 1, "text": "x"}, "Bad Request: message to edit not found"},
		{"user's message", map[string]any{"chat_id": 9, "message_id": 2, "text": "x"}, "Bad Request: message can't be edited"},
		{"bad html", map[string]any{"chat_id": 9, "message_id": 1, "text": "<b>x", "parse_mode": "HTML"},
			`Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
		{"too long", map[string]any{"chat_id": 9, "message_id": 1, "text": strings.Repeat("x", 4097)}, "Bad Request: message is too long"},
		{"edit again", map[string]any{"chat_id": 9, "message_id": 1, "text": "v3"}, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := call(t, s, "json", "editMessageText", st.params)
			if st.want == "" {
				m := result[wireMessage](t, r)
				if m.EditDate == 0 || m.MessageID != 1 {
					t.Errorf("edited message = %+v, want message_id 1 with edit_date", m)
				}
			} else if r.Description != st.want {
				t.Errorf("description = %q, want %q", r.Description, st.want)
			}
		})
	}
	want := []Message{{ID: 1, ChatID: 9, From: s.Bot(), Text: "v3", Plain: "v3", History: []string{"v1", "<i>v2</i>"}, Edits: 2}}
	if diff := cmp.Diff(want, s.Messages(9), ignoreDate); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// postDocument posts sendDocument to chat -5 as multipart, with a file part unless file is "".
func postDocument(t *testing.T, s *Server, file, content, caption, document string) reply {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("chat_id", "-5")
	_ = w.WriteField("caption", caption)
	_ = w.WriteField("document", document)
	if file != "" {
		fw, _ := w.CreateFormFile("document", file)
		_, _ = fw.Write([]byte(content))
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/bot"+token+"/sendDocument", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return do(t, req)
}

func TestSendDocument(t *testing.T) {
	s := newServer(t)
	tests := []struct{ name, file, content, caption, document, wantErr string }{
		{"upload", "pods.txt", "line 1\nline 2\n", " all pods ", "", ""},
		{"by file_id", "", "", "", "document-1", ""},
		{"empty file", "f", "", "", "", "Bad Request: file must be non-empty"},
		{"long caption", "f", "x", strings.Repeat("c", 1025), "", "Bad Request: message caption is too long"},
		{"no document", "", "", "", "", "Bad Request: there is no document in the request"},
		{"unknown file_id", "", "", "", "nope", "Bad Request: wrong file identifier/HTTP URL specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postDocument(t, s, tc.file, tc.content, tc.caption, tc.document)
			if tc.wantErr != "" {
				if r.Description != tc.wantErr {
					t.Errorf("description = %q, want %q", r.Description, tc.wantErr)
				}
				return
			}
			want := &wireDocument{FileID: "document-1", FileUniqueID: "document-1", FileName: "pods.txt", FileSize: 14}
			if diff := cmp.Diff(want, result[wireMessage](t, r).Document); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
		})
	}
	doc := Document{FileID: "document-1", Name: "pods.txt", Content: []byte("line 1\nline 2\n")}
	withCaption := doc
	withCaption.Caption = " all pods "
	want := []Message{
		{ID: 1, ChatID: -5, From: s.Bot(), Plain: "all pods", Document: &withCaption},
		{ID: 2, ChatID: -5, From: s.Bot(), Document: &doc},
	}
	if diff := cmp.Diff(want, s.Messages(-5), ignoreDate); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestCommands(t *testing.T) {
	s := newServer(t)
	en := []Command{{"help", "what I can do"}}
	ru := []Command{{"help", "что я умею"}, {"get_pods", "поды"}}
	call(t, s, "json", "setMyCommands", map[string]any{"commands": en})
	call(t, s, "json", "setMyCommands", map[string]any{"commands": ru, "language_code": "ru"})
	tests := []struct {
		name   string
		params map[string]any
		want   []Command
	}{
		{"default", nil, en},
		{"language", map[string]any{"language_code": "ru"}, ru},
		{"other scope", map[string]any{"scope": map[string]any{"type": "all_group_chats"}}, []Command{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := result[[]Command](t, call(t, s, "json", "getMyCommands", tc.params))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("getMyCommands (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []Command{{"Deploy", "x"}, {"deploy-now", "x"}, {"deploy", ""}} {
		if r := call(t, s, "json", "setMyCommands", map[string]any{"commands": []Command{bad}}); r.Status != 400 {
			t.Errorf("setMyCommands %+v: status %d, want 400", bad, r.Status)
		}
	}
}

func TestSmallMethods(t *testing.T) {
	s := newServer(t)
	s.Inject(Incoming{From: User{ID: 1}, Text: "old"})
	call(t, s, "json", "deleteWebhook", nil)
	if s.Pending() != 1 {
		t.Errorf("deleteWebhook without drop_pending_updates dropped updates")
	}
	if !result[bool](t, call(t, s, "form", "deleteWebhook", map[string]any{"drop_pending_updates": true})) || s.Pending() != 0 {
		t.Errorf("deleteWebhook(drop_pending_updates): %d updates pending, want 0", s.Pending())
	}
	call(t, s, "json", "sendMessage", map[string]any{"chat_id": 1, "text": "sure?",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "yes", "callback_data": "y"}}}}})
	id, err := s.PressButton(User{ID: 1}, 1, 2, "y")
	if err != nil {
		t.Fatal(err)
	}
	if !result[bool](t, call(t, s, "json", "answerCallbackQuery", map[string]any{"callback_query_id": id})) {
		t.Error("answerCallbackQuery returned false")
	}
	for _, p := range []map[string]any{nil, {"callback_query_id": "q1"}} {
		if r := call(t, s, "json", "answerCallbackQuery", p); r.Status != 400 ||
			r.Description != "Bad Request: query is too old and response timeout expired or query ID is invalid" {
			t.Errorf("answerCallbackQuery %v: %d %q, want 400 query is too old", p, r.Status, r.Description)
		}
	}
	want := map[string]int{"deleteWebhook": 2, "answercallbackquery": 3, "getMe": 0, "nope": 0}
	got := map[string]int{}
	for m := range want {
		got[m] = s.Calls(m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
}
