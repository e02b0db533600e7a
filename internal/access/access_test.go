package access

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const group = -1001234567890

// fakeMembership answers from a map, counting calls; a user in block waits
// until the channel is closed.
type fakeMembership struct {
	mu      sync.Mutex
	members map[int64]Member
	err     error
	calls   atomic.Int32
	block   chan struct{}
}

func (f *fakeMembership) ChatMember(ctx context.Context, chatID, userID int64) (Member, error) {
	f.calls.Add(1)
	if chatID != group {
		return Member{}, errors.New("wrong chat")
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return Member{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Member{}, f.err
	}
	if m, ok := f.members[userID]; ok {
		return m, nil
	}
	return Member{Status: "left"}, nil
}

func (f *fakeMembership) set(user int64, m Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[user] = m
}

func newChecker(t *testing.T, cfg Config, m *fakeMembership) (*Checker, *bytes.Buffer, *time.Time) {
	t.Helper()
	logs := &bytes.Buffer{}
	c := New(cfg, m, slog.New(slog.NewJSONHandler(logs, nil)))
	clock := time.Unix(1_795_000_000, 0)
	c.now = func() time.Time { return clock }
	return c, logs, &clock
}

func TestDecide(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{
		10: {Status: "creator"},
		11: {Status: "administrator"},
		12: {Status: "member"},
		13: {Status: "restricted", IsMember: true},
		14: {Status: "restricted", IsMember: false},
		15: {Status: "left"},
		16: {Status: "kicked"},
		1:  {Status: "administrator"}, // in CHATOPS_VIEWERS too
		2:  {Status: "left"},          // in CHATOPS_OPERATORS
	}}
	tests := []struct {
		name        string
		admin, memb Role
		user        int64
		want        Decision
	}{
		{"explicit operator, whatever the group says", Operator, Viewer, 2, Decision{Role: Operator, Via: ViaList}},
		{"explicit viewer who is a group admin stays viewer", Operator, Viewer, 1, Decision{Role: Viewer, Via: ViaList}},
		{"creator", Operator, Viewer, 10, Decision{Role: Operator, Via: ViaGroup}},
		{"administrator", Operator, Viewer, 11, Decision{Role: Operator, Via: ViaGroup}},
		{"member", Operator, Viewer, 12, Decision{Role: Viewer, Via: ViaGroup}},
		{"restricted but a member", Operator, Viewer, 13, Decision{Role: Viewer, Via: ViaGroup}},
		{"restricted, not a member", Operator, Viewer, 14, Decision{Role: Stranger, Via: ViaGroup}},
		{"left", Operator, Viewer, 15, Decision{Role: Stranger, Via: ViaGroup}},
		{"kicked", Operator, Viewer, 16, Decision{Role: Stranger, Via: ViaGroup}},
		{"admins as viewers", Viewer, Viewer, 11, Decision{Role: Viewer, Via: ViaGroup}},
		{"members get none", Operator, Stranger, 12, Decision{Role: Stranger, Via: ViaGroup}},
		{"admins get none", Stranger, Viewer, 10, Decision{Role: Stranger, Via: ViaGroup}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newChecker(t, Config{Operators: []int64{2}, Viewers: []int64{1}, GroupID: group, AdminRole: tt.admin, MemberRole: tt.memb}, m)
			if diff := cmp.Diff(tt.want, c.Decide(t.Context(), tt.user)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoGroupAsksNobody(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{5: {Status: "member"}}}
	c, _, _ := newChecker(t, Config{Viewers: []int64{1}}, m)
	if got := c.Decide(t.Context(), 5); got != (Decision{Role: Stranger, Via: ViaNone}) {
		t.Errorf("Decide = %+v, want a stranger decided by no group", got)
	}
	if n := m.calls.Load(); n != 0 {
		t.Errorf("%d getChatMember calls without a group", n)
	}
}

func TestCacheExpiresAndKeepsNegativeAnswers(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{7: {Status: "member"}}}
	c, _, clock := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer, CacheTTL: time.Minute}, m)
	ctx := t.Context()
	if got := c.Decide(ctx, 7).Role; got != Viewer {
		t.Fatalf("member: %v", got)
	}
	m.set(7, Member{Status: "left"})
	if got := c.Decide(ctx, 7).Role; got != Viewer {
		t.Errorf("within the cache time: %v, want the cached viewer", got)
	}
	*clock = clock.Add(time.Minute)
	if got := c.Decide(ctx, 7).Role; got != Stranger {
		t.Errorf("after the cache time: %v, want stranger (removed from the group)", got)
	}
	m.set(7, Member{Status: "member"})
	if got := c.Decide(ctx, 7).Role; got != Stranger {
		t.Errorf("negative answer not cached: %v", got)
	}
	if n := m.calls.Load(); n != 2 {
		t.Errorf("%d getChatMember calls, want 2", n)
	}
}

