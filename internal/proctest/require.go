package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CacheDir is where the hack/ build scripts put the binaries tests run:
// ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}.
func CacheDir() string {
	if root := os.Getenv("DERRICK_CACHE"); root != "" {
		return root
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	return filepath.Join(cache, "derrick")
}

// SkipOrFail skips t because something it needs is missing, or fails it when
// the environment has CI=true, where everything must be installed. The
// message says what is missing and how to get it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this is a failure", msg)
		return
	}
	t.Skipf("%s; skipping (with CI=true this fails)", msg)
}

// Require calls SkipOrFail with err, which says what is missing and how to
// get it, unless err is nil.
func Require(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		SkipOrFail(t, "%v", err)
	}
}

// MissingTools returns the names that are not programs on PATH.
func MissingTools(names ...string) []string {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	return missing
}

// RequireTools calls SkipOrFail when a program is not on PATH.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	if missing := MissingTools(names...); len(missing) > 0 {
		SkipOrFail(t, "%s not installed (install with hack/install-deps.sh)", strings.Join(missing, ", "))
	}
}

// Recorder is a testing.TB for tests of helpers like Require: it records
// how the helper ended the test instead of ending it. Its Skipf and Fatalf
// return, so a helper must not go on after calling them.
type Recorder struct {
	testing.TB
	SkippedWith, FailedWith string
}

func (r *Recorder) Helper() {}

func (r *Recorder) Skipf(format string, args ...any) { r.SkippedWith = fmt.Sprintf(format, args...) }

func (r *Recorder) Fatalf(format string, args ...any) { r.FailedWith = fmt.Sprintf(format, args...) }
