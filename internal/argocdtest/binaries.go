package argocdtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// Version is the Argo CD release the harness runs.
const Version = "2.14.21"

// BuildCommand builds the argocd and kustomize binaries and copies the CRDs.
const BuildCommand = "hack/argocd/build.sh"

// ErrMissing is wrapped by New when a binary, CRD or system tool is absent.
var ErrMissing = errors.New("argo cd test stack incomplete")

// stackDir is ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/argocd-v2.14.21.
func stackDir() string {
	return filepath.Join(proctest.CacheDir(), "argocd-v"+Version)
}

// BinDir is where BuildCommand puts argocd and kustomize.
func BinDir() string { return filepath.Join(stackDir(), "bin") }

// CRDDir is where BuildCommand puts Argo CD's CRDs.
func CRDDir() string { return filepath.Join(stackDir(), "crds") }

var (
	stackFiles = []string{"bin/argocd", "bin/kustomize",
		"crds/application-crd.yaml", "crds/appproject-crd.yaml", "crds/applicationset-crd.yaml"}
	// systemTools come from Debian (hack/install-deps.sh).
	systemTools = []string{"redis-server", "git", "htpasswd"}
)

// check returns an error wrapping ErrMissing that names what is absent from
// dir (the stack dir) and PATH, and the command that provides it.
func check(dir string) error {
	var missing []string
	for _, f := range stackFiles {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.IsDir() || (strings.HasPrefix(f, "bin/") && fi.Mode()&0o111 == 0) {
			missing = append(missing, f)
		}
	}
	tools := proctest.MissingTools(systemTools...)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s missing in %s (build them with %s)",
			ErrMissing, strings.Join(missing, ", "), dir, BuildCommand))
	}
	if len(tools) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s not installed (install with hack/install-deps.sh)",
			ErrMissing, strings.Join(tools, ", ")))
	}
	return errors.Join(errs...)
}

// require skips t when something is missing, or fails it when CI=true.
func require(t testing.TB, dir string) {
	t.Helper()
	proctest.Require(t, check(dir))
}
