package clustertest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRemoveStaleDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{ // name -> owner.pid content ("" = no file)
		tempDirPrefix + "dead":    strconv.Itoa(dead.Process.Pid),
		tempDirPrefix + "alive":   strconv.Itoa(os.Getppid()),
		tempDirPrefix + "unowned": "",
		"other-dead":              strconv.Itoa(dead.Process.Pid),
	}
	for name, owner := range dirs {
		if err := os.Mkdir(filepath.Join(tmp, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(tmp, name, ownerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	removeStaleDirs()

	for name := range dirs {
		_, err := os.Stat(filepath.Join(tmp, name))
		gone := errors.Is(err, os.ErrNotExist)
		if want := name == tempDirPrefix+"dead"; gone != want {
			t.Errorf("%s removed=%v, want %v", name, gone, want)
		}
	}
}
