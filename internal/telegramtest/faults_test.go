package telegramtest

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFaults(t *testing.T) {
	const dropped = -1
	tests := []struct {
		name   string
		faults []Fault
		calls  []string // methods called in turn
		want   []int    // HTTP status of each call, or dropped
	}{
		{"flood twice", []Fault{{Method: "sendMessage", Times: 2, Status: 429, RetryAfter: 3}},
			[]string{"sendMessage", "sendMessage", "sendMessage"}, []int{429, 429, 200}},
		{"bad gateway once, any method", []Fault{{Times: 1, Status: 502}},
			[]string{"getMe", "sendMessage"}, []int{502, 200}},
		{"only the given method, any case", []Fault{{Method: "SENDMESSAGE", Times: 1, Status: 500}},
			[]string{"getMe", "sendMessage", "sendMessage"}, []int{200, 500, 200}},
		{"drop twice", []Fault{{Method: "sendMessage", Times: 2, Drop: true}},
			[]string{"sendMessage", "sendMessage", "sendMessage"}, []int{dropped, dropped, 200}},
		{"in order of injection", []Fault{{Times: 1, Status: 429, RetryAfter: 1}, {Times: 1, Status: 503}},
			[]string{"getMe", "getMe", "sendMessage"}, []int{429, 503, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			for _, f := range tc.faults {
				if err := s.InjectFault(f); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			for _, m := range tc.calls {
				r, err := send(newRequest(s, "json", m, map[string]any{"chat_id": 1, "text": "x"}))
				switch {
				case err != nil:
					got = append(got, dropped)
				case r.Status == 429:
					want := reply{Status: 429, ErrorCode: 429, Description: fmt.Sprint("Too Many Requests: retry after ", r.Parameters["retry_after"]), Parameters: r.Parameters}
					if diff := cmp.Diff(want, r); diff != "" || r.Parameters["retry_after"] == 0 {
						t.Errorf("429 reply (-want +got):\n%s", diff)
					}
					fallthrough
				default:
					got = append(got, r.Status)
					if r.Status >= 500 && r.Description != http.StatusText(r.Status) {
						t.Errorf("%d description = %q", r.Status, r.Description)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if n := s.Calls("sendMessage") + s.Calls("getMe"); n != len(tc.calls) {
				t.Errorf("Calls counted %d, want %d", n, len(tc.calls))
			}
			if n := len(s.Messages(1)); n != 1 {
				t.Errorf("%d messages stored, want only the one that was not faulted", n)
			}
		})
	}
}

func TestFaultsUnderConcurrency(t *testing.T) {
	s := newServer(t)
	if err := s.InjectFault(Fault{Times: 10, Status: 429, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r, err := send(newRequest(s, "json", "getMe", nil))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				got[-1]++
			}
			got[r.Status]++
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[int]int{429: 10, 200: 30}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestInjectFaultRejects(t *testing.T) {
	s := newServer(t)
	for name, f := range map[string]Fault{
		"no times":       {Status: 429},
		"no status":      {Times: 1},
		"success status": {Times: 1, Status: 200},
		"unknown method": {Method: "sendPigeon", Times: 1, Drop: true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.InjectFault(f); err == nil {
				t.Errorf("InjectFault(%+v) succeeded", f)
			}
		})
	}
	if r := call(t, s, "json", "getMe", nil); r.Status != 200 {
		t.Errorf("a rejected fault was used: status %d", r.Status)
	}
}
