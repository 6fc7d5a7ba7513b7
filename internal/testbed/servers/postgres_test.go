package servers

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

func TestPostgresConnectAndStop(t *testing.T) {
	const password = `s3cret pa"ss'word-do-not-log`
	start := time.Now()
	p := PostgresT(t, Options{}, "immich", password)
	logStart(t, "postgres", start, p.Process)

	psql := filepath.Join(p.BinDir, "psql")
	run := func(env []string, sql string) (string, error) {
		cmd := exec.Command(psql, "-X", "-At", "-c", sql)
		cmd.Env = append(withoutPGEnv(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(p.Env(), "SELECT current_database() || ' ' || current_user")
	require.NoError(t, err, out)
	assert.Equal(t, "immich postgres\n", out)

	got, err := p.Exec(ctx(t), "CREATE TABLE assets (id int); INSERT INTO assets VALUES (1), (2); SELECT count(*) FROM assets")
	require.NoError(t, err)
	assert.Equal(t, "2", got)

	wrong := append(p.Env(), "PGPASSWORD=wrong-password")
	out, err = run(wrong, "SELECT 1")
	require.Error(t, err, "a wrong password is refused")
	assert.Contains(t, out, "password authentication failed")
	assert.NotContains(t, out, password)

	noPassword := append(p.Env(), "PGPASSWORD=")
	out, err = run(noPassword, "SELECT 1")
	require.Error(t, err, "TCP needs a password: %s", out)

	// Listens on Host only: another loopback address is refused.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(p.Port)), time.Second)
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "postgres must listen on 127.0.0.1 only")

	if os.Geteuid() == 0 {
		uid, _, err := lookupUser("postgres")
		require.NoError(t, err)
		st, err := os.Stat("/proc/" + strconv.Itoa(p.Process.PID()))
		require.NoError(t, err)
		assert.Equal(t, uid, statUID(st), "runs as the postgres user")
	}

	pids := p.Process.Tree()
	assert.Greater(t, len(pids), 3, "postmaster and its children")
	stopStart := time.Now()
	require.NoError(t, p.Stop())
	t.Logf("postgres stopped in %d ms", time.Since(stopStart).Milliseconds())
	require.NoError(t, p.Stop())
	assertGone(t, pids)
	_, err = os.Stat(p.DataDir)
	assert.True(t, os.IsNotExist(err), "the cluster is removed")

	// initdb.log exists only where this process's template cluster was made.
	for _, log := range []string{p.Process.LogFile, filepath.Join(p.Dir, "initdb.log")} {
		data, err := os.ReadFile(log)
		if os.IsNotExist(err) && filepath.Base(log) == "initdb.log" {
			continue
		}
		require.NoError(t, err)
		assert.NotContains(t, string(data), password, "%s must not hold the password", log)
		assert.NotContains(t, string(data), "wrong-password")
	}
}

func TestPostgresDefaultsAndPgDump(t *testing.T) {
	proc.RequireBinary(t, "pg_dump")
	PostgresT(t, Options{}, "", "") // the template cluster exists from here on
	started := time.Now()
	p := PostgresT(t, Options{}, "", "")
	logStart(t, "postgres (template ready)", started, p.Process)
	assert.Equal(t, "postgres", p.Database)
	assert.Len(t, p.Password, 32, "a random password")
	_, err := p.Exec(ctx(t), "CREATE TABLE t AS SELECT 1 AS x")
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_dump"), "-Fc", "-f", filepath.Join(t.TempDir(), "db.pgdump"))
	cmd.Env = append(withoutPGEnv(), p.Env()...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "pg_dump over TCP with the password: %s", out)
}

func TestScramVerifierFormat(t *testing.T) {
	v, err := scramVerifier("secret")
	require.NoError(t, err)
	assert.Regexp(t, `^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`, v)
	assert.NotContains(t, v, "secret")
	_, err = scramVerifier("pässword")
	assert.Error(t, err)
}
