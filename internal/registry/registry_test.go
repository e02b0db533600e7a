package registry

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func tagNames(tags []Tag) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Name
	}
	return out
}

func TestSortNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name string
		tags []Tag
		want []string
	}{
		{
			name: "by build time, newest first",
			tags: []Tag{{Name: "0.10.10", Created: at(1)}, {Name: "0.10.5", Created: at(3)}, {Name: "0.9.0", Created: at(2)}},
			want: []string{"0.10.5", "0.9.0", "0.10.10"},
		},
		{
			name: "unknown times: versions numerically, highest first",
			tags: []Tag{{Name: "0.10.5"}, {Name: "0.10.9"}, {Name: "0.10.10"}, {Name: "0.9.12"}, {Name: "1.0.0"}},
			want: []string{"1.0.0", "0.10.10", "0.10.9", "0.10.5", "0.9.12"},
		},
		{
			name: "equal times fall back to versions",
			tags: []Tag{{Name: "0.10.5", Created: at(0)}, {Name: "0.10.10", Created: at(0)}, {Name: "0.10.9", Created: at(0)}},
			want: []string{"0.10.10", "0.10.9", "0.10.5"},
		},
		{
			name: "known times before unknown ones",
			tags: []Tag{{Name: "9.9.9"}, {Name: "0.1.0", Created: at(0)}, {Name: "latest"}, {Name: "0.2.0", Created: at(1)}},
			want: []string{"0.2.0", "0.1.0", "9.9.9", "latest"},
		},
		{
			name: "versions before other names, others by name",
			tags: []Tag{{Name: "main"}, {Name: "latest"}, {Name: "v2"}, {Name: "feature-x"}, {Name: "1.2"}},
			want: []string{"v2", "1.2", "feature-x", "latest", "main"},
		},
		{
			name: "pre-releases below their release",
			tags: []Tag{{Name: "1.0.0-rc.1"}, {Name: "1.0.0"}, {Name: "1.0.0-rc.10"}, {Name: "1.0.0-beta"}, {Name: "1.0.0-rc.2"}, {Name: "0.9.0"}},
			want: []string{"1.0.0", "1.0.0-rc.10", "1.0.0-rc.2", "1.0.0-rc.1", "1.0.0-beta", "0.9.0"},
		},
		{
			name: "build metadata and v prefix tie, then by name",
			tags: []Tag{{Name: "v1.2.3"}, {Name: "1.2.3+build.7"}, {Name: "1.2.3"}},
			want: []string{"1.2.3", "1.2.3+build.7", "v1.2.3"},
		},
		{
			name: "long numbers do not overflow",
			tags: []Tag{{Name: "1.99999999999999999999999"}, {Name: "1.100000000000000000000000"}},
			want: []string{"1.100000000000000000000000", "1.99999999999999999999999"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tags := append([]Tag(nil), tc.tags...)
			SortNewestFirst(tags)
			if diff := cmp.Diff(tc.want, tagNames(tags)); diff != "" {
				t.Errorf("SortNewestFirst order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForEach(t *testing.T) {
	t.Run("bounded and complete", func(t *testing.T) {
		var running, peak, done atomic.Int32
		err := forEach(t.Context(), 50, 4, func(ctx context.Context, i int) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			done.Add(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if done.Load() != 50 || peak.Load() > 4 {
			t.Errorf("done %d of 50, peak %d (limit 4)", done.Load(), peak.Load())
		}
	})
	t.Run("first error cancels the rest", func(t *testing.T) {
		boom := errors.New("boom")
		var started atomic.Int32
		err := forEach(t.Context(), 1000, 2, func(ctx context.Context, i int) error {
			started.Add(1)
			if i == 3 {
				return boom
			}
			<-time.After(time.Millisecond)
			return ctx.Err()
		})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
		if started.Load() > 100 {
			t.Errorf("%d calls started after the error; want the loop to stop", started.Load())
		}
	})
}

// FuzzCompareNames checks that the name order is a consistent order, which
// sorting relies on.
func FuzzCompareNames(f *testing.F) {
	for _, s := range [][2]string{{"0.10.10", "0.10.9"}, {"1.0.0-rc.1", "1.0.0"}, {"v1", "1.0.0+b"}, {"latest", "1.0"}, {"1.0.0-a.1", "1.0.0-a.b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := compareNames(a, b), compareNames(b, a)
		if (ab < 0) != (ba > 0) || (ab == 0) != (ba == 0) {
			t.Fatalf("compareNames(%q, %q) = %d but reversed = %d", a, b, ab, ba)
		}
		if (ab == 0) != (a == b) {
			t.Fatalf("compareNames(%q, %q) = %d: distinct names must not tie", a, b, ab)
		}
	})
}

// checkTags compares what Tags returned with want or, when wantErr is set,
// checks that the error holds each of its parts and none of the secrets.
func checkTags(t *testing.T, got []Tag, err error, want []Tag, wantErr []string, secrets ...string) {
	t.Helper()
	if wantErr != nil {
		if err == nil {
			t.Fatalf("Tags succeeded with %v, want an error", got)
		}
		errHas(t, err, wantErr, secrets)
		return
	}
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
}

// wantErr checks that err holds each part and no secret of the tests.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	errHas(t, err, parts, []string{gitlabToken, ociPassword, ociToken})
}

func errHas(t *testing.T, err error, parts, secrets []string) {
	t.Helper()
	t.Logf("error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\ndoes not contain %q", err, p)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error reveals a secret: %q", err)
		}
	}
}
