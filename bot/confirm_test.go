package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// End-to-end tests of BOT_CONFIRM: the built bot's questions, answered by
// pressing the emulator's inline buttons, against the real API server.

const opsGroup = -100555 // a group the operator and the viewer write in

func (w *world) schedulable(t *testing.T, node string) bool {
	t.Helper()
	n, err := w.cluster.Client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return !n.Spec.Unschedulable
}

func (w *world) image(t *testing.T) string {
	t.Helper()
	d, err := w.cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), clustertest.AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// uncordonAtEnd makes node schedulable again when t ends.
func (w *world) uncordonAtEnd(t *testing.T, node string) {
	t.Cleanup(func() {
		ctx := context.Background()
		n, err := w.cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil && n.Spec.Unschedulable {
			n.Spec.Unschedulable = false
			_, _ = w.cluster.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
	})
}

// askInGroup sends text as user in opsGroup and returns the bot's question.
func (w *world) askInGroup(t *testing.T, user int64, text string) telegramtest.Message {
	t.Helper()
	before := len(w.tg.Messages(opsGroup))
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user, Username: fmt.Sprintf("user%d", user)},
		Chat: telegramtest.Chat{ID: opsGroup}, Text: text})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := w.tg.WaitFor(ctx, opsGroup, func(m []telegramtest.Message) bool { return len(m) > before && len(m[len(m)-1].Keyboard) > 0 })
	if err != nil {
		t.Fatalf("%s in the group: no question (%v): %+v", text, err, msgs)
	}
	return msgs[len(msgs)-1]
}

func noButtons(m telegramtest.Message) bool { return len(m.Keyboard) == 0 }

