package chatops

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/access"
)

// confirmHarness is a harness whose /deploy and /cordon ask first, with
// groupAdmin a second operator; roles can be changed between steps.
func confirmHarness(t *testing.T, ttl time.Duration) (*harness, *fakeAccess) {
	t.Helper()
	acc := &fakeAccess{roles: map[int64]access.Decision{
		operator:   {Role: access.Operator, Via: access.ViaList},
		groupAdmin: {Role: access.Operator, Via: access.ViaGroup},
		viewer:     {Role: access.Viewer, Via: access.ViaList},
	}}
	h := newHarness(t, func(c *Config) {
		c.Confirm, c.ConfirmTTL, c.Access = []string{"deploy", "cordon"}, ttl, acc
	})
	return h, acc
}

// asked runs text from user and returns the question with its buttons.
func (h *harness) asked(t *testing.T, user int64, text string) Result {
	t.Helper()
	res := h.core.Handle(context.Background(), Input{UserID: user, Username: usernames[user], ChatID: user, Private: true,
		Text: text, Sent: time.Unix(now-1, 0)}, "oil_bot")
	if res.Outcome != OutcomeAsked || len(res.Reply.Buttons) != 1 || len(res.Reply.Buttons[0]) != 2 || res.Expire == nil {
		t.Fatalf("%s: %+v, want a question with Confirm and Cancel", text, res)
	}
	for _, b := range res.Reply.Buttons[0] {
		if len(b.Data) > 64 {
			t.Errorf("callback data %q is %d bytes, Telegram takes 64", b.Data, len(b.Data))
		}
	}
	return res
}

// press plays user pressing button (0 Confirm, 1 Cancel) of question q on
// message 42 of user's chat, as the adapter would.
func (h *harness) press(t *testing.T, user int64, q Result, button int) Result {
	t.Helper()
	return h.pressData(t, user, q.Reply.Buttons[0][button].Data)
}

func (h *harness) pressData(t *testing.T, user int64, data string) Result {
	t.Helper()
	in := Input{UserID: user, Username: usernames[user], ChatID: operator, Private: true,
		Press: &Press{QueryID: "q-" + data, MessageID: 42, Data: data}}
	res := h.core.Handle(context.Background(), in, "oil_bot")
	if res.Answer == nil || res.Answer.QueryID != "q-"+data {
		t.Fatalf("press %s by %d: %+v, want an answer to the callback query", data, user, res)
	}
	return res
}

func (h *harness) images() []string {
	h.cluster.mu.Lock()
	defer h.cluster.mu.Unlock()
	return append([]string(nil), h.cluster.changes...)
}

func TestConfirmThenApply(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/deploy 0.10.5")
	if want := "Подтвердите: oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 3 пода\nКнопки действуют 1 мин."; q.Reply.HTML != want {
		t.Errorf("question %q, want %q", q.Reply.HTML, want)
	}
	if got := q.Reply.Buttons[0]; got[0].Text != "✅ Подтвердить" || got[1].Text != "✖️ Отмена" || got[0].Data == got[1].Data {
		t.Errorf("buttons %+v", got)
	}
	if c := h.images(); len(c) != 0 {
		t.Fatalf("asking changed %v", c)
	}
	res := h.press(t, operator, q, 0)
	if res.Outcome != OutcomeOK || res.Edit != 42 || res.Follow == nil || !strings.Contains(res.Reply.HTML, "0.10.5") || res.Reply.Buttons != nil {
		t.Errorf("confirm: %+v, want the deploy's start edited into message 42, to be followed", res)
	}
	if c := h.images(); len(c) != 1 || !strings.Contains(c[0], "image=registry.example.com/oil/app:0.10.5") {
		t.Errorf("changes %v, want the one deploy", c)
	}
	// The question's expiry ends at once: the request was answered.
	done := make(chan struct{})
	go func() { q.Expire(context.Background(), &recordedMessage{rec: &recorder{}}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Expire still waits after the confirmation")
	}
	// The request and the confirmation each have an audit line.
	var outcomes []string
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var e map[string]any
		_ = json.Unmarshal([]byte(line), &e)
		if e["msg"] == "command" {
			outcomes = append(outcomes, e["outcome"].(string)+"/"+e["command"].(string)+"/"+strOf(e["press"])+"/"+strOf(e["confirm"]))
		}
	}
	id := strings.TrimPrefix(q.Reply.Buttons[0][0].Data, "c:")
	if want := []string{"asked/deploy//" + id, "ok/deploy/confirm/" + id}; strings.Join(outcomes, " ") != strings.Join(want, " ") {
		t.Errorf("audit lines %v, want %v", outcomes, want)
	}
}

