package demo

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPressesInlineButtons: a bot message with an inline keyboard
// shows its buttons, and a click reaches the emulator as a callback query
// from the account the page writes as.
func TestBrowserPressesInlineButtons(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	page, _, tg := startDemo(t, Options{Lang: "en"})
	ctx := browser(t)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	op := People[0]
	do("open the page as the operator and start the bot",
		chromedp.Navigate(page+"#operator"),
		chromedp.WaitVisible(chromedp.ID("start-btn")),
		chromedp.Click(chromedp.ID("start-btn")),
		chromedp.WaitVisible(chromedp.CSS(`#log .row.in`)))

	// A message with buttons of its own, sent as the bot through the Bot API.
	markup := `{"inline_keyboard":[[{"text":"Confirm","callback_data":"confirm:42"},{"text":"Cancel","callback_data":"cancel:42"}]]}`
	res, err := http.PostForm(tg.URL()+"/bot"+botToken+"/sendMessage", url.Values{
		"chat_id": {strconv.FormatInt(op.ID, 10)}, "text": {"Deploy 0.10.5?"}, "reply_markup": {markup},
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sendMessage with a keyboard: %s", res.Status)
	}
	do("press Cancel",
		chromedp.WaitVisible(chromedp.CSS(`.kb-btn[data-data="cancel:42"]`)),
		chromedp.Click(chromedp.CSS(`.kb-btn[data-data="cancel:42"]`)))

	// The emulator numbers presses from this one on.
	const first = "4611686018427387905"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := tg.CallbackQuery(first); ok {
			if p.Data != "cancel:42" || p.From.ID != op.ID || p.ChatID != op.ID {
				t.Errorf("press = %+v, want cancel:42 from %d in their chat", p, op.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no callback query %s within 10s of the click", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
