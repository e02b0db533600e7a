package argocdtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

func TestDirs(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		derrickCache, xdg, home string
		want                    string
	}{
		{"DERRICK_CACHE wins", "/c", "/x", "/h", "/c/argocd-v2.14.21"},
		{"XDG_CACHE_HOME", "", "/x", "/h", "/x/derrick/argocd-v2.14.21"},
		{"HOME", "", "", "/h", "/h/.cache/derrick/argocd-v2.14.21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DERRICK_CACHE", tc.derrickCache)
			t.Setenv("XDG_CACHE_HOME", tc.xdg)
			t.Setenv("HOME", tc.home)
			if got, want := BinDir(), tc.want+"/bin"; got != want {
				t.Errorf("BinDir() = %q, want %q", got, want)
			}
			if got, want := CRDDir(), tc.want+"/crds"; got != want {
				t.Errorf("CRDDir() = %q, want %q", got, want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	err := check(dir)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("empty dir: got %v, want ErrMissing", err)
	}
	for _, want := range append([]string{BuildCommand}, stackFiles...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	for _, f := range stackFiles {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := check(dir); err != nil && !strings.Contains(err.Error(), "hack/install-deps.sh") {
		t.Errorf("all present: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "bin/argocd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := check(dir); err == nil || !strings.Contains(err.Error(), "bin/argocd missing") {
		t.Errorf("argocd not executable: got %v, want it named as missing", err)
	}
}

func TestRequireSkipsUnlessCI(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{"", false},
		{"false", false},
		{"true", true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &proctest.Recorder{TB: t}
			require(r, t.TempDir())
			got := r.SkippedWith
			if tc.wantFail {
				got = r.FailedWith
				if r.SkippedWith != "" {
					t.Errorf("skipped with CI=true: %s", r.SkippedWith)
				}
			} else if r.FailedWith != "" {
				t.Errorf("failed with CI=%q: %s", tc.ci, r.FailedWith)
			}
			if !strings.Contains(got, BuildCommand) {
				t.Errorf("message %q does not name %s", got, BuildCommand)
			}
		})
	}
}