func strOf(v any) string {
	s, _ := v.(string)
	return s
}

func TestCancel(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/cordon node-a")
	res := h.press(t, operator, q, 1)
	if res.Outcome != OutcomeCancelled || res.Edit != 42 || res.Reply.HTML != "Отменено: /cordon node-a" || res.Answer.Text != "Отменено" {
		t.Errorf("cancel: %+v", res)
	}
	if c := h.images(); len(c) != 0 {
		t.Errorf("cancel changed %v", c)
	}
	if again := h.press(t, operator, q, 0); again.Outcome != OutcomeStale || !strings.Contains(again.Answer.Text, "Отправьте команду заново") {
		t.Errorf("confirm after cancel: %+v", again)
	}
}

func TestExpiryEditsTheQuestion(t *testing.T) {
	h, _ := confirmHarness(t, 50*time.Millisecond)
	q := h.asked(t, operator, "/deploy 0.10.5")
	rec := &recorder{chatID: operator}
	msg := &recordedMessage{rec: rec, id: 42}
	done := make(chan struct{})
	go func() { q.Expire(context.Background(), msg); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the question did not expire")
	}
	if len(rec.out) != 1 || rec.out[0].Kind != "edit" || rec.out[0].ID != 42 ||
		rec.out[0].Text != "⌛ Время подтверждения истекло, ничего не сделано: oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 3 пода\nОтправьте команду заново." {
		t.Errorf("expiry did %+v", rec.out)
	}
	res := h.press(t, operator, q, 0)
	if res.Outcome != OutcomeStale || res.Answer.Text != ruConfirm.Gone || !res.Answer.Alert {
		t.Errorf("press after expiry: %+v", res)
	}
	if c := h.images(); len(c) != 0 {
		t.Errorf("an expired request changed %v", c)
	}
	if !strings.Contains(h.logs.String(), `"outcome":"expired"`) {
		t.Errorf("no audit line for the expiry:\n%s", h.logs)
	}
}

func TestExpiryWhenTheBotStops(t *testing.T) {
	h, _ := confirmHarness(t, time.Hour)
	q := h.asked(t, operator, "/deploy 0.10.5")
	rec := &recorder{chatID: operator}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.Expire(ctx, &recordedMessage{rec: rec, id: 42})
	if len(rec.out) != 1 || !strings.HasPrefix(rec.out[0].Text, "⌛") {
		t.Errorf("at shutdown the question became %+v, want expired", rec.out)
	}
}