func TestConfirmation(t *testing.T) {
	w := newWorld(t, "BOT_CONFIRM=deploy,cordon", "REGISTRY_CACHE_TTL=0s")
	w.uncordonAtEnd(t, "node-ready")

	t.Run("cancel", func(t *testing.T) {
		q := w.bot.Ask(t, w.tg, operator, "/cordon node-ready")
		if q.Plain != "Подтвердите: /cordon node-ready\nКнопки действуют 1 мин." || q.Keyboard[0][0].Text != "✅ Подтвердить" || q.Keyboard[0][1].Text != "✖️ Отмена" {
			t.Errorf("question %q with buttons %+v", q.Plain, q.Keyboard)
		}
		if !w.schedulable(t, "node-ready") {
			t.Fatal("asking cordoned the node")
		}
		if p := w.bot.Press(t, w.tg, operator, operator, q, 1); p.Answer.Text != "Отменено" {
			t.Errorf("answer to Cancel: %+v", p.Answer)
		}
		if m := w.bot.WaitMessage(t, w.tg, operator, q.ID, noButtons); m.Plain != "Отменено: /cordon node-ready" {
			t.Errorf("cancelled question: %q", m.Plain)
		}
		if !w.schedulable(t, "node-ready") {
			t.Error("a cancelled /cordon cordoned the node")
		}
	})

	t.Run("confirm", func(t *testing.T) {
		m := w.bot.SayConfirmed(t, w.tg, operator, "/cordon node-ready", nil)
		if !strings.Contains(m.Plain, "выведена") {
			t.Errorf("confirmed /cordon: %q", m.Plain)
		}
		if w.schedulable(t, "node-ready") {
			t.Error("a confirmed /cordon did not cordon the node")
		}
		w.say(t, operator, "/uncordon node-ready", nil) // not in BOT_CONFIRM: runs at once
		if !w.schedulable(t, "node-ready") {
			t.Error("/uncordon (not in BOT_CONFIRM) did not run at once")
		}
	})

	t.Run("another user's press changes nothing", func(t *testing.T) {
		q := w.askInGroup(t, operator, "/cordon@oil_bot node-ready")
		var limited []string
		for _, other := range []int64{viewer, stranger} {
			p := w.bot.Press(t, w.tg, other, opsGroup, q, 0)
			if !strings.Contains(p.Answer.Text, "может только @user1001 (1001), отправивший команду") || !p.Answer.ShowAlert {
				t.Errorf("press by %d: %+v", other, p.Answer)
			}
			// The next press of the same user within BOT_STRANGER_REPLY_EVERY
			// is not answered (nor logged): anyone in the group may press.
			id, err := w.tg.PressButton(telegramtest.User{ID: other, Username: fmt.Sprintf("user%d", other)}, opsGroup, q.ID, q.Keyboard[0][1].CallbackData)
			if err != nil {
				t.Fatal(err)
			}
			limited = append(limited, id)
		}
		if m := w.tg.Messages(opsGroup); m[len(m)-1].Plain != q.Plain || len(m[len(m)-1].Keyboard) == 0 {
			t.Errorf("another user's press edited the question: %+v", m[len(m)-1])
		}
		if !w.schedulable(t, "node-ready") {
			t.Fatal("another user's press cordoned the node")
		}
		w.bot.Press(t, w.tg, operator, opsGroup, q, 1)
		w.bot.WaitMessage(t, w.tg, opsGroup, q.ID, noButtons)
		// The requester's press came after them: they were decided.
		for _, id := range limited {
			if p, _ := w.tg.CallbackQuery(id); p.Answered {
				t.Errorf("a second press within BOT_STRANGER_REPLY_EVERY was answered: %+v", p)
			}
		}
		for _, other := range []int64{viewer, stranger} {
			if n := strings.Count(w.bot.Logs(), fmt.Sprintf(`"user_id":%d,"username":"user%d","chat_id":%d,"command":"cordon"`, other, other, opsGroup)); n != 1 {
				t.Errorf("%d audit lines of the presses by %d, want 1 (the answered one)", n, other)
			}
		}
	})

	t.Run("double press runs once", func(t *testing.T) {
		q := w.bot.Ask(t, w.tg, operator, "/cordon node-ready")
		data := q.Keyboard[0][0].CallbackData
		from := telegramtest.User{ID: operator, Username: "user1001"}
		var ids []string
		for range 2 { // both presses are queued before the bot sees either
			id, err := w.tg.PressButton(from, operator, q.ID, data)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var answers []string
		for _, id := range ids {
			p, err := w.tg.WaitAnswer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			answers = append(answers, p.Answer.Text)
		}
		if answers[0] != "" || !strings.Contains(answers[1], "Отправьте команду заново") {
			t.Errorf("answers to the two presses %q, want none, then the request gone", answers)
		}
		m := w.bot.WaitMessage(t, w.tg, operator, q.ID, noButtons)
		if !strings.Contains(m.Plain, "выведена") || len(m.History) != 1 {
			t.Errorf("after a double press the question is %q (history %q), want /cordon's answer once", m.Plain, m.History)
		}
		if strings.Count(w.bot.Logs(), `"outcome":"ok","press":"confirm"`) != 2 { // this one and the confirm subtest's
			t.Errorf("audit log has not exactly one more confirmed press:\n%s", w.bot.Logs())
		}
		w.say(t, operator, "/uncordon node-ready", nil)
	})

	t.Run("press after what would change changed", func(t *testing.T) {
		q := w.bot.Ask(t, w.tg, operator, "/deploy 0.10.4")
		before := w.image(t)
		// Someone deploys 0.10.3 meanwhile: /deploy 0.10.4 would now
		// change something else than what was shown.
		w.setImage(t, w.repo+":0.10.3")
		p := w.bot.Press(t, w.tg, operator, operator, q, 0)
		if !p.Answer.ShowAlert || !strings.Contains(p.Answer.Text, "ничего не сделано") {
			t.Errorf("answer to a press of an outdated question: %+v", p.Answer)
		}
		again := w.bot.WaitMessage(t, w.tg, operator, q.ID, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Plain, "⚠️") })
		if !strings.Contains(again.Plain, "0.10.3 → 0.10.4") || len(again.Keyboard) == 0 || again.Keyboard[0][0].CallbackData == q.Keyboard[0][0].CallbackData {
			t.Fatalf("asked again: %q with %+v, want the new change and new buttons", again.Plain, again.Keyboard)
		}
		if img := w.image(t); img != w.repo+":0.10.3" {
			t.Fatalf("an outdated confirmation deployed: %s (was %s)", img, before)
		}
		w.bot.Press(t, w.tg, operator, operator, again, 0)
		w.bot.WaitMessage(t, w.tg, operator, q.ID, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Plain, "✅") })
		if img := w.image(t); !strings.HasPrefix(img, w.repo+":0.10.4") {
			t.Errorf("confirmed again, the image is %s", img)
		}
	})

	t.Run("press after the tag moved", func(t *testing.T) {
		first := w.digests["0.10.5"]
		q := w.bot.Ask(t, w.tg, operator, "/deploy 0.10.5")
		if !strings.Contains(q.Plain, "0.10.5 ("+first[:19]+")") {
			t.Fatalf("question %q does not show the digest %s", q.Plain, first[:19])
		}
		// The branch is pushed again: 0.10.5 now names other content.
		second := w.registry.Push(t, "oil/app", "0.10.5", time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
		p := w.bot.Press(t, w.tg, operator, operator, q, 0)
		if !p.Answer.ShowAlert || !strings.Contains(p.Answer.Text, "ничего не сделано") {
			t.Errorf("answer to the press after the push: %+v", p.Answer)
		}
		again := w.bot.WaitMessage(t, w.tg, operator, q.ID, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Plain, "⚠️") })
		if !strings.Contains(again.Plain, "0.10.5 ("+second[:19]+")") || len(again.Keyboard) == 0 {
			t.Fatalf("asked again: %q with %+v, want the new digest %s and new buttons", again.Plain, again.Keyboard, second[:19])
		}
		if img := w.image(t); strings.Contains(img, "0.10.5") {
			t.Fatalf("the confirmation of the old digest deployed %s", img)
		}
		w.bot.Press(t, w.tg, operator, operator, again, 0)
		w.bot.WaitMessage(t, w.tg, operator, q.ID, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Plain, "✅") })
		if img, want := w.image(t), w.repo+":0.10.5@"+second; img != want {
			t.Errorf("confirmed again, the image is %s, want %s", img, want)
		}
	})
}

