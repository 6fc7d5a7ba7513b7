package servers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// NAS stands in for the Synology NAS: an sshd of its own with rsync available and, like
// the real one, no SFTP subsystem (so no scp or sftp). It accepts two throwaway keys:
// PrivateKeyFile, the default, is an rsync-only account as Synology gives plain users (sshd
// forces the key through Debian's rrsync, confined to Path, absolute paths allowed), and
// ShellKeyFile a full-shell account as administrators get.
type NAS struct {
	// Host and Port are where sshd listens.
	Host string
	Port int
	// User is the login (the test's user: root in CI).
	User string
	// Path is the folder backups go to.
	Path string
	// PrivateKeyFile is the rsync-only client key (no passphrase); treat its content as a
	// secret.
	PrivateKeyFile string
	// ShellKeyFile is the full-shell client key (no passphrase).
	ShellKeyFile string
	// KnownHostsFile pins the throwaway host key for [Host]:Port.
	KnownHostsFile string
	// Dir holds the config, keys, pid file and log.
	Dir string
	// Process is sshd.
	Process *proc.Process

	owned bool
}

// StartNAS starts sshd as root on a free port with a config of its own (key auth only, no
// PAM, no SFTP), a fresh ed25519 host key and client key, and an empty data folder, and
// waits until it greets with its SSH banner.
func StartNAS(ctx context.Context, o Options) (*NAS, error) {
	o = o.withDefaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("start nas: sshd needs root")
	}
	sshd, err := proc.LookBinary("sshd")
	if err != nil {
		return nil, fmt.Errorf("start nas: %w", err)
	}
	keygen, err := proc.LookBinary("ssh-keygen")
	if err != nil {
		return nil, fmt.Errorf("start nas: %w", err)
	}
	dir, owned, err := workDir(o, "nas")
	if err != nil {
		return nil, err
	}
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("start nas: current user: %w", err)
	}
	n := &NAS{
		Host: o.Host, User: me.Username, Dir: dir, owned: owned,
		Path:           filepath.Join(dir, "data"),
		PrivateKeyFile: filepath.Join(dir, "id_ed25519"),
		ShellKeyFile:   filepath.Join(dir, "id_ed25519_shell"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
	}
	if err := n.prepare(ctx, keygen); err != nil {
		_ = n.Stop()
		return nil, fmt.Errorf("start nas: %w", err)
	}
	config := filepath.Join(dir, "sshd_config")
	pidFile := filepath.Join(dir, "sshd.pid")
	start := func(port int) (*proc.Process, error) {
		_ = os.Remove(pidFile)
		if err := writeFile(config, []byte(n.sshdConfig(port, pidFile)), 0o600); err != nil {
			return nil, err
		}
		return proc.Start(proc.Spec{Name: "sshd", Path: sshd, Dir: dir, NetNS: o.NetNS,
			Args: []string{"-D", "-e", "-f", config}})
	}
	ready := func(ctx context.Context, port int) error {
		// sshd writes its pid file once it listens; then one banner proves it answers.
		return proc.WaitFor(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
			if _, err := os.Stat(pidFile); err != nil {
				return false, nil
			}
			return sshBanner(ctx, hostPort(o.Host, port)) == nil, nil
		})
	}
	pr, port, err := startOnPort(ctx, o, "nas sshd", start, ready)
	if err != nil {
		_ = n.Stop()
		return nil, err
	}
	n.Process, n.Port = pr, port
	if err := n.writeKnownHosts(); err != nil {
		_ = n.Stop()
		return nil, fmt.Errorf("start nas: %w", err)
	}
	return n, nil
}

// Target is the rsync destination user@host:/path.
func (n *NAS) Target() string {
	host := n.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return n.User + "@" + host + ":" + n.Path
}

// RsyncRSH is the ssh command for `rsync -e` with the rsync-only key: the port, and strict
// host key checking against KnownHostsFile, ignoring any ssh config of the machine.
func (n *NAS) RsyncRSH() string {
	return strings.Join(n.sshArgs(n.PrivateKeyFile, shellQuote), " ")
}

// ShellRsyncRSH is RsyncRSH with the full-shell key.
func (n *NAS) ShellRsyncRSH() string {
	return strings.Join(n.sshArgs(n.ShellKeyFile, shellQuote), " ")
}

