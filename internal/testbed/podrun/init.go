package podrun

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ContainerInitEnv names the file with a container's initSpec: set, the process is a
// container's init (see MaybeRunContainerInit).
const ContainerInitEnv = "PICLUSTER_PODRUN_CONTAINER"

// initSpec is what a container's init needs, written by the runtime as JSON.
type initSpec struct {
	// Root is the container's root directory (made by the runtime: dirs and symlinks).
	Root string
	// Mounts are bind mounts into Root, in order.
	Mounts []mount
	// ReadOnlyRoot makes Root read-only (readOnlyRootFilesystem).
	ReadOnlyRoot bool
	// NetNS is the pod's network namespace (a path under /run/netns).
	NetNS string
	// Hostname is the pod's name.
	Hostname string
	// UID, GID and Groups are the credentials the command runs with.
	UID, GID uint32
	Groups   []uint32
	// NoNewPrivs is allowPrivilegeEscalation: false.
	NoNewPrivs bool
	// WorkingDir is the command's working directory ("/" when empty).
	WorkingDir string
	// Argv is the command and its arguments; Env its environment.
	Argv []string
	Env  []string
}

// mount is a bind mount of Source (a host path) at Target (inside the root).
type mount struct {
	Source, Target string
	ReadOnly       bool
	// File says Source is a file, not a directory.
	File bool
}

var hookInstalled bool

// startedFD is the write end of the runtime's "started" pipe in a container's init.
const startedFD = 3

// MaybeRunContainerInit turns this process into a container when the runtime started it
// as one (ContainerInitEnv is set): it never returns then. Otherwise it returns at once and
// records that the binary can run containers. Call it first thing in main or TestMain.
func MaybeRunContainerInit() {
	hookInstalled = true
	path := os.Getenv(ContainerInitEnv)
	if path == "" {
		return
	}
	// setns and exec must happen on the same OS thread: lock before anything else.
	runtime.LockOSThread()
	// This process is PID 1 of the container's PID namespace, where a signal without a
	// handler does nothing. Go's runtime handles SIGTERM (and would exit 2 on it): ignore it
	// until the exec, as the container's PID 1 would (a handler its command installs wins).
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// fd 3 is the runtime's "started" pipe: closed by the exec, it tells the runtime that the
	// command runs (a kubelet reports Running only then).
	syscall.CloseOnExec(startedFD)
	err := containerInit(path)
	// Only reached when something failed before exec: the runtime reports it as the
	// container's termination message (exit 128, reason StartError).
	fmt.Fprintf(os.Stderr, "podrun: start container: %v\n", err)
	os.Exit(128)
}

func containerInit(specFile string) error {
	data, err := os.ReadFile(specFile)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var s initSpec
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	// Nothing we mount may show on the host: make every mount private first.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// The root becomes a mount point of its own, so that it can be made read-only alone.
	if err := syscall.Mount(s.Root, s.Root, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind root: %w", err)
	}
	for _, m := range s.Mounts {
		if err := bindMount(s.Root, m); err != nil {
			return err
		}
	}
	proc := filepath.Join(s.Root, "proc")
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := syscall.Mount("shm", filepath.Join(s.Root, "dev/shm"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size=64m"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if s.ReadOnlyRoot {
		if err := syscall.Mount("", s.Root, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := enterNetNS(s.NetNS); err != nil {
		return err
	}
	if err := syscall.Chroot(s.Root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	wd := s.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := os.MkdirAll(wd, 0o755); err != nil && !s.ReadOnlyRoot {
		return fmt.Errorf("make working dir %s: %w", wd, err)
	}
	if err := syscall.Chdir(wd); err != nil {
		return fmt.Errorf("change to working dir %s: %w", wd, err)
	}
	argv0, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return err
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("set groups: %w", err)
	}
	if err := syscall.Setgid(int(s.GID)); err != nil {
		return fmt.Errorf("set gid: %w", err)
	}
	if err := syscall.Setuid(int(s.UID)); err != nil {
		return fmt.Errorf("set uid: %w", err)
	}
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if err := syscall.Exec(argv0, s.Argv, s.Env); err != nil {
		return fmt.Errorf("exec %s: %w", s.Argv[0], err)
	}
	return nil
}

// bindMount mounts m inside root, making the target (a dir, or an empty file) first.
func bindMount(root string, m mount) error {
	target := filepath.Join(root, m.Target)
	if m.File {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("make mount point %s: %w", m.Target, err)
		}
		if f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			_ = f.Close()
		}
	} else if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("make mount point %s: %w", m.Target, err)
	}
	if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := syscall.Mount("", target, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// enterNetNS moves the calling (locked) thread into the pod's network namespace; the
// command exec'd from this thread inherits it.
func enterNetNS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	return nil
}

// lookPath resolves the command in the container's PATH, as a container runtime does.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: %w", name, exec.ErrNotFound)
}