// setImage sets the app's image as a kubectl user would.
func (w *world) setImage(t *testing.T, image string) {
	t.Helper()
	ctx := context.Background()
	d, err := w.cluster.Client.AppsV1().Deployments(ns).Get(ctx, clustertest.AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := w.cluster.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestConfirmationExpires(t *testing.T) {
	w := newWorld(t, "BOT_CONFIRM=cordon", "BOT_CONFIRM_TTL=5s")
	q := w.bot.Ask(t, w.tg, operator, "/cordon node-ready")
	if !strings.HasSuffix(q.Plain, "Кнопки действуют 5 с.") {
		t.Errorf("question %q", q.Plain)
	}
	m := w.bot.WaitMessage(t, w.tg, operator, q.ID, noButtons)
	if m.Plain != "⌛ Время подтверждения истекло, ничего не сделано: /cordon node-ready\nОтправьте команду заново." {
		t.Errorf("expired question: %q", m.Plain)
	}
	if !w.schedulable(t, "node-ready") {
		t.Error("an expired /cordon cordoned the node")
	}
	if !strings.Contains(w.bot.Logs(), `"outcome":"expired"`) {
		t.Error("no audit line for the expiry")
	}
}

func TestConfirmationAfterLosingTheRole(t *testing.T) {
	w := teamWorld(t, telegramtest.StatusAdministrator, "1s", "BOT_CONFIRM=cordon")
	w.uncordonAtEnd(t, "node-ready")
	q := w.bot.Ask(t, w.tg, groupAdmin, "/cordon node-ready")
	setMember(t, w.tg, groupAdmin, telegramtest.StatusMember) // no longer an administrator: a viewer
	w.eventually(t, groupAdmin, "/help", "Ваша роль: наблюдатель")
	w.bot.Press(t, w.tg, groupAdmin, groupAdmin, q, 0)
	m := w.bot.WaitMessage(t, w.tg, groupAdmin, q.ID, noButtons)
	if m.Plain != "⛔ /cordon не выполнена: у вас больше нет роли оператора." {
		t.Errorf("press after losing the role: %q", m.Plain)
	}
	if !w.schedulable(t, "node-ready") {
		t.Error("a press after losing the role cordoned the node")
	}
}

// TestConfirmationUnknownPress: buttons the bot does not know (its
// requests died with a crashed process) get a clear notice.
func TestConfirmationUnknownPress(t *testing.T) {
	w := newWorld(t, "BOT_CONFIRM=cordon")
	q := w.bot.Ask(t, w.tg, operator, "/cordon node-ready")
	waitUntil(t, w.tg, 30*time.Second, "the /cordon confirmed to Telegram", func() bool { return w.tg.Pending() == 0 })
	_ = w.bot.Signal(syscall.SIGKILL)
	<-w.bot.Done()
	w.bot = startBot(t, w.env)
	p := w.bot.Press(t, w.tg, operator, operator, q, 0)
	if p.Answer.Text != "Запрос истёк или неизвестен (например, бот перезапускался): что сделано, покажет /history. Отправьте команду заново." {
		t.Errorf("press of a request from before the restart: %+v", p.Answer)
	}
	if !w.schedulable(t, "node-ready") {
		t.Error("an unknown press cordoned the node")
	}
}
