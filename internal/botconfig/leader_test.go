package botconfig

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/leader"
)

func TestLeaderDefaults(t *testing.T) {
	Hostname = func() (string, error) { return "host-1", nil }
	t.Cleanup(func() { Hostname = os.Hostname })
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := leader.Config{Lease: "derrick-bot", Identity: "host-1",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	if diff := cmp.Diff(want, c.Leader); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if got := c.Leader.StopBound(); got != 2*time.Second {
		t.Errorf("StopBound = %s, want 2s", got)
	}
	c, err = load(map[string]string{"BOT_LEADER_ELECTION": "true", "BOT_LEASE_NAME": "oil-bot", "POD_NAME": "oil-bot-7d9-x2",
		"POD_NAMESPACE": "ops", "BOT_LEASE_DURATION": "4s", "BOT_LEASE_RENEW_DEADLINE": "3s", "BOT_LEASE_RETRY_PERIOD": "500ms"})
	if err != nil {
		t.Fatal(err)
	}
	want = leader.Config{Enabled: true, Lease: "oil-bot", Namespace: "ops", Identity: "oil-bot-7d9-x2",
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond}
	if diff := cmp.Diff(want, c.Leader); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	if got := c.Leader.StopBound(); got != 500*time.Millisecond {
		t.Errorf("StopBound = %s, want 500ms", got)
	}
}

func TestLeaderRejects(t *testing.T) {
	on := map[string]string{"BOT_LEADER_ELECTION": "true", "POD_NAME": "bot-0"}
	for _, tt := range []struct {
		name string
		over map[string]string
		want string
	}{
		{"not a bool", map[string]string{"BOT_LEADER_ELECTION": "yes"}, `BOT_LEADER_ELECTION must be true or false, got "yes"`},
		{"bad lease name", map[string]string{"BOT_LEASE_NAME": "Derrick_Bot"}, `BOT_LEASE_NAME must be a Kubernetes object name such as derrick-bot, got "Derrick_Bot"`},
		{"bad duration", map[string]string{"BOT_LEASE_DURATION": "15"}, "BOT_LEASE_DURATION must be a positive Go duration"},
		{"renew not below duration", map[string]string{"BOT_LEASE_RENEW_DEADLINE": "15s"},
			"BOT_LEASE_DURATION (15s) must be at least BOT_LEASE_RENEW_DEADLINE + 500ms (15.5s)"},
		{"retry too long for renew", map[string]string{"BOT_LEASE_RETRY_PERIOD": "9s"},
			"BOT_LEASE_RENEW_DEADLINE (10s) must be more than 1.2 × BOT_LEASE_RETRY_PERIOD (9s)"},
		{"retry too short", map[string]string{"BOT_LEASE_RETRY_PERIOD": "10ms"}, "BOT_LEASE_RETRY_PERIOD must be at least 100ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			over := map[string]string{}
			for k, v := range on {
				over[k] = v
			}
			for k, v := range tt.over {
				over[k] = v
			}
			_, err := load(over)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Off, the timings are still read but not checked against each other.
	if _, err := load(map[string]string{"BOT_LEASE_RENEW_DEADLINE": "20s"}); err != nil {
		t.Errorf("leader election off: %v", err)
	}
}