func TestAnotherUsersPressChangesNothing(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/deploy 0.10.5")
	for _, b := range []int{0, 1} {
		res := h.press(t, groupAdmin, q, b)
		if res.Outcome != OutcomeRefused || res.Edit != 0 || !res.Reply.Empty() ||
			res.Answer.Text != "Подтвердить или отменить может только @op (1001), отправивший команду." {
			t.Errorf("another operator's press %d: %+v", b, res)
		}
	}
	if c := h.images(); len(c) != 0 {
		t.Fatalf("another user's press changed %v", c)
	}
	// Anyone in a group may press: such presses are rate-limited by the
	// adapter as strangers' messages are, the requester's are not.
	press := func(user int64, data string) Verdict {
		return h.core.Triage(context.Background(), Input{UserID: user, ChatID: operator, Press: &Press{QueryID: "q", MessageID: 42, Data: data}}, "oil_bot")
	}
	if v := press(groupAdmin, q.Reply.Buttons[0][0].Data); !v.Stranger || v.Run {
		t.Errorf("another user's press: %+v, want a rate-limited answer", v)
	}
	if v := press(operator, "c:AAAAAAAAAAAAAAAAAAAAAA"); !v.Stranger || v.Run {
		t.Errorf("a press of no request: %+v, want a rate-limited answer", v)
	}
	if v := press(operator, q.Reply.Buttons[0][0].Data); v.Stranger || !v.Run {
		t.Errorf("the requester's press: %+v, want it run, not rate-limited", v)
	}
	if !strings.Contains(h.logs.String(), `"user_id":5005,"username":"","chat_id":1001,"command":"deploy","args":["0.10.5"],"role":"unchecked","role_via":"","outcome":"refused","press":"confirm"`) {
		t.Errorf("another user's press has no audit line of its own:\n%s", h.logs)
	}
	if res := h.press(t, operator, q, 0); res.Outcome != OutcomeOK {
		t.Errorf("the requester's press after the other's: %+v", res)
	}
}

func TestDoublePressRunsOnce(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/deploy 0.10.5")
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = h.press(t, operator, q, 0) }()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r.Outcome == OutcomeOK {
			ok++
		} else if r.Outcome != OutcomeStale || r.Edit != 0 || !r.Reply.Empty() {
			t.Errorf("a later press: %+v, want only a notice", r)
		}
	}
	if c := h.images(); ok != 1 || len(c) != 1 {
		t.Errorf("%d presses ran, changes %v; want exactly one", ok, c)
	}
}

func TestPressAfterLosingTheRole(t *testing.T) {
	h, acc := confirmHarness(t, time.Minute)
	q := h.asked(t, groupAdmin, "/cordon node-a")
	acc.roles[groupAdmin] = access.Decision{Role: access.Viewer, Via: access.ViaGroup}
	fresh := acc.fresh
	res := h.press(t, groupAdmin, q, 0)
	if acc.fresh != fresh+1 {
		t.Errorf("the press looked the role up %d times past the cache, want 1", acc.fresh-fresh)
	}
	if res.Outcome != OutcomeRefused || res.Edit != 42 || res.Reply.HTML != "⛔ /cordon не выполнена: у вас больше нет роли оператора." {
		t.Errorf("press after losing the role: %+v", res)
	}
	if c := h.images(); len(c) != 0 {
		t.Errorf("changed %v", c)
	}
}

func TestPressAfterTheChangeMovedAsksAgain(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/deploy 0.10.5")
	h.cluster.mu.Lock()
	h.cluster.deploy.Image = "registry.example.com/oil/app:0.10.3" // someone deployed meanwhile
	h.cluster.mu.Unlock()
	res := h.press(t, operator, q, 0)
	if res.Outcome != OutcomeAsked || res.Edit != 42 || !res.Answer.Alert || res.Answer.Text != ruConfirm.ChangedAlert ||
		!strings.Contains(res.Reply.HTML, "0.10.3 → 0.10.5") || len(res.Reply.Buttons) != 1 || res.Expire == nil {
		t.Fatalf("press after the change moved: %+v, want asked again with new buttons", res)
	}
	if res.Reply.Buttons[0][0].Data == q.Reply.Buttons[0][0].Data {
		t.Errorf("the new question reuses the old buttons")
	}
	if c := h.images(); len(c) != 0 {
		t.Fatalf("a changed summary was applied: %v", c)
	}
	if old := h.press(t, operator, q, 0); old.Outcome != OutcomeStale {
		t.Errorf("the old button again: %+v", old)
	}
	if again := h.press(t, operator, res, 0); again.Outcome != OutcomeOK || len(h.images()) != 1 {
		t.Errorf("confirming the new question: %+v, changes %v", again, h.images())
	}
}

