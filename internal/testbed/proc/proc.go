// Package proc starts and stops the real server processes that the project's tests run
// against: each in its own process group, killed with the test binary if it crashes
// (Pdeathsig), logging to a file, optionally inside a network namespace.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits after the stop signal before it kills.
const DefaultStopTimeout = 10 * time.Second

// Spec describes a process to start.
type Spec struct {
	// Name names the process in errors and, by default, its log file (Name.log).
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments after Path. They are written to the log: never put secrets here.
	Args []string
	// Env is added to the test's environment (later entries win). It is never logged.
	Env []string
	// Dir is the working directory; created when missing. The log goes here by default.
	Dir string
	// NetNS, when set, runs the process via `ip netns exec NetNS` inside that network namespace.
	NetNS string
	// LogFile receives stdout and stderr; default Dir/Name.log. Appended to, mode 0600.
	LogFile string
	// UID and GID run the process as another user when non-zero (needs root).
	UID, GID int
	// StopSignal is sent by Stop; default SIGTERM.
	StopSignal syscall.Signal
	// SignalLeaderOnly sends StopSignal to the leader only instead of the whole process
	// group, for servers that shut their children down themselves (postgres).
	SignalLeaderOnly bool
	// StopTimeout bounds the graceful part of Stop; default DefaultStopTimeout.
	StopTimeout time.Duration
}

// Process is a started process.
type Process struct {
	// Spec is what was started (defaults filled in).
	Spec Spec
	// Cmd is the running command; do not Wait on it, Stop and Done do.
	Cmd *exec.Cmd
	// LogFile is the path of the log with the process's stdout and stderr.
	LogFile string

	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Start starts the process in its own process group with SIGKILL as its parent-death
// signal, its output appended to the log file. It does not wait for readiness.
func Start(spec Spec) (*Process, error) {
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	if spec.Path == "" {
		return nil, fmt.Errorf("start %s: no executable path", spec.Name)
	}
	if spec.Dir == "" && spec.LogFile == "" {
		return nil, fmt.Errorf("start %s: neither Dir nor LogFile set", spec.Name)
	}
	if spec.Dir != "" {
		if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("start %s: create dir: %w", spec.Name, err)
		}
	}
	if spec.LogFile == "" {
		spec.LogFile = filepath.Join(spec.Dir, spec.Name+".log")
	}
	if spec.StopSignal == 0 {
		spec.StopSignal = syscall.SIGTERM
	}
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	path, args, err := commandLine(spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	logf, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", spec.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: start %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))

	cmd := exec.Command(path, args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if spec.NetNS == "" && (spec.UID != 0 || spec.GID != 0) {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), Groups: []uint32{}}
	}
	p := &Process{Spec: spec, Cmd: cmd, LogFile: spec.LogFile, done: make(chan struct{})}

	// Pdeathsig fires when the thread that forked the child exits, not the process. Fork
	// from a locked thread that lives exactly as long as the child: the goroutine below
	// keeps it until Wait returns.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, path, err)
	}
	return p, nil
}

// commandLine wraps the command for a network namespace. `ip netns exec` execs in place,
// so the PID stays the server's; the user switch then happens inside the namespace with
// setpriv, which re-arms the parent-death signal that a credential change clears.
func commandLine(spec Spec) (string, []string, error) {
	if spec.NetNS == "" {
		return spec.Path, spec.Args, nil
	}
	ip, err := LookBinary("ip")
	if err != nil {
		return "", nil, fmt.Errorf("run in netns %s: %w", spec.NetNS, err)
	}
	args := []string{"netns", "exec", spec.NetNS}
	if spec.UID != 0 || spec.GID != 0 {
		setpriv, err := LookBinary("setpriv")
		if err != nil {
			return "", nil, fmt.Errorf("run in netns %s as uid %d: %w", spec.NetNS, spec.UID, err)
		}
		args = append(args, setpriv,
			"--regid="+strconv.Itoa(spec.GID), "--reuid="+strconv.Itoa(spec.UID),
			"--clear-groups", "--pdeathsig=KILL", "--")
	}
	args = append(args, spec.Path)
	return ip, append(args, spec.Args...), nil
}

// PID is the process ID of the leader (the server itself, also under `ip netns exec`).
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Done is closed once the leader has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the leader has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Tree lists the live processes of this server: the leader, its process group and all
// their descendants (also those that left the group, like sshd's sessions).
func (p *Process) Tree() []int {
	procs := tree(p.PID())
	pids := make([]int, 0, len(procs))
	for _, pr := range procs {
		pids = append(pids, pr.pid)
	}
	return pids
}

// RSS is the resident memory of the leader and its descendants, in bytes (shared pages
// count once per process that maps them; see PSS).
func (p *Process) RSS() (int64, error) {
	return p.sumMemory(rssOf)
}

// PSS is the proportional set size of the leader and its descendants, in bytes: shared
// pages split among the processes sharing them, so it adds up across a server's workers.
func (p *Process) PSS() (int64, error) {
	return p.sumMemory(pssOf)
}

func (p *Process) sumMemory(of func(pid int) (int64, error)) (int64, error) {
	var total int64
	for _, pid := range p.Tree() {
		rss, err := of(pid)
		if err != nil {
			continue // exited meanwhile
		}
		total += rss
	}
	if total == 0 {
		return 0, fmt.Errorf("memory of %s: no live process", p.Spec.Name)
	}
	return total, nil
}

// Stop sends the stop signal (to the group, or the leader when SignalLeaderOnly), waits up
// to StopTimeout for the leader, then SIGKILLs whatever is left of the group and the
// descendants and waits until they are gone. It is idempotent and safe to call
// concurrently; a server that exits on the signal is a clean stop.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	pid := p.PID()
	before := tree(pid)
	var graceErr error
	if exited, _ := p.Exited(); !exited {
		target := -pid
		if p.Spec.SignalLeaderOnly {
			target = pid
		}
		if err := syscall.Kill(target, p.Spec.StopSignal); err != nil && !errors.Is(err, syscall.ESRCH) {
			graceErr = fmt.Errorf("stop %s: signal %v: %w", p.Spec.Name, p.Spec.StopSignal, err)
		}
		select {
		case <-p.done:
		case <-time.After(p.Spec.StopTimeout):
			graceErr = fmt.Errorf("stop %s: still running %s after %v, killed", p.Spec.Name, p.Spec.StopSignal, p.Spec.StopTimeout)
		}
	}
	// Anything left over: the group, and descendants seen before or now (reparented ones
	// are matched by start time so a reused PID is never hit).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	left := append(before, tree(pid)...)
	for _, pr := range left {
		if pr.alive() {
			_ = syscall.Kill(pr.pid, syscall.SIGKILL)
		}
	}
	<-p.done
	deadline := time.Now().Add(5 * time.Second)
	for _, pr := range left {
		for pr.alive() {
			if time.Now().After(deadline) {
				return fmt.Errorf("stop %s: pid %d survived SIGKILL", p.Spec.Name, pr.pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return graceErr
}

// Tail returns the last n lines of the log, for error messages.
func (p *Process) Tail(n int) string {
	return TailFile(p.LogFile, n)
}

// TailFile returns the last n lines of a file (at most its last 64 KiB), or "" when it
// cannot be read.
func TailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxTail = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		_, _ = f.Seek(-maxTail, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
