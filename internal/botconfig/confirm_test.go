package botconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		name, confirm, ttl string
		want               []string
		wantTTL            time.Duration
	}{
		{"default", "", "", []string{"deploy", "rollback"}, time.Minute},
		{"none", "none", "", nil, time.Minute},
		{"a list, spaced, with a slash and a repeat", " set_replicas, /cordon,uncordon,cordon ", "90s", []string{"set_replicas", "cordon", "uncordon"}, 90 * time.Second},
		{"every one", "deploy,rollback,set_replicas,cordon,uncordon", "1h", []string{"deploy", "rollback", "set_replicas", "cordon", "uncordon"}, time.Hour},
		{"shortest", "deploy", "5s", []string{"deploy"}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(map[string]string{"BOT_CONFIRM": tc.confirm, "BOT_CONFIRM_TTL": tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Core.Confirm); diff != "" || c.Core.ConfirmTTL != tc.wantTTL {
				t.Errorf("BOT_CONFIRM (-want +got):\n%s\nBOT_CONFIRM_TTL %s, want %s", diff, c.Core.ConfirmTTL, tc.wantTTL)
			}
		})
	}
}

func TestConfirmRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown command", map[string]string{"BOT_CONFIRM": "deploy,get_pods"},
			`BOT_CONFIRM must be none or comma-separated commands from deploy, rollback, set_replicas, cordon, uncordon, got "get_pods" in "deploy,get_pods"`},
		{"empty item", map[string]string{"BOT_CONFIRM": "deploy,,rollback"}, `got "" in "deploy,,rollback"`},
		{"none in a list", map[string]string{"BOT_CONFIRM": "none,deploy"}, `got "none" in "none,deploy"`},
		{"ttl not a duration", map[string]string{"BOT_CONFIRM_TTL": "60"}, `BOT_CONFIRM_TTL must be a positive Go duration such as 2m or 90s, got "60"`},
		{"ttl too short", map[string]string{"BOT_CONFIRM_TTL": "1s"}, `BOT_CONFIRM_TTL must be from 5s to 1h0m0s, got "1s"`},
		{"ttl too long", map[string]string{"BOT_CONFIRM_TTL": "2h"}, `BOT_CONFIRM_TTL must be from 5s to 1h0m0s, got "2h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
