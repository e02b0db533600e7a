package clustertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// KubeVersion is the Kubernetes release of the control plane binaries.
const KubeVersion = "1.34.4"

// BuildCommand builds the binaries into BinDir.
const BuildCommand = "hack/k8s/build-tools.sh"

// binaries are the programs a cluster runs, in start order.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrBinariesMissing is wrapped by New when a control plane binary is absent.
var ErrBinariesMissing = errors.New("control plane binaries missing")

// BinDir is where build-tools.sh puts the binaries:
// ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/k8s-v1.34.4/bin.
func BinDir() string {
	return filepath.Join(proctest.CacheDir(), "k8s-v"+KubeVersion, "bin")
}

// checkBinaries returns an error wrapping ErrBinariesMissing that names the
// absent binaries and the command that builds them.
func checkBinaries(dir string) error {
	var missing []string
	for _, name := range binaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w in %s: %s (build them with %s)",
		ErrBinariesMissing, dir, strings.Join(missing, ", "), BuildCommand)
}

// requireBinaries skips t, or fails it when CI=true, if a binary is missing.
func requireBinaries(t testing.TB, dir string) {
	t.Helper()
	proctest.Require(t, checkBinaries(dir))
}
