package clustertest_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestStartStopsEveryProcess starts a second, private cluster in a subtest
// and checks that the subtest's cleanup leaves no process and that the
// process logs were kept in the test's temp dir until then.
func TestStartStopsEveryProcess(t *testing.T) {
	var (
		pids []int
		dir  string
	)
	ok := t.Run("cluster", func(t *testing.T) {
		c := clustertest.Start(t.Context(), t)
		dir = c.Dir
		rss, err := c.RSS()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rss {
			pids = append(pids, p.PID)
			if _, err := os.Stat(filepath.Join(c.Dir, p.Name+".log")); err != nil {
				t.Errorf("log of %s: %v", p.Name, err)
			}
		}
	})
	if !ok {
		return
	}
	if pids == nil {
		t.Skip("no cluster started (binaries missing)")
	}
	if len(pids) != 5 {
		t.Fatalf("got %d processes, want 5", len(pids))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after cleanup (kill -0: %v)", pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster dir %s left behind: %v", dir, err)
	}
}