func TestUnknownPress(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	for _, data := range []string{"c:AAAAAAAAAAAAAAAAAAAAAA", "x:", "garbage", ""} {
		res := h.pressData(t, stranger, data)
		if res.Outcome != OutcomeStale || res.Edit != 0 || !res.Reply.Empty() || res.Answer.Text != ruConfirm.Gone || res.Command != "unknown" {
			t.Errorf("press %q: %+v, want only the notice", data, res)
		}
	}
	if c := h.images(); len(c) != 0 {
		t.Errorf("changed %v", c)
	}
}

func TestOpenRequestsAreBounded(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	for range maxRequestsPerUser {
		h.asked(t, operator, "/cordon node-a")
	}
	res := h.core.Handle(context.Background(), Input{UserID: operator, ChatID: operator, Private: true, Text: "/cordon node-a", Sent: time.Unix(now-1, 0)}, "oil_bot")
	if res.Outcome != OutcomeRefused || res.Reply.HTML != ruConfirm.TooMany || res.Reply.Buttons != nil {
		t.Errorf("one request too many: %+v", res)
	}
	// Another operator still may ask, up to the total.
	h.asked(t, groupAdmin, "/cordon node-a")
	if n := len(h.core.requests.byID); n != maxRequestsPerUser+1 {
		t.Errorf("%d open requests", n)
	}
}

func TestCommandsNotInConfirmRunAtOnce(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	_, res := h.run(t, operator, "/set_replicas 5")
	if res.Outcome != OutcomeOK || res.Reply.Buttons != nil {
		t.Errorf("/set_replicas (not in Confirm): %+v", res)
	}
}

// TestPressAnswersFitTelegram: answerCallbackQuery takes 0-200 characters
// (Bot API), with the longest username (32) in NotYours.
func TestPressAnswersFitTelegram(t *testing.T) {
	for lang, ct := range confirmLanguages {
		long := "@" + strings.Repeat("u", 32) + " (9223372036854775807)"
		for name, text := range map[string]string{"NotYours": strings.Replace(ct.NotYours, "%s", long, 1), "Gone": ct.Gone,
			"ChangedAlert": ct.ChangedAlert, "CancelledAlert": ct.CancelledAlert, "QueueFull": pollLanguages[lang].QueueFull} {
			if n := len([]rune(text)); n > 200 {
				t.Errorf("%s %s: %d characters, answerCallbackQuery takes 200", lang, name, n)
			}
		}
	}
	for _, r := range enConfirm.Ask + enConfirm.Changed + enConfirm.Cancelled + enConfirm.Expired + enConfirm.RoleLost + enConfirm.NotYours + enConfirm.Gone + enConfirm.TooMany + enConfirm.Confirm + enConfirm.Cancel {
		if r >= 'А' && r <= 'я' {
			t.Fatalf("English confirmation texts contain Cyrillic")
		}
	}
}

// TestPressAfterTheTagMovedAsksAgain: what was confirmed is the digest
// shown; the tag pushed again meanwhile is asked about anew.
func TestPressAfterTheTagMovedAsksAgain(t *testing.T) {
	h, _ := confirmHarness(t, time.Minute)
	q := h.asked(t, operator, "/deploy 0.10.5")
	moved := fakeDigest("0.10.5 pushed again")
	h.registry.moved = map[string]string{"0.10.5": moved}
	res := h.press(t, operator, q, 0)
	if res.Outcome != OutcomeAsked || !strings.Contains(res.Reply.HTML, "0.10.5 ("+moved[:19]+")") || !res.Answer.Alert {
		t.Fatalf("press after the tag moved: %+v, want asked again about the new digest", res)
	}
	if c := h.images(); len(c) != 0 {
		t.Fatalf("the old digest's confirmation deployed: %v", c)
	}
	h.press(t, operator, res, 0)
	if c := h.images(); len(c) != 1 || !strings.Contains(c[0], "0.10.5@"+moved) {
		t.Errorf("confirmed again: %v, want the new digest deployed", c)
	}
}
