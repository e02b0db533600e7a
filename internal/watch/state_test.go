package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPrune(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	cursor := now.Add(-time.Minute)
	s := &State{Projects: map[string]*ProjectState{"p": {Cursor: cursor, Pipelines: map[int64]*Entry{
		1: {Status: "success", Done: "cs", Updated: cursor.Add(-keepComplete - time.Second), Created: now.Add(-time.Hour)}, // settled, out of reach: dropped
		2: {Status: "success", Done: "cs", Updated: cursor.Add(-time.Second), Created: now.Add(-time.Hour)},                // settled, may be listed again: kept
		3: {Status: "pending", Done: "c", Updated: now.Add(-25 * time.Hour), Created: now.Add(-25 * time.Hour)},            // pending a day: dropped, named
		4: {Status: "running", Done: "", Updated: now.Add(-time.Hour), Created: now.Add(-time.Hour)},                       // running: kept
		5: {Status: "failed", Done: "c", Updated: cursor.Add(-time.Hour), Created: now.Add(-2 * time.Hour)},                // ending not yet delivered: kept
	}}}}
	dropped := s.prune(now)
	if diff := cmp.Diff([]string{"p#3"}, dropped); diff != "" {
		t.Errorf("dropped unsettled (-want +got):\n%s", diff)
	}
	var kept []int64
	for _, id := range slices.Sorted(maps.Keys(s.Projects["p"].Pipelines)) {
		kept = append(kept, id)
	}
	if diff := cmp.Diff([]int64{2, 4, 5}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// TestStateStaysBounded: however busy the projects, the ConfigMap stays
// far below the 1 MiB an object may have.
func TestStateStaysBounded(t *testing.T) {
	now := time.Now().UTC()
	s := &State{Projects: map[string]*ProjectState{}}
	for p := range 3 {
		ps := &ProjectState{Cursor: now, Floor: now.Add(-time.Hour), Pipelines: map[int64]*Entry{}}
		for i := range 4000 {
			ps.Pipelines[int64(p*100000+i)] = &Entry{Ref: "feature/a-rather-long-branch-name-42", Status: "running",
				Created: now.Add(-time.Duration(i) * time.Second), Updated: now.Add(-time.Duration(i) * time.Second)}
		}
		s.Projects[fmt.Sprintf("group/project-%d", p)] = ps
	}
	dropped := s.prune(now)
	if got := s.entries(); got != maxEntries {
		t.Errorf("%d entries after prune, want the cap %d", got, maxEntries)
	}
	if len(dropped) != 3*4000-maxEntries {
		t.Errorf("%d reported dropped, want %d", len(dropped), 3*4000-maxEntries)
	}
	raw, _ := json.Marshal(s)
	if len(raw) > 512<<10 {
		t.Errorf("state is %d bytes at the cap, want under 512 KiB", len(raw))
	}
	t.Logf("state at the cap of %d entries: %d bytes", maxEntries, len(raw))
}

func TestConfigMapStore(t *testing.T) {
	ctx := context.Background()
	fake := newFakeConfigMaps("state")
	store := newStore(fake, "ns", "state")
	s, err := store.Load(ctx)
	if err != nil || len(s.Projects) != 0 {
		t.Fatalf("empty ConfigMap: %v, %+v", err, s)
	}
	s.Projects["p"] = &ProjectState{Pipelines: map[int64]*Entry{7: {Status: "canceled", Done: "cf"}}}
	if err := store.Save(ctx, s); err != nil {
		t.Fatal(err)
	}

	// Someone else wrote in between: the update conflicts; both copies'
	// settled lines survive.
	fake.write(`{"projects":{"p":{"pipelines":{"9":{"s":"failed","d":"cf"}}}}}`)
	s.Projects["p"].Pipelines[8] = &Entry{Status: "pending", Done: "c"}
	if err := store.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := newStore(fake, "ns", "state").Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Projects["p"].Pipelines; len(e) != 3 || e[7].Done != "cf" || e[8].Done != "c" || e[9].Done != "cf" {
		t.Errorf("stored after a conflict: %+v", e)
	}
	if labels := fake.cm["metadata"].(map[string]any)["name"]; labels != "state" {
		t.Errorf("metadata not kept: %v", fake.cm["metadata"])
	}
	// Nothing changed: no write.
	before := len(fake.verbs)
	if err := store.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if after := fake.verbs[before:]; len(after) > 1 {
		t.Errorf("an unchanged save made %v", after)
	}

	// Missing: the error names the ConfigMap and how to create it.
	fake.cm = nil
	_, err = newStore(fake, "ns", "other").Load(ctx)
	if !errors.Is(err, ErrStateMissing) {
		t.Fatalf("missing ConfigMap: %v, want ErrStateMissing", err)
	}
	for _, want := range []string{"ns/other", "WATCH_STATE_CONFIGMAP", "kubectl -n ns create configmap other"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, v := range fake.verbs {
		if v != "get" && v != "update" {
			t.Errorf("store made a %s request", v)
		}
	}
}

func TestCorruptStateIsRefused(t *testing.T) {
	fake := newFakeConfigMaps("state")
	fake.write("{not json")
	_, err := newStore(fake, "ns", "state").Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "delete the key") {
		t.Errorf("corrupt state: %v", err)
	}
}
