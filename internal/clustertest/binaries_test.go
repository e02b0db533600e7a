package clustertest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

func TestBinDir(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		derrickCache, xdg, home string
		want                    string
	}{
		{"DERRICK_CACHE wins", "/c", "/x", "/h", "/c/k8s-v1.34.4/bin"},
		{"XDG_CACHE_HOME", "", "/x", "/h", "/x/derrick/k8s-v1.34.4/bin"},
		{"HOME", "", "", "/h", "/h/.cache/derrick/k8s-v1.34.4/bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DERRICK_CACHE", tc.derrickCache)
			t.Setenv("XDG_CACHE_HOME", tc.xdg)
			t.Setenv("HOME", tc.home)
			if got := BinDir(); got != tc.want {
				t.Errorf("BinDir() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	err := checkBinaries(dir)
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("empty dir: got %v, want ErrBinariesMissing", err)
	}
	for _, want := range append([]string{BuildCommand}, binaries...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	for _, name := range binaries {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkBinaries(dir); err != nil {
		t.Errorf("all present: %v", err)
	}

	if err := os.Chmod(filepath.Join(dir, "kwok"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = checkBinaries(dir)
	if err == nil || !strings.Contains(err.Error(), ": kwok (") {
		t.Errorf("kwok not executable: got %v, want it named as missing", err)
	}
}

func TestRequireBinariesSkipsUnlessCI(t *testing.T) {
	for _, tc := range []struct {
		ci                 string
		wantSkip, wantFail bool
	}{
		{"", true, false},
		{"false", true, false},
		{"true", false, true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &proctest.Recorder{TB: t}
			requireBinaries(r, t.TempDir())
			if (r.SkippedWith != "") != tc.wantSkip || (r.FailedWith != "") != tc.wantFail {
				t.Errorf("skipped=%q fatal=%q, want skip=%v fail=%v", r.SkippedWith, r.FailedWith, tc.wantSkip, tc.wantFail)
			}
			if msg := r.SkippedWith + r.FailedWith; !strings.Contains(msg, BuildCommand) {
				t.Errorf("message %q does not say how to build the binaries", msg)
			}
		})
	}
}
