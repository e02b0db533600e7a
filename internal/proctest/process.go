package proctest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one program run for a test. It runs in its own process group
// with stdout and stderr in DIR/NAME.log, and gets SIGKILL from the kernel
// when the test binary dies (Pdeathsig), so a panicking or timed-out test
// leaves nothing behind. Stop kills it by its process group id.
type Process struct {
	// Name names the process in errors and its log, DIR/NAME.log.
	Name string
	// LogPath is the file that holds its stdout and stderr.
	LogPath string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// Start runs path with args in dir with exactly env.
func Start(dir, name, path string, args, env []string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log for %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Restart starts an exited process again with the same program, arguments,
// environment and dir. Its previous log is kept as NAME.log.N.
func (p *Process) Restart() (*Process, error) {
	if p.Exited() == nil {
		return nil, fmt.Errorf("restart %s: still running", p.Name)
	}
	for n := 1; ; n++ {
		old := fmt.Sprintf("%s.%d", p.LogPath, n)
		if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(p.LogPath, old); err != nil {
				return nil, fmt.Errorf("keep %s log: %w", p.Name, err)
			}
			break
		}
	}
	return Start(p.cmd.Dir, p.Name, p.cmd.Path, p.cmd.Args[1:], p.cmd.Env)
}

// PID is the process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited returns a non-nil error once the process has ended.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v (log: %s)", p.Name, p.waitErr, p.LogPath)
	default:
		return nil
	}
}

// Stop kills the process group and waits for the process to be reaped.
func (p *Process) Stop() error {
	if p.Exited() != nil {
		return nil
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", p.Name, pid)
	}
}

// RSS returns the resident set size of the process in bytes.
func (p *Process) RSS() (int64, error) {
	if err := p.Exited(); err != nil {
		return 0, err
	}
	rss, _, err := Memory(p.PID())
	if err != nil {
		return 0, fmt.Errorf("memory of %s: %w", p.Name, err)
	}
	return rss, nil
}

// Tail returns the last n lines of the process log.
func (p *Process) Tail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Memory returns the resident set size of process pid and its peak (VmRSS
// and VmHWM of /proc/PID/status), in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	bytes := map[string]int64{}
	for line := range strings.Lines(string(status)) {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "VmRSS:" && f[0] != "VmHWM:") {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s of %s: %w", f[0], path, err)
		}
		bytes[f[0]] = kb * 1024
	}
	for _, key := range []string{"VmRSS:", "VmHWM:"} {
		if _, ok := bytes[key]; !ok {
			return 0, 0, fmt.Errorf("no %s in %s", strings.TrimSuffix(key, ":"), path)
		}
	}
	return bytes["VmRSS:"], bytes["VmHWM:"], nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. They are found
// by binding and closing, so another program may take one before the caller
// does (see Group.PortTaken).
func FreePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
