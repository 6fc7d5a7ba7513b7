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

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
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
	// Dir holds the logs. DataDir and SocketDir lie in a folder of their own on tmpfs
	// (/dev/shm, else the temp dir) that the postgres user can reach even when Dir is a
	// root-only t.TempDir; Stop removes it.
	Dir, DataDir, SocketDir string

	remove   []string
	uid, gid int // who runs postgres; 0 = the test's own user
}

// StartPostgres starts a fresh cluster (a copy of one initdb makes once per test process),
// listening on Host only, and creates database (default "postgres"); the superuser's
// password is password (ASCII; random when empty). As root it runs as the system user
// postgres, since postgres refuses to run as root. The password reaches the server only
// as a SCRAM verifier, so it is in no log and no file.
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
				// PostgreSQL's default shared_buffers, which Immich's postgres image and
				// CloudNativePG keep: with 32 MB, two GiST index builds at once (a
				// pg_restore --jobs 2 of Immich's geodata) thrashed the buffers and took
				// 2.5 times as long as one after the other.
				"-c", "shared_buffers=128MB", "-c", "max_connections=40",
				// Segments inside DataDir (tmpfs anyway), so a killed server leaks nothing
				// into /dev/shm.
				"-c", "dynamic_shared_memory_type=mmap",
			},
		})
	}
	ready := func(ctx context.Context, port int) error {
		return proc.WaitFor(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
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
	if err := p.setUp(ctx); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("start postgres: %w", err)
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

// prepare gives the server a copy of the template cluster and a socket folder, in a
// folder of its own that the postgres user can reach.
func (p *Postgres) prepare(ctx context.Context) error {
	tpl, err := pgTemplate(ctx, p.BinDir, p.uid, p.gid, filepath.Join(p.Dir, "initdb.log"))
	if err != nil {
		return err
	}
	base, err := os.MkdirTemp(pgDataRoot(), fmt.Sprintf("%s%d-", pgDirPrefix, os.Getpid()))
	if err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	p.remove = append(p.remove, base)
	p.DataDir, p.SocketDir = filepath.Join(base, "data"), filepath.Join(base, "sock")
	if err := os.Mkdir(p.SocketDir, 0o700); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	if p.uid != 0 {
		for _, path := range []string{base, p.SocketDir} {
			if err := os.Chown(path, p.uid, p.gid); err != nil {
				return fmt.Errorf("hand %s to the postgres user: %w", path, err)
			}
		}
	}
	return copyCluster(ctx, tpl, p.DataDir)
}

// setUp sets the superuser's password (as a SCRAM verifier) and creates the database,
// over the trusted unix socket.
func (p *Postgres) setUp(ctx context.Context) error {
	verifier, err := scramVerifier(p.Password)
	if err != nil {
		return err
	}
	args := []string{"-c", "ALTER ROLE " + quoteIdent(p.User) + " PASSWORD '" + verifier + "'"}
	if p.Database != "postgres" {
		args = append(args, "-c", "CREATE DATABASE "+quoteIdent(p.Database))
	}
	if out, err := p.localPsql(ctx, "postgres", args...); err != nil {
		return fmt.Errorf("set password and create database %s: %w: %s", p.Database, err, out)
	}
	return nil
}

// localPsql runs psql as the superuser over the unix socket (trusted), for set-up; each
// "-c" in args is its own transaction.
func (p *Postgres) localPsql(ctx context.Context, database string, args ...string) (string, error) {
	args = append([]string{"-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", p.SocketDir, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", database}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), args...)
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
