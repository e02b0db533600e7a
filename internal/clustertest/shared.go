package clustertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the one cluster of a test binary that uses Main.
var shared struct {
	inMain bool
	opts   []Option
	once   sync.Once
	c      *Cluster
	err    error
}

// Main runs the tests of a package that share one cluster. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
// and call Shared(t) in each test that needs the cluster. The cluster starts
// on the first Shared call, so `go test -run` of other tests costs nothing,
// and stops after the last test; when a test failed, the tail of every
// component log goes to stderr.
func Main(m *testing.M, opts ...Option) int {
	shared.inMain = true
	shared.opts = opts
	code := m.Run()
	if shared.c != nil {
		if code != 0 {
			fmt.Fprint(os.Stderr, shared.c.LogTails(40))
		}
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: stop shared cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Shared returns the package's cluster, starting it on first use. It skips
// t when the binaries are missing (fails it when CI=true) and fails t when
// the cluster did not start. Tests sharing a cluster should create their
// own namespaces and tolerate objects other tests made.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if !shared.inMain {
		t.Fatal("clustertest.Shared needs a TestMain that calls clustertest.Main: " +
			"func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }")
	}
	requireBinaries(t, collectOptions(shared.opts).binDir)
	shared.once.Do(func() {
		shared.c, shared.err = New(context.Background(), shared.opts...)
	})
	if shared.err != nil {
		t.Fatalf("start shared cluster: %v", shared.err)
	}
	return shared.c
}
