package servers

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

func TestNASRsyncRoundTrip(t *testing.T) {
	start := time.Now()
	n := NAST(t, Options{})
	logStart(t, "nas sshd", start, n.Process)

	local := t.TempDir()
	content := "dump " + RandomSecret(8) + "\n"
	src := filepath.Join(local, "immich-20260101T020000Z.pgdump")
	require.NoError(t, os.WriteFile(src, []byte(content), 0o600))

	// Exactly how the backup script calls it: rsync -e "$BACKUP_RSYNC_RSH" FILE "$BACKUP_TARGET".
	sent := time.Now()
	upload := exec.Command("sh", "-c", `rsync -e "$RSH" "$SRC" "$TARGET/"`)
	upload.Env = append(os.Environ(), "RSH="+n.RsyncRSH(), "SRC="+src, "TARGET="+n.Target())
	out, err := upload.CombinedOutput()
	require.NoError(t, err, string(out))
	t.Logf("rsync upload took %d ms", time.Since(sent).Milliseconds())
	stored, err := os.ReadFile(filepath.Join(n.Path, filepath.Base(src)))
	require.NoError(t, err)
	assert.Equal(t, content, string(stored))

	back := t.TempDir()
	out, err = exec.Command("rsync", "-e", n.RsyncRSH(), n.Target()+"/"+filepath.Base(src), back+"/").CombinedOutput()
	require.NoError(t, err, string(out))
	got, err := os.ReadFile(filepath.Join(back, filepath.Base(src)))
	require.NoError(t, err)
	assert.Equal(t, content, string(got))

	listing, err := n.SSH(ctx(t), "ls "+n.Path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Base(src)+"\n", listing)
}

// The default key is rsync-only, like a Synology user without an admin shell: rsync
// works (inside Path only), a shell command does not.
func TestNASDefaultKeyIsRsyncOnly(t *testing.T) {
	n := NAST(t, Options{})
	args := append(strings.Fields(n.RsyncRSH())[1:], n.User+"@"+n.Host, "ls "+n.Path)
	out, err := exec.Command("ssh", args...).CombinedOutput()
	require.Error(t, err, "a shell command with the rsync-only key: %s", out)

	outside := exec.Command("rsync", "-e", n.RsyncRSH(), "--list-only", n.User+"@"+n.Host+":"+n.Dir+"/")
	out, err = outside.CombinedOutput()
	require.Error(t, err, "rsync outside Path: %s", out)

	out, err = exec.Command("rsync", "-e", n.RsyncRSH(), "--list-only", n.Target()+"/").CombinedOutput()
	require.NoError(t, err, "rsync inside Path: %s", out)
}

// BenchmarkNASConnection is the cost of one rsync connection (a listing) through the
// rsync-only account (rrsync, a Python script, checks the command) and the full shell.
func BenchmarkNASConnection(b *testing.B) {
	n := NAST(b, Options{})
	for name, rsh := range map[string]string{"rrsync": n.RsyncRSH(), "shell": n.ShellRsyncRSH()} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				out, err := exec.Command("rsync", "-e", rsh, "--list-only", n.Target()+"/").CombinedOutput()
				require.NoError(b, err, string(out))
			}
		})
	}
}

func TestNASRefuses(t *testing.T) {
	n := NAST(t, Options{})
	keygen := proc.RequireBinary(t, "ssh-keygen")
	other := filepath.Join(t.TempDir(), "other")
	require.NoError(t, exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", other).Run())
	pub, err := os.ReadFile(other + ".pub")
	require.NoError(t, err)
	f := strings.Fields(string(pub))
	wrongKnownHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(wrongKnownHosts,
		[]byte("[127.0.0.1]:"+strconv.Itoa(n.Port)+" "+f[0]+" "+f[1]+"\n"), 0o644))

	tests := map[string]struct {
		rsh  string
		want string
	}{
		"unknown client key": {
			rsh:  strings.Replace(n.RsyncRSH(), n.PrivateKeyFile, other, 1),
			want: "Permission denied",
		},
		"host key does not match known_hosts": {
			rsh:  strings.Replace(n.RsyncRSH(), n.KnownHostsFile, wrongKnownHosts, 1),
			want: "Host key verification failed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("rsync", "-e", tc.rsh, "/etc/hostname", n.Target()+"/").CombinedOutput()
			require.Error(t, err)
			assert.Contains(t, string(out), tc.want)
		})
	}

	t.Run("no sftp subsystem", func(t *testing.T) {
		args := append(strings.Fields(n.ShellRsyncRSH())[1:], "-s", n.User+"@"+n.Host, "sftp")
		cmd := exec.Command("ssh", args...)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "ssh -s sftp must fail: %s", out)
		assert.Contains(t, string(out), "subsystem request failed")
	})
}

func TestNASStopEndsSessionsAndKeepsKeysOutOfLogs(t *testing.T) {
	n := NAST(t, Options{})
	// An open session: its server-side processes leave sshd's process group (setsid).
	args := append(strings.Fields(n.ShellRsyncRSH())[1:], n.User+"@"+n.Host, "sleep 300")
	client := exec.Command("ssh", args...)
	require.NoError(t, client.Start())
	t.Cleanup(func() { _ = client.Process.Kill(); _ = client.Wait() })
	require.NoError(t, proc.WaitFor(ctx(t), 50*time.Millisecond, func(context.Context) (bool, error) {
		return len(n.Process.Tree()) >= 3, nil
	}), "sshd, its session and the remote sleep")
	pids := n.Process.Tree()
	require.NoError(t, n.Stop())
	require.NoError(t, n.Stop())
	assertGone(t, pids)

	key, err := os.ReadFile(n.PrivateKeyFile)
	require.NoError(t, err)
	shellKey, err := os.ReadFile(n.ShellKeyFile)
	require.NoError(t, err)
	hostKey, err := os.ReadFile(filepath.Join(n.Dir, "ssh_host_ed25519_key"))
	require.NoError(t, err)
	log, err := os.ReadFile(n.Process.LogFile)
	require.NoError(t, err)
	for _, secret := range [][]byte{key, shellKey, hostKey} {
		for _, line := range strings.Split(string(secret), "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") {
				assert.NotContains(t, string(log), line, "private key material in the sshd log")
			}
		}
	}
}