// TestDecideFreshAsksTheGroupNow: a confirmation's press sees a demotion
// at once, not after CHATOPS_GROUP_CACHE; the fresh answer is cached.
func TestDecideFreshAsksTheGroupNow(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{7: {Status: "administrator"}}}
	c, _, _ := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer, CacheTTL: time.Minute}, m)
	ctx := t.Context()
	if got := c.Decide(ctx, 7).Role; got != Operator {
		t.Fatalf("admin: %v", got)
	}
	m.set(7, Member{Status: "member"}) // demoted
	if got := c.Decide(ctx, 7).Role; got != Operator {
		t.Errorf("within the cache time: %v, want the cached operator", got)
	}
	if got := c.DecideFresh(ctx, 7).Role; got != Viewer {
		t.Errorf("DecideFresh after the demotion: %v, want viewer", got)
	}
	if got := c.Decide(ctx, 7).Role; got != Viewer {
		t.Errorf("Decide after DecideFresh: %v, want the fresh viewer cached", got)
	}
	if n := m.calls.Load(); n != 2 {
		t.Errorf("%d getChatMember calls, want 2", n)
	}
}

func TestConcurrentQuestionsMakeOneCall(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{7: {Status: "administrator"}}, block: make(chan struct{})}
	c, _, _ := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer}, m)
	var wg sync.WaitGroup
	got := make([]Decision, 20)
	for i := range got {
		wg.Go(func() { got[i] = c.Decide(t.Context(), 7) })
	}
	// Wait until the first call is in flight and the others wait for it.
	for deadline := time.Now().Add(10 * time.Second); m.calls.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no getChatMember call")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		f := c.flights[7]
		c.mu.Unlock()
		if f != nil || time.Now().After(deadline) {
			break
		}
	}
	close(m.block)
	wg.Wait()
	if n := m.calls.Load(); n != 1 {
		t.Errorf("%d getChatMember calls for 20 concurrent commands, want 1", n)
	}
	for i, d := range got {
		if d.Role != Operator {
			t.Errorf("command %d: %+v", i, d)
		}
	}
}

func TestFailsClosedAndLogsOncePerMinute(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{7: {Status: "member"}}, err: errors.New("telegram getChatMember: 502 Bad Gateway")}
	c, logs, clock := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer}, m)
	ctx := t.Context()
	for range 5 {
		if got := c.Decide(ctx, 7); got != (Decision{Role: Stranger, Via: ViaGroup, Unchecked: true}) {
			t.Fatalf("Telegram failing: %+v, want an unchecked stranger", got)
		}
	}
	if n := strings.Count(logs.String(), "group membership could not be checked"); n != 1 {
		t.Errorf("5 failures within a minute logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "502 Bad Gateway") {
		t.Errorf("the cause is not logged:\n%s", logs)
	}
	*clock = clock.Add(time.Minute)
	c.Decide(ctx, 7)
	if n := strings.Count(logs.String(), "group membership could not be checked"); n != 2 || !strings.Contains(logs.String(), `"failures":5`) {
		t.Errorf("a minute later: logged %d times, want twice with the 5 hidden failures counted:\n%s", n, logs)
	}
	m.mu.Lock()
	m.err = nil
	m.mu.Unlock()
	if got := c.Decide(ctx, 7); got.Role != Viewer || got.Unchecked {
		t.Errorf("Telegram answers again: %+v, want viewer at once (failures are not cached)", got)
	}
}

func TestSlowTelegramIsBounded(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{}, block: make(chan struct{})}
	defer close(m.block)
	c, _, _ := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer, Timeout: 50 * time.Millisecond}, m)
	start := time.Now()
	if got := c.Decide(t.Context(), 7); !got.Unchecked {
		t.Errorf("hung getChatMember: %+v, want unchecked", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Decide took %v with a 50ms timeout", d)
	}
}

func TestCacheIsBounded(t *testing.T) {
	m := &fakeMembership{members: map[int64]Member{}}
	c, _, _ := newChecker(t, Config{GroupID: group, AdminRole: Operator, MemberRole: Viewer, MaxCached: 100}, m)
	for id := int64(1); id <= 1000; id++ {
		c.Decide(t.Context(), id)
	}
	if n := len(c.cache); n > 100 {
		t.Errorf("%d cached users, want at most 100", n)
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range GroupRoles {
		if _, ok := ParseRole(s); !ok {
			t.Errorf("ParseRole(%q) refused", s)
		}
	}
	if _, ok := ParseRole("admin"); ok {
		t.Errorf("ParseRole accepted admin")
	}
}
