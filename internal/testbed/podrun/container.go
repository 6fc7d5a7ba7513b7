package podrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerRun is one run of a container: its process (PID 1 of the container's PID
// namespace), its log, its exit.
type containerRun struct {
	id      string
	name    string
	pid     int
	started time.Time
	logPath string
	env     []string
	uid     uint32
	gid     uint32

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process ended and its output is in the log
	finished time.Time
	status   syscall.WaitStatus
	waitErr  error
}

func (cr *containerRun) ended() bool {
	select {
	case <-cr.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end; once terminating is closed it sends SIGTERM, and
// SIGKILL after the grace period or at once when aborted is closed.
func (cr *containerRun) wait(terminating, aborted <-chan struct{}, grace func() time.Duration) {
	select {
	case <-cr.done:
		return
	case <-terminating:
	case <-aborted:
	}
	select {
	case <-aborted:
	default:
		_ = syscall.Kill(cr.pid, syscall.SIGTERM)
		select {
		case <-cr.done:
			return
		case <-aborted:
		case <-time.After(grace()):
		}
	}
	// SIGKILL to PID 1 of the container's PID namespace ends every process in it.
	_ = syscall.Kill(cr.pid, syscall.SIGKILL)
	<-cr.done
}

// terminated is the container's terminated state as a kubelet reports it.
func (cr *containerRun) terminated(c corev1.Container) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		StartedAt: metav1.NewTime(cr.started), FinishedAt: metav1.NewTime(cr.finished),
		ContainerID: "podrun://" + cr.id,
	}
	switch {
	case cr.waitErr != nil:
		t.ExitCode, t.Reason, t.Message = 128, "StartError", cr.waitErr.Error()
	case cr.status.Signaled():
		t.ExitCode, t.Signal, t.Reason = 128+int32(cr.status.Signal()), int32(cr.status.Signal()), "Error"
	default:
		t.ExitCode = int32(cr.status.ExitStatus())
		t.Reason = "Completed"
		if t.ExitCode != 0 {
			t.Reason = "Error"
		}
	}
	if t.ExitCode == 128 && cr.waitErr == nil {
		// The init could not exec the command: its one line says why.
		if msg := logText(cr.logPath, 1); len(msg) > 0 && len(msg) < 1024 && containsInitError(msg) {
			t.Reason, t.Message = "StartError", msg
		}
	}
	if t.Message == "" && t.ExitCode != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		msg := logText(cr.logPath, 80)
		if len(msg) > 2048 {
			msg = msg[len(msg)-2048:]
		}
		t.Message = msg
	}
	return t
}

func containsInitError(msg string) bool {
	const prefix = "podrun: start container: "
	return len(msg) >= len(prefix) && msg[:len(prefix)] == prefix
}

// configError is a container that cannot be configured yet (a missing Secret, ConfigMap or
// key, runAsNonRoot with user 0): the kubelet's CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// startContainer starts a run of container c.
func (p *pod) startContainer(ctx context.Context, c corev1.Container, init bool) (*containerRun, error) {
	im, ok := p.r.images.lookup(c.Image)
	if !ok {
		return nil, &configError{fmt.Sprintf("image %s is not in the bed's table", c.Image)}
	}
	env, err := p.containerEnv(ctx, c, im)
	if err != nil {
		return nil, err
	}
	argv := append(expandAll(c.Command, env), expandAll(c.Args, env)...)
	if len(argv) == 0 {
		return nil, &configError{fmt.Sprintf("container %s has no command: the bed does not know the entrypoints of images", c.Name)}
	}
	uid, gid, groups, err := p.credentials(c)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	restarts := p.restartCount(c.Name, init)
	p.mu.Unlock()
	id := fmt.Sprintf("%s-%s-%d", p.uid, c.Name, restarts)
	cdir := filepath.Join(p.dir, "containers", c.Name+"-"+strconv.Itoa(int(restarts)))
	root := filepath.Join(cdir, "root")
	if err := makeRoot(root); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(p.r.hostsFile(p)), 0o644); err != nil {
		return nil, fmt.Errorf("write hosts file: %w", err)
	}
	// The only nameserver is the pod's own loopback, where nothing listens: a name missing
	// from the hosts file fails inside the pod's namespace.
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("# no cluster DNS on the test bed: names come from /etc/hosts\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write resolv.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte(p.name+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write hostname: %w", err)
	}
	mounts := []mount{
		{Source: "/usr", Target: "/usr", ReadOnly: true},
		{Source: "/etc", Target: hostEtc, ReadOnly: true},
	}
	for _, dev := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		mounts = append(mounts, mount{Source: "/dev/" + dev, Target: "/dev/" + dev, File: true})
	}
	vm, err := p.volumeMounts(c)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, vm...)
	sc := c.SecurityContext
	spec := initSpec{
		Root: root, Mounts: mounts, NetNS: p.net.Path(), Hostname: p.name,
		ReadOnlyRoot: sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		NoNewPrivs:   sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		UID:          uid, GID: gid, Groups: groups, WorkingDir: c.WorkingDir, Argv: argv, Env: env,
	}
	specData, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode container spec: %w", err)
	}
	specFile := filepath.Join(cdir, "spec.json")
	if err := os.WriteFile(specFile, specData, 0o600); err != nil {
		return nil, fmt.Errorf("write container spec: %w", err)
	}
	logPath := filepath.Join(cdir, "log")
	log, err := newCRILog(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"podrun-init:" + p.namespace + "/" + p.name + "/" + c.Name}
	cmd.Env = []string{ContainerInitEnv + "=" + specFile}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = log.close()
		return nil, fmt.Errorf("start container %s: %w", c.Name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		_ = log.close()
		return nil, fmt.Errorf("start container %s: %w", c.Name, err)
	}
	started, startedW, err := os.Pipe()
	if err != nil {
		_ = log.close()
		return nil, fmt.Errorf("start container %s: %w", c.Name, err)
	}
	defer started.Close()
	cmd.ExtraFiles = []*os.File{startedW} // fd 3 in the init (startedFD)
	cr := &containerRun{id: id, name: c.Name, logPath: logPath, env: env, uid: uid, gid: gid, cmd: cmd, done: make(chan struct{})}
	err = cmd.Start()
	_ = startedW.Close()
	if err != nil {
		_ = log.close()
		return nil, fmt.Errorf("start container %s: %w", c.Name, err)
	}
	// EOF once the init exec'd the command (or died): only then is the container running,
	// and only then may a signal reach the command rather than the init.
	_ = started.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, started)
	cr.pid, cr.started = cmd.Process.Pid, time.Now()
	go func() {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); log.copyFrom("stdout", stdout) }()
		go func() { defer wg.Done(); log.copyFrom("stderr", stderr) }()
		wg.Wait()
		err := cmd.Wait()
		cr.finished = time.Now()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			cr.status = ws
		} else if err != nil {
			cr.waitErr = err
		}
		_ = log.close()
		close(cr.done)
	}()
	return cr, nil
}

