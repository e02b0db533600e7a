package telegramtest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"
)

func gotgbotBot(t *testing.T, s *Server, timeout time.Duration) *gotgbot.Bot {
	t.Helper()
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: &gotgbot.BaseBotClient{
		Client:             http.Client{},
		DefaultRequestOpts: &gotgbot.RequestOpts{APIURL: s.URL(), Timeout: timeout},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func TestForwardOriginReachesGotgbot(t *testing.T) {
	s := newServer(t)
	bot := gotgbotBot(t, s, 5*time.Second)
	when := time.Unix(1_790_000_000, 0)
	s.Inject(Incoming{From: User{ID: 77}, Text: "/deploy 0.10.5", ForwardFrom: &User{ID: 88, Username: "boss"}, ForwardDate: when})
	s.Inject(Incoming{From: User{ID: 77}, Text: "/deploy 0.10.5"})
	ups, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{Timeout: 1})
	if err != nil || len(ups) != 2 {
		t.Fatalf("GetUpdates = %+v, %v", ups, err)
	}
	origin, ok := ups[0].Message.ForwardOrigin.(gotgbot.MessageOriginUser)
	if !ok || origin.SenderUser.Id != 88 || origin.Date != when.Unix() {
		t.Errorf("forward_origin = %#v", ups[0].Message.ForwardOrigin)
	}
	if ups[1].Message.ForwardOrigin != nil {
		t.Errorf("a message of one's own has forward_origin %#v", ups[1].Message.ForwardOrigin)
	}
}

func TestDelayHoldsTheCallThenHandlesIt(t *testing.T) {
	s := newServer(t)
	bot := gotgbotBot(t, s, 5*time.Second)
	if err := s.InjectFault(Fault{Method: "sendMessage", Times: 1, Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := bot.SendMessage(5, "late", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %s, want the 300ms delay", d)
	}
	if got := s.Messages(5); len(got) != 1 || got[0].Plain != "late" {
		t.Errorf("messages %+v", got)
	}
	// A delayed call the client gives up on is never handled.
	if err := s.InjectFault(Fault{Method: "sendMessage", Times: 1, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := bot.SendMessageWithContext(ctx, 5, "never", nil); err == nil {
		t.Fatal("a call held for a minute returned within 200ms")
	}
	if n := s.Calls("sendMessage"); n != 2 {
		t.Errorf("%d sendMessage calls counted, want 2", n)
	}
	if err := s.InjectFault(Fault{Method: "sendMessage", Times: 1}); err == nil {
		t.Error("a fault with neither Status, Drop nor Delay was accepted")
	}
	if len(s.Messages(5)) != 1 {
		t.Errorf("the abandoned call was handled")
	}
}
