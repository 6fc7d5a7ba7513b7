package servers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/testbed/proc"
)

// PostgresSuperuser is the role initdb creates; the password authenticates it over TCP.
const PostgresSuperuser = "postgres"

// Postgres is a running PostgreSQL server (Debian's 15) with password (SCRAM) auth over
// TCP on Host only, and trusted local connections on a unix socket in SocketDir.
type Postgres struct {
	// Host and Port are where it listens for TCP.
	Host string
	Port int
	// User, Password and Database are what a client logs in with (User is the superuser).
	User, Password, Database string
	// Process is the postmaster.
	Process *proc.Process
	// BinDir holds the matching client tools (psql, pg_dump, pg_restore).
	BinDir string
	// Dir holds the logs; DataDir and SocketDir may lie elsewhere when the postgres user
	// cannot reach Dir (a root-only t.TempDir).
	Dir, DataDir, SocketDir string

	remove   []string
	uid, gid int // who runs postgres; 0 = the test's own user
}

// StartPostgres initialises a fresh cluster, starts it and creates database (default
// "postgres"); the superuser's password is password (random when empty). As root it runs
// as the system user postgres, since postgres refuses to run as root. The password is
// handed over in a file that is removed at once, and never logged.
func StartPostgres(ctx context.Context, o Options, database, password string) (*Postgres, error) {
	o = o.withDefaults()
	if database == "" {
		database = "postgres"
	}
	if password == "" {
		password = RandomSecret(16)
	}
	bin, err := proc.LookBinary("postgres")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	dir, owned, err := workDir(o, "postgres")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Host: o.Host, User: PostgresSuperuser, Password: password, Database: database,
		BinDir: filepath.Dir(bin), Dir: dir}
	if owned {
		p.remove = append(p.remove, dir)
	}
	if os.Geteuid() == 0 {
		// postgres refuses to run as root.
		if p.uid, p.gid, err = lookupUser("postgres"); err != nil {
			_ = p.Stop()
			return nil, fmt.Errorf("start postgres as root: %w", err)
		}
	}
	if err := p.prepare(ctx); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	uid, gid := p.uid, p.gid
	start := func(port int) (*proc.Process, error) {
		return proc.Start(proc.Spec{
			Name: "postgres", Path: bin, Dir: filepath.Dir(p.DataDir), LogFile: filepath.Join(dir, "postgres.log"),
			NetNS: o.NetNS, UID: uid, GID: gid,
			// SIGINT is the fast shutdown; the postmaster stops its own children.
			StopSignal: syscall.SIGINT, SignalLeaderOnly: true,
			Args: []string{
				"-D", p.DataDir,
				"-c", "listen_addresses=" + o.Host,
				"-c", "port=" + strconv.Itoa(port),
				"-c", "unix_socket_directories=" + p.SocketDir,
				"-c", "logging_collector=off",
				"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
				"-c", "shared_buffers=32MB", "-c", "max_connections=40",
			},
		})
	}
	ready := func(ctx context.Context, port int) error {
		return proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "pg_isready"),
				"-q", "-t", "2", "-h", o.Host, "-p", strconv.Itoa(port))
			cmd.Env = withoutPGEnv()
			return cmd.Run() == nil, nil
		})
	}
	pr, port, err := startOnPort(ctx, o, "postgres", start, ready)
	if err != nil {
		_ = p.Stop()
		return nil, err
	}
	p.Process, p.Port = pr, port
	if database != "postgres" {
		sql := "CREATE DATABASE " + quoteIdent(database)
		if out, err := p.localPsql(ctx, "postgres", sql); err != nil {
			_ = p.Stop()
			return nil, fmt.Errorf("start postgres: create database %s: %w: %s", database, err, out)
		}
	}
	return p, nil
}

// Env is the libpq environment for a TCP client: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
func (p *Postgres) Env() []string {
	return []string{
		"PGHOST=" + p.Host,
		"PGPORT=" + strconv.Itoa(p.Port),
		"PGUSER=" + p.User,
		"PGPASSWORD=" + p.Password,
		"PGDATABASE=" + p.Database,
	}
}

// Exec runs SQL with psql over TCP with the password, as a client would, and returns the
// unaligned, tuples-only output.
func (p *Postgres) Exec(ctx context.Context, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Env = append(withoutPGEnv(), p.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql on %s: %w: %s", hostPort(p.Host, p.Port), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// Stop shuts Postgres down (fast shutdown) and removes the cluster; idempotent.
func (p *Postgres) Stop() error {
	return stopAndClean(p.Process, p.remove...)
}

// prepare picks the folders, runs initdb and writes pg_hba.conf.
func (p *Postgres) prepare(ctx context.Context) error {
	uid, gid := p.uid, p.gid
	base := p.Dir
	// The socket path must fit in sun_path (108 bytes), and the postgres user must be able
	// to reach the cluster (base itself is handed to it below); otherwise use a short folder of its own under the temp dir.
	if len(base)+len("/sock/.s.PGSQL.65535") > 100 || (uid != 0 && !traversable(filepath.Dir(base), uid, gid)) {
		var err error
		if base, err = os.MkdirTemp("", "picluster-pg-"); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		p.remove = append(p.remove, base)
	}
	p.DataDir, p.SocketDir = filepath.Join(base, "data"), filepath.Join(base, "sock")
	if err := os.MkdirAll(p.SocketDir, 0o700); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	pwfile := filepath.Join(base, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if uid != 0 {
		for _, path := range []string{base, p.SocketDir, pwfile} {
			if err := os.Chown(path, uid, gid); err != nil {
				return fmt.Errorf("hand %s to the postgres user: %w", path, err)
			}
		}
	}
	logPath := filepath.Join(p.Dir, "initdb.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open initdb log: %w", err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "initdb"),
		"-D", p.DataDir, "-U", p.User, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = base
	cmd.Env = withoutPGEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w\n--- end of %s:\n%s", err, logPath, proc.TailFile(logPath, 20))
	}
	// Password auth from anywhere that can reach Host (a test may sit in another netns);
	// the unix socket sits in a folder only postgres and root can enter.
	hba := "local all all trust\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"
	hbaPath := filepath.Join(p.DataDir, "pg_hba.conf")
	if err := os.WriteFile(hbaPath, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	if uid != 0 {
		if err := os.Chown(hbaPath, uid, gid); err != nil {
			return fmt.Errorf("hand pg_hba.conf to the postgres user: %w", err)
		}
	}
	return nil
}

// localPsql runs SQL as the superuser over the unix socket (trusted), for set-up.
func (p *Postgres) localPsql(ctx context.Context, database, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", p.SocketDir, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", database, "-c", sql)
	cmd.Env = withoutPGEnv()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// withoutPGEnv is the environment without libpq variables a developer may have set.
func withoutPGEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}