// restartCount is the container's restart count so far.
func (p *pod) restartCount(name string, init bool) int32 {
	if init {
		return p.initSt[name].RestartCount
	}
	return p.ctrSt[name].RestartCount
}

// hostEtc is where the host's /etc is mounted (read-only) in a container: the container's
// /etc is a directory of its own (so volumes can be mounted under it, such as
// /etc/backup-ssh) whose entries link to the host's, except hosts, resolv.conf and hostname.
const hostEtc = "/.host-etc"

// makeRoot makes a container's root directory: the usual top-level dirs, the merged-/usr
// symlinks of Debian (the host's /usr is mounted over usr) and /etc as above.
func makeRoot(root string) error {
	for _, d := range []string{"usr", "etc", "proc", "dev/shm", "run", "var/tmp", "root", "home", "opt", "mnt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("make container root: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return fmt.Errorf("make container root: %w", err)
	}
	_ = os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	_ = os.Chmod(filepath.Join(root, "var/tmp"), 0o1777)
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		target, err := os.Readlink("/" + l)
		if err != nil {
			continue // not a merged-/usr host, or no such dir (lib64)
		}
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil && !os.IsExist(err) {
			return fmt.Errorf("make container root: %w", err)
		}
	}
	entries, err := os.ReadDir("/etc")
	if err != nil {
		return fmt.Errorf("make container root: %w", err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "hosts", "resolv.conf", "hostname":
			continue
		}
		if err := os.Symlink(filepath.Join(hostEtc, e.Name()), filepath.Join(root, "etc", e.Name())); err != nil && !os.IsExist(err) {
			return fmt.Errorf("make container root: %w", err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(root, "dev", name)); err != nil && !os.IsExist(err) {
			return fmt.Errorf("make container root: %w", err)
		}
	}
	return nil
}

// credentials are the user, group and groups the container runs as: the container's
// securityContext over the pod's, root when neither says.
func (p *pod) credentials(c corev1.Container) (uid, gid uint32, groups []uint32, err error) {
	psc := p.spec.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	pick := func(cv, pv *int64) *int64 {
		if cv != nil {
			return cv
		}
		return pv
	}
	if v := pick(csc.RunAsUser, psc.RunAsUser); v != nil {
		uid = uint32(*v)
	}
	if v := pick(csc.RunAsGroup, psc.RunAsGroup); v != nil {
		gid = uint32(*v)
	}
	nonRoot := csc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot != nil && *nonRoot && uid == 0 {
		return 0, 0, nil, &configError{"container has runAsNonRoot and image will run as root"}
	}
	groups = []uint32{gid}
	if psc.FSGroup != nil {
		groups = append(groups, uint32(*psc.FSGroup))
	}
	for _, g := range psc.SupplementalGroups {
		groups = append(groups, uint32(g))
	}
	return uid, gid, groups, nil
}
