package servers

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// Postgres clusters live on tmpfs when there is one: initdb takes 0.6 s there instead of
// 1.5 s on disk, and each server copies a cluster that initdb made once per test process
// (60 ms) instead of running initdb again. Folders are named picluster-pg-<pid>-..., so a
// later run removes what a killed test process left behind.
const pgDirPrefix = "picluster-pg-"

// pgDataRoot is /dev/shm when it is a writable folder, else the temp dir.
func pgDataRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && st.Mode().Perm()&0o002 != 0 {
		return "/dev/shm"
	}
	return os.TempDir()
}

// pgTemplates holds one initdb'd cluster per BinDir for this process.
var pgTemplates = struct {
	sync.Mutex
	byBinDir map[string]string
	swept    bool
}{byBinDir: map[string]string{}}

// pgTemplate returns a pristine cluster (trust everywhere, our pg_hba.conf) owned by
// uid/gid, made with initdb on first use; logPath receives initdb's output.
func pgTemplate(ctx context.Context, binDir string, uid, gid int, logPath string) (string, error) {
	pgTemplates.Lock()
	defer pgTemplates.Unlock()
	root := pgDataRoot()
	if !pgTemplates.swept {
		sweepStalePgDirs(root)
		pgTemplates.swept = true
	}
	if dir, ok := pgTemplates.byBinDir[binDir]; ok {
		if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
			return dir, nil
		}
	}
	base, err := os.MkdirTemp(root, fmt.Sprintf("%s%d-template-", pgDirPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create template dir: %w", err)
	}
	data := filepath.Join(base, "data")
	if uid != 0 {
		if err := os.Chown(base, uid, gid); err != nil {
			return "", fmt.Errorf("hand template dir to the postgres user: %w", err)
		}
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("open initdb log: %w", err)
	}
	defer logf.Close()
	// No password here: each server sets its own (as a SCRAM verifier) after it starts.
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", data, "-U", PostgresSuperuser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = base
	cmd.Env = withoutPGEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(base)
		return "", fmt.Errorf("initdb: %w\n--- end of %s:\n%s", err, logPath, proc.TailFile(logPath, 20))
	}
	// Password (SCRAM) auth over TCP from anywhere that can reach Host (a client may sit in
	// another netns); the unix socket sits in a folder only postgres and root can enter.
	hba := "local all all trust\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"
	hbaPath := filepath.Join(data, "pg_hba.conf")
	if err := os.WriteFile(hbaPath, []byte(hba), 0o600); err != nil {
		return "", fmt.Errorf("write pg_hba.conf: %w", err)
	}
	if uid != 0 {
		if err := os.Chown(hbaPath, uid, gid); err != nil {
			return "", fmt.Errorf("hand pg_hba.conf to the postgres user: %w", err)
		}
	}
	pgTemplates.byBinDir[binDir] = data
	return data, nil
}

// sweepStalePgDirs removes picluster-pg-<pid>-* folders whose process has ended.
func sweepStalePgDirs(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), pgDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || proc.Alive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(root, e.Name()))
	}
}

// copyCluster copies the template to dst, keeping owner and modes.
func copyCluster(ctx context.Context, template, dst string) error {
	out, err := exec.CommandContext(ctx, "cp", "-a", template, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy template cluster: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// scramVerifier computes what Postgres stores for a SCRAM-SHA-256 password (RFC 5802/7677,
// as pg_authid.rolpassword), so the password itself never reaches the server, its logs or
// pg_stat_activity. Only ASCII passwords: Postgres would SASLprep-normalise others.
func scramVerifier(password string) (string, error) {
	for _, r := range password {
		if r > 0x7e {
			return "", fmt.Errorf("postgres test password: only ASCII is supported")
		}
	}
	const iterations = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram key: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(server)), nil
}

// RemovePostgresTemplates removes the template clusters this process made (40 MB each on
// tmpfs). Call it from TestMain after m.Run; otherwise the next test run sweeps them.
func RemovePostgresTemplates() {
	pgTemplates.Lock()
	defer pgTemplates.Unlock()
	for binDir, data := range pgTemplates.byBinDir {
		_ = os.RemoveAll(filepath.Dir(data))
		delete(pgTemplates.byBinDir, binDir)
	}
}
