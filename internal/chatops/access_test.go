package chatops

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"gitlab.com/derrick-kit/derrick/internal/access"
)

// fakeAccess answers from a map; users not in it are unchecked strangers
// when unchecked is set, else strangers decided by the group.
type fakeAccess struct {
	roles     map[int64]access.Decision
	unchecked bool
	fresh     int
}

func (f *fakeAccess) Decide(_ context.Context, userID int64) access.Decision {
	if d, ok := f.roles[userID]; ok {
		return d
	}
	return access.Decision{Role: access.Stranger, Via: access.ViaGroup, Unchecked: f.unchecked}
}

// DecideFresh is Decide: the map is always fresh; fresh counts the calls.
func (f *fakeAccess) DecideFresh(ctx context.Context, userID int64) access.Decision {
	f.fresh++
	return f.Decide(ctx, userID)
}

const member, groupAdmin = 4004, 5005

func groupHarness(t *testing.T, lang string, unchecked bool) *harness {
	t.Helper()
	return newHarness(t, func(c *Config) {
		c.Lang, c.Group = lang, "Oil team"
		c.Access = &fakeAccess{unchecked: unchecked, roles: map[int64]access.Decision{
			operator:   {Role: access.Operator, Via: access.ViaList},
			viewer:     {Role: access.Viewer, Via: access.ViaList},
			member:     {Role: access.Viewer, Via: access.ViaGroup},
			groupAdmin: {Role: access.Operator, Via: access.ViaGroup},
		}}
	})
}

func TestGroupAccess(t *testing.T) {
	tests := []struct {
		name        string
		unchecked   bool
		user        int64
		text        string
		wantOutcome Outcome
		wantReply   string
	}{
		{"member reads", false, member, "/get_pods", OutcomeOK, "Поды <b>oil-refinery-application</b> (2):"},
		{"member cannot change", false, member, "/cordon node-a", OutcomeRefused, "доступна только операторам"},
		{"member's help shows the viewer's commands", false, member, "/start", OutcomeOK, "Ваша роль: наблюдатель"},
		{"group admin changes", false, groupAdmin, "/cordon node-a", OutcomeOK, "выведена"},
		{"group admin's help shows the operator's commands", false, groupAdmin, "/help", OutcomeOK, "/deploy — "},
		{"stranger is told to join the group", false, stranger, "/get_nodes", OutcomeRefused, "Вступите в группу команды «Oil team»"},
		{"stranger's help tells how to get access", false, stranger, "/help", OutcomeRefused, "<code>3003</code>. Вступите в группу команды «Oil team»"},
		{"unchecked stranger is told to try again", true, stranger, "/get_nodes", OutcomeRefused, "Не удалось проверить, состоите ли вы в группе команды"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := groupHarness(t, "ru", tt.unchecked)
			rec, res := h.run(t, tt.user, tt.text)
			if res.Outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", res.Outcome, tt.wantOutcome)
			}
			if len(rec.out) == 0 || !strings.Contains(rec.out[0].Text, tt.wantReply) {
				t.Errorf("reply:\n%s\nwant it to contain %q", rec.texts(), tt.wantReply)
			}
		})
	}
}

func TestAuditLogSaysHowTheRoleWasDecided(t *testing.T) {
	h := groupHarness(t, "ru", false)
	h.run(t, member, "/get_pods")
	h.run(t, viewer, "/get_pods")
	var vias []string
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var e struct{ Msg, Role, RoleVia string }
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatal(err)
		}
		if raw["msg"] == "command" {
			e.Role, _ = raw["role"].(string)
			e.RoleVia, _ = raw["role_via"].(string)
			vias = append(vias, e.Role+"/"+e.RoleVia)
		}
	}
	if strings.Join(vias, " ") != "viewer/group viewer/list" {
		t.Errorf("audit roles %v, want viewer/group then viewer/list", vias)
	}
}

func hasCyrillic(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) })
}

// TestEnglishHasNoCyrillic checks every English text, then every reply the
// bot gives in English to the commands of the golden files and more.
func TestEnglishHasNoCyrillic(t *testing.T) {
	v := reflect.ValueOf(en)
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			if hasCyrillic(f.String()) {
				t.Errorf("en.%s is not English: %q", v.Type().Field(i).Name, f.String())
			}
		case reflect.Map:
			for _, k := range f.MapKeys() {
				if s := f.MapIndex(k).String(); hasCyrillic(s) {
					t.Errorf("en.%s[%v] is not English: %q", v.Type().Field(i).Name, k, s)
				}
			}
		}
	}
	for _, item := range Menu("en") {
		if hasCyrillic(item.Description) {
			t.Errorf("menu /%s: %q", item.Command, item.Description)
		}
	}
	cases := append([]struct {
		name string
		user int64
		text string
	}{
		{"group refusal", stranger, "/deploy 1"},
		{"member", member, "/help"},
		{"group admin", groupAdmin, "/help"},
		{"extra argument", operator, "/get_nodes all"},
		{"bad tag", operator, "/deploy ../x"},
		{"uncordon usage", operator, "/uncordon"},
		{"same version", operator, "/deploy 0.10.4"},
		{"same replicas", operator, "/set_replicas 3"},
		{"unknown node", operator, "/cordon node-z"},
		{"already schedulable", operator, "/uncordon node-a"},
	}, goldenCases...)
	for _, tt := range cases {
		h := groupHarness(t, "en", false)
		rec, _ := h.run(t, tt.user, tt.text)
		if hasCyrillic(rec.texts()) {
			t.Errorf("%s (%s): reply in English has Cyrillic:\n%s", tt.name, tt.text, rec.texts())
		}
	}
	// Replies that need a particular state.
	h := groupHarness(t, "en", true)
	rec, _ := h.run(t, stranger, "/get_pods")
	rec2 := &recorder{chatID: operator}
	h.handle(t, rec2, Input{UserID: operator, ChatID: operator, Private: true, Text: "/cordon node-a", Sent: time.Unix(now-600, 0)})
	h.cluster.err = errForbidden
	rec3, _ := h.run(t, viewer, "/get_nodes")
	h.cluster.err = nil
	h.cluster.deploy.ArgoApp, h.cluster.deploy.ArgoTrackedBy = "oil-app", "label app.kubernetes.io/instance"
	rec4, _ := h.run(t, operator, "/deploy 0.10.5")
	for _, r := range []*recorder{rec, rec2, rec3, rec4} {
		if len(r.out) == 0 || hasCyrillic(r.texts()) {
			t.Errorf("reply in English has Cyrillic or is missing:\n%s", r.texts())
		}
	}
}