// SSH runs a shell command on the NAS with the full-shell key (e.g. to look at the folder).
func (n *NAS) SSH(ctx context.Context, command string) (string, error) {
	args := append(n.sshArgs(n.ShellKeyFile, func(s string) string { return s })[1:], n.User+"@"+n.Host, command)
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ssh %s: %w: %s", hostPort(n.Host, n.Port), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Stop stops sshd and any session it still serves; idempotent. A temporary Dir is removed.
func (n *NAS) Stop() error {
	if n.owned {
		return stopAndClean(n.Process, n.Dir)
	}
	return stopAndClean(n.Process)
}

// sshArgs is the ssh command line with one client key; quote protects paths when it is
// joined into one string.
func (n *NAS) sshArgs(key string, quote func(string) string) []string {
	return []string{"ssh", "-F", "/dev/null",
		"-i", quote(key), "-p", strconv.Itoa(n.Port),
		"-o", "UserKnownHostsFile=" + quote(n.KnownHostsFile),
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
	}
}

// prepare makes the data folder, the host and client keys and authorized_keys (the
// rsync-only key forced through rrsync), and the privilege separation folder sshd
// insists on.
func (n *NAS) prepare(ctx context.Context, keygen string) error {
	rrsync, err := proc.LookBinary("rrsync")
	if err != nil {
		return fmt.Errorf("rsync-only account: %w (Debian's rsync package has it)", err)
	}
	if err := os.MkdirAll(n.Path, 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fmt.Errorf("create /run/sshd: %w", err)
	}
	for key, comment := range map[string]string{
		filepath.Join(n.Dir, "ssh_host_ed25519_key"): "picluster-testbed-nas-host",
		n.PrivateKeyFile: "picluster-testbed-nas-rsync-only",
		n.ShellKeyFile:   "picluster-testbed-nas-shell",
	} {
		cmd := exec.CommandContext(ctx, keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen %s: %w: %s", filepath.Base(key), err, strings.TrimSpace(string(out)))
		}
	}
	rsyncOnly, err := os.ReadFile(n.PrivateKeyFile + ".pub")
	if err != nil {
		return fmt.Errorf("read client public key: %w", err)
	}
	shell, err := os.ReadFile(n.ShellKeyFile + ".pub")
	if err != nil {
		return fmt.Errorf("read client public key: %w", err)
	}
	// rrsync runs only `rsync --server ...` (what the client's rsync asks for), confined to
	// Path; -absolute lets the client name Path itself, as it would on the Synology.
	forced := fmt.Sprintf("command=\"%s -absolute %s\",restrict ", rrsync, n.Path)
	keys := forced + string(rsyncOnly) + string(shell)
	return writeFile(filepath.Join(n.Dir, "authorized_keys"), []byte(keys), 0o600)
}

// sshdConfig is a complete config: nothing comes from /etc/ssh.
func (n *NAS) sshdConfig(port int, pidFile string) string {
	lines := []string{
		"# picluster testbed NAS: key auth only; no Subsystem sftp, like the Synology NAS",
		"ListenAddress " + hostPort(n.Host, port),
		"HostKey " + filepath.Join(n.Dir, "ssh_host_ed25519_key"),
		"PidFile " + pidFile,
		"AuthorizedKeysFile " + filepath.Join(n.Dir, "authorized_keys"),
		"AuthenticationMethods publickey",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + n.User,
		// Test folders live under /tmp (world-writable), which StrictModes rejects.
		"StrictModes no",
		"UseDNS no",
		"X11Forwarding no",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"PermitTunnel no",
		"PermitUserEnvironment no",
		"PrintMotd no",
		"PrintLastLog no",
		"MaxStartups 100",
		"LoginGraceTime 30",
		"LogLevel INFO",
	}
	return strings.Join(lines, "\n") + "\n"
}

// writeKnownHosts pins the host key for [Host]:Port.
func (n *NAS) writeKnownHosts() error {
	pub, err := os.ReadFile(filepath.Join(n.Dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		return fmt.Errorf("read host public key: %w", err)
	}
	f := strings.Fields(string(pub))
	if len(f) < 2 {
		return errors.New("read host public key: malformed")
	}
	line := fmt.Sprintf("[%s]:%d %s %s\n", n.Host, n.Port, f[0], f[1])
	return writeFile(n.KnownHostsFile, []byte(line), 0o644)
}

// sshBanner dials addr and reads the server's SSH identification line.
func sshBanner(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("%s: not an SSH banner: %q", addr, line)
	}
	return nil
}

// shellQuote quotes a path for a command line that rsync or a shell splits on spaces.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
