package telegramtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type wireUpdate struct {
	UpdateID int64       `json:"update_id"`
	Message  wireMessage `json:"message"`
}

func getUpdates(t *testing.T, s *Server, params map[string]any) []wireUpdate {
	t.Helper()
	return result[[]wireUpdate](t, call(t, s, "json", "getUpdates", params))
}

// waitPolling waits until a getUpdates call is waiting inside the server.
func waitPolling(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !s.Polling(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no getUpdates call is waiting")
		}
	}
}

func TestInjectedUpdates(t *testing.T) {
	ann := User{ID: 77, Username: "ann", FirstName: "Ann"}
	old := time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC)
	tests := []struct {
		name string
		in   Incoming
		want wireMessage
	}{
		{"private command", Incoming{From: ann, Text: "/start", Date: old}, wireMessage{
			MessageID: 1, From: wireUser{ID: 77, FirstName: "Ann", Username: "ann"}, Date: old.Unix(),
			Chat: wireChat{ID: 77, Type: "private", Username: "ann", FirstName: "Ann"}, Text: "/start",
			Entities: []wireEntity{{"bot_command", 0, 6}}}},
		{"group command with bot name", Incoming{From: ann, Chat: Chat{ID: -42, Title: "ops"}, Text: "/deploy@derrick_bot 1.2.3", Date: old}, wireMessage{
			MessageID: 1, From: wireUser{ID: 77, FirstName: "Ann", Username: "ann"}, Date: old.Unix(),
			Chat: wireChat{ID: -42, Type: "group", Title: "ops"}, Text: "/deploy@derrick_bot 1.2.3",
			Entities: []wireEntity{{"bot_command", 0, 19}}}},
		{"supergroup text", Incoming{From: ann, Chat: Chat{ID: -1003, Type: "supergroup"}, Text: "привет", Date: old}, wireMessage{
			MessageID: 1, From: wireUser{ID: 77, FirstName: "Ann", Username: "ann"}, Date: old.Unix(),
			Chat: wireChat{ID: -1003, Type: "supergroup"}, Text: "привет"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			stored := s.Inject(tc.in)
			got := getUpdates(t, s, nil)
			if diff := cmp.Diff([]wireUpdate{{UpdateID: 1, Message: tc.want}}, got); diff != "" {
				t.Errorf("updates (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Message{stored}, s.Transcript(tc.want.Chat.ID)); diff != "" {
				t.Errorf("transcript (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("now by default", func(t *testing.T) {
		if d := time.Since(newServer(t).Inject(Incoming{From: ann, Text: "x"}).Date); d < 0 || d > time.Minute {
			t.Errorf("date is %v ago, want now", d)
		}
	})
}

func TestOffsetLimitAndAllowedUpdates(t *testing.T) {
	s := newServer(t)
	for _, text := range []string{"a", "b", "c"} {
		s.Inject(Incoming{From: User{ID: 1}, Text: text})
	}
	ids := func(ups []wireUpdate) []int64 {
		out := []int64{}
		for _, u := range ups {
			out = append(out, u.UpdateID)
		}
		return out
	}
	steps := []struct {
		name        string
		params      map[string]any
		want        []int64
		wantPending int
	}{
		{"all, none confirmed", nil, []int64{1, 2, 3}, 3},
		{"again, still there", nil, []int64{1, 2, 3}, 3},
		{"limit", map[string]any{"limit": 2}, []int64{1, 2}, 3},
		{"offset confirms below", map[string]any{"offset": 2}, []int64{2, 3}, 2},
		{"lower offset brings nothing back", map[string]any{"offset": 1}, []int64{2, 3}, 2},
		{"only callback queries", map[string]any{"allowed_updates": []string{"callback_query"}}, []int64{}, 2},
		{"the filter persists", nil, []int64{}, 2},
		{"an empty list resets it", map[string]any{"allowed_updates": []string{}}, []int64{2, 3}, 2},
		{"offset past the end confirms all", map[string]any{"offset": 4}, []int64{}, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got := ids(getUpdates(t, s, st.params))
			if diff := cmp.Diff(st.want, got); diff != "" || s.Pending() != st.wantPending {
				t.Errorf("update ids (-want +got):\n%s\npending %d, want %d", diff, s.Pending(), st.wantPending)
			}
		})
	}
	s.Inject(Incoming{From: User{ID: 1}, Text: "d"})
	s.Inject(Incoming{From: User{ID: 1}, Text: "e"})
	if got := ids(getUpdates(t, s, map[string]any{"offset": -1})); !cmp.Equal(got, []int64{5}) {
		t.Errorf("offset -1 returned %v, want [5]", got)
	}
}

func TestLongPoll(t *testing.T) {
	t.Run("inject wakes it", func(t *testing.T) {
		s := newServer(t)
		done := make(chan reply, 1)
		go func() {
			r, _ := send(newRequest(s, "json", "getUpdates", map[string]any{"timeout": 30}))
			done <- r
		}()
		waitPolling(t, s)
		s.Inject(Incoming{From: User{ID: 1}, Text: "wake"})
		select {
		case r := <-done:
			if ups := result[[]wireUpdate](t, r); len(ups) != 1 || ups[0].Message.Text != "wake" {
				t.Errorf("long poll returned %+v", ups)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("long poll did not wake on Inject")
		}
	})
	t.Run("timeout returns empty", func(t *testing.T) {
		start := time.Now()
		ups := getUpdates(t, newServer(t), map[string]any{"timeout": 1})
		if took := time.Since(start); len(ups) != 0 || took < 900*time.Millisecond || took > 5*time.Second {
			t.Errorf("got %d updates after %v, want 0 after 1s", len(ups), took)
		}
	})
	t.Run("a second poll ends the first with 409", func(t *testing.T) {
		s := newServer(t)
		first := make(chan reply, 1)
		go func() {
			r, _ := send(newRequest(s, "json", "getUpdates", map[string]any{"timeout": 30}))
			first <- r
		}()
		waitPolling(t, s)
		if got := getUpdates(t, s, nil); len(got) != 0 {
			t.Errorf("second poll got %+v", got)
		}
		want := reply{Status: 409, ErrorCode: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
		if diff := cmp.Diff(want, <-first); diff != "" {
			t.Errorf("first poll (-want +got):\n%s", diff)
		}
	})
	t.Run("Close wakes it", func(t *testing.T) {
		s := newServer(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = send(newRequest(s, "json", "getUpdates", map[string]any{"timeout": 30}))
		}()
		waitPolling(t, s)
		start := time.Now()
		s.Close()
		<-done
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Close took %v with a long poll waiting", took)
		}
	})
}

func TestWaitForAndChanged(t *testing.T) {
	s := newServer(t)
	changed := s.Changed()
	go func() {
		for _, text := range []string{"one", "two"} {
			_, _ = send(newRequest(s, "json", "sendMessage", map[string]any{"chat_id": 3, "text": text}))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := s.WaitFor(ctx, 3, func(ms []Message) bool { return len(ms) == 2 })
	if err != nil || msgs[1].Text != "two" {
		t.Fatalf("WaitFor = %+v, %v", msgs, err)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed channel still open after messages were sent")
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := s.WaitFor(short, 3, func(ms []Message) bool { return len(ms) == 3 }); err == nil {
		t.Error("WaitFor for a third message succeeded")
	}
	s.Close()
	if _, err := s.WaitFor(context.Background(), 3, func([]Message) bool { return false }); err != ErrClosed {
		t.Errorf("WaitFor after Close = %v, want ErrClosed", err)
	}
}
