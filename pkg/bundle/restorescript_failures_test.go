package bundle

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/immichdb"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// pgDump dumps database db with the server's own pg_dump -Fc and the extra flags.
func (r *restoreBed) pgDump(t *testing.T, db string, flags ...string) string {
	t.Helper()
	path := filepath.Join(r.dir, db+strconv.Itoa(len(flags))+".pgdump")
	cmd := exec.Command(filepath.Join(r.pg.BinDir, "pg_dump"), append([]string{"-Fc", "-d", db, "-f", path}, flags...)...)
	cmd.Env = r.env(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "pg_dump: %s", out)
	return path
}

func (r *restoreBed) list(t *testing.T, dump string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(r.pg.BinDir, "pg_restore"), "--list", dump).CombinedOutput()
	return string(out), err
}

// needsVector makes a dump that needs pgvector's extension "vector", which Debian's
// server lacks: a dump of a database with contrib's intagg, every "intagg" replaced by
// "vector" (same length; the archive's TOC is not compressed, so it stays readable).
func (r *restoreBed) needsVector(t *testing.T) string {
	t.Helper()
	r.psql(t, "postgres", "create database withvector")
	r.psql(t, "withvector", "create extension intagg; create table embeddings (id int primary key); insert into embeddings values (1), (2)")
	orig, err := os.ReadFile(r.pgDump(t, "withvector"))
	require.NoError(t, err)
	path := filepath.Join(r.dir, "vector.pgdump")
	require.NoError(t, os.WriteFile(path, bytes.ReplaceAll(orig, []byte("intagg"), []byte("vector")), 0o600))
	toc, err := r.list(t, path)
	require.NoError(t, err, toc)
	require.Regexp(t, `EXTENSION - vector\b`, toc, "the trick works: the dump needs vector")
	require.Equal(t, "0", r.psql(t, "postgres", "select count(*) from pg_available_extensions where name = 'vector'"), "the server lacks vector")
	return path
}

// Every refusal comes before any change: the live database and the server's databases
// are as they were, in all three modes.
func TestRestoreScriptRefusesBeforeTouching(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		dump := r.dump(t)
		orig, err := os.ReadFile(dump)
		require.NoError(t, err)
		write := func(name string, data []byte) string {
			path := filepath.Join(r.dir, name)
			require.NoError(t, os.WriteFile(path, data, 0o600))
			return path
		}
		inTOC := write("toc-cut.pgdump", orig[:1500])
		inData := write("data-cut.pgdump", orig[:len(orig)*9/10])
		toc, err := r.list(t, inData)
		require.NoError(t, err, "a dump cut in its data section still lists (the TOC is at its start): %s", toc)
		garbage := write("garbage.pgdump", []byte("not a dump at all\n"))
		vector := r.needsVector(t)
		live := r.checksums(t, "immich", immichdb.Tables)
		dbs := r.databases(t)

		tests := map[string]struct {
			dump string
			env  []string
			code int
			want string
		}{
			"cut in the TOC":          {dump: inTOC, code: 3, want: "pg_restore --list cannot read"},
			"cut in the data section": {dump: inData, code: 3, want: "cannot read the data section"},
			"not a dump":              {dump: garbage, code: 3, want: "pg_restore --list cannot read"},
			"no such file":            {dump: filepath.Join(r.dir, "nothing.pgdump"), code: 3, want: "cannot read the dump file"},
			"extension missing":       {dump: vector, code: 4, want: "lacks extension(s) the dump needs: vector"},
			"wrong password":          {dump: dump, env: []string{"PGPASSWORD=wrong-" + dbPassword}, code: 5, want: "cannot connect to database immich"},
			"no such database":        {dump: dump, env: []string{"PGDATABASE=photos"}, code: 5, want: "cannot connect to database photos"},
			"server down":             {dump: dump, env: []string{"PGPORT=" + strconv.Itoa(proc.ClosedPort(t))}, code: 5, want: "cannot connect"},
			"jobs not a number":       {dump: dump, env: []string{"RESTORE_JOBS=two"}, code: 1, want: "RESTORE_JOBS must be"},
			"unsafe database name":    {dump: dump, env: []string{"PGDATABASE=a\"b"}, code: 1, want: "may hold only"},
		}
		for name, tc := range tests {
			for _, mode := range []string{"inspect", "restore", "drill"} {
				t.Run(name+"/"+mode, func(t *testing.T) {
					res := r.run(t, r.env(t, tc.env...), r.restore, mode, tc.dump)
					assert.Equal(t, tc.code, res.code, res.stdout+res.stderr)
					assert.Contains(t, res.stderr, tc.want)
					assert.NotContains(t, res.stdout, "verify")
					assert.NotContains(t, res.stdout+res.stderr, "wrong-"+dbPassword)
					if tc.code == 4 {
						assert.Contains(t, res.stdout, "extension vector missing")
					}
					assert.Equal(t, live, r.checksums(t, "immich", immichdb.Tables), "nothing touched")
					assert.Equal(t, dbs, r.databases(t), "no database created or left")
				})
			}
		}
	})
}

// A dump whose data breaks after the schema part: it reads in full (so inspect passes),
// but a value does not parse, so pg_restore stops while loading the data.
func TestRestoreScriptFailedRestoreExits6(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		orig, err := os.ReadFile(r.pgDump(t, "immich", "--compress=0"))
		require.NoError(t, err)
		// geodata_places row 2999: id, name, latitude (2999 % 170 - 85 = 24), longitude
		row := []byte("2999\tPlace 2999\t24\t")
		require.Equal(t, 1, bytes.Count(orig, row))
		path := filepath.Join(r.dir, "broken-data.pgdump")
		require.NoError(t, os.WriteFile(path, bytes.Replace(orig, row, []byte("2999\tPlace 2999\t2x\t"), 1), 0o600))

		res := r.run(t, r.env(t), r.restore, "inspect", path)
		require.Equal(t, 0, res.code, "the broken dump reads in full: %s%s", res.stdout, res.stderr)

		res = r.run(t, r.env(t), r.restore, "restore", path)
		assert.Equal(t, 6, res.code, res.stdout+res.stderr)
		assert.Contains(t, res.stderr, `invalid input syntax for type double precision: "2x"`, "pg_restore's own error")
		assert.Contains(t, res.stderr, "the database was touched")
		assert.Equal(t, "0", r.psql(t, "immich", "select count(*) from pg_proc where proconfig is not null"), "the search_path fix is undone after a failure")

		dbs := r.databases(t)
		live := r.checksums(t, "immich", immichdb.Tables)
		res = r.run(t, r.env(t), r.restore, "drill", path)
		assert.Equal(t, 6, res.code, res.stdout+res.stderr)
		assert.Equal(t, dbs, r.databases(t), "the scratch database is dropped")
		assert.Equal(t, live, r.checksums(t, "immich", immichdb.Tables), "a drill never writes the live database")
	})
}

func TestRestoreScriptDrill(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		dump := r.dump(t)
		live := r.checksums(t, "immich", immichdb.Tables)
		dbs := r.databases(t)

		res := r.run(t, r.env(t, "RESTORE_JOBS=2"), r.restore, "drill", dump)
		require.Equal(t, 0, res.code, res.stdout+res.stderr)
		t.Logf("drill took %s:\n%s", res.took.Round(time.Millisecond), res.stdout)
		assert.Regexp(t, `scratch database immich_drill_\d{14} created`, res.stdout)
		assert.Contains(t, res.stdout, "verify public.geodata_places dump=3000 restored=3000 ok\n")
		assert.Contains(t, res.stdout, "verify: ok 5 tables\n")
		assert.Equal(t, live, r.checksums(t, "immich", immichdb.Tables), "the live database is not touched")
		assert.Equal(t, dbs, r.databases(t), "the scratch database is dropped")

		t.Run("a chosen scratch database that exists is refused", func(t *testing.T) {
			r.psql(t, "postgres", "create database keepme")
			r.psql(t, "keepme", "create table precious (id int); insert into precious values (1)")
			res := r.run(t, r.env(t, "RESTORE_SCRATCH_DB=keepme"), r.restore, "drill", dump)
			assert.Equal(t, 1, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stderr, "the scratch database keepme exists already")
			assert.Equal(t, "1", r.psql(t, "keepme", "select count(*) from precious"), "left alone")
			res = r.run(t, r.env(t, "RESTORE_SCRATCH_DB=immich"), r.restore, "drill", dump)
			assert.Equal(t, 1, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stderr, "never restores into it")
			r.psql(t, "postgres", "drop database keepme")
		})

		// A schema whose restore changes another table's rows (a CHECK constraint whose
		// function writes an audit row, as a careless trigger-like design does): the data
		// loads without an error, but audit_log ends up with more rows than the dump has.
		t.Run("rows that differ fail the drill naming the table", func(t *testing.T) {
			r.psql(t, "immich", `create table audit_log (id serial, note text not null);
				create function public.log_place(n text) returns boolean language plpgsql
					as $$ begin insert into public.audit_log (note) values (n); return true; end $$;
				alter table geodata_places add constraint place_logged check (public.log_place(name))`)
			tables := append([]string{"public.audit_log"}, immichdb.Tables...)
			live := r.checksums(t, "immich", tables)
			res := r.run(t, r.env(t, "RESTORE_SCRATCH_DB=drill_check"), r.restore, "drill", r.dump(t))
			assert.Equal(t, 7, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stdout, "verify public.audit_log dump=3000 restored=6000 differs\n")
			assert.Contains(t, res.stdout, "verify public.geodata_places dump=3000 restored=3000 ok\n")
			assert.Contains(t, res.stdout, "verify: failed 1 of 6 tables\n")
			assert.Contains(t, res.stderr, "public.audit_log differs (dump 3000 rows, restored 6000)")
			assert.Contains(t, res.stdout, "scratch database drill_check dropped")
			assert.Equal(t, live, r.checksums(t, "immich", tables), "the live database is not touched")
			assert.Equal(t, dbs, r.databases(t), "the scratch database is dropped")
		})
	})
}

// SIGTERM (the kubelet stopping the Job's pod) and SIGINT stop pg_restore, undo the
// search_path fix and drop a drill's scratch database. pg_restore here is a stand-in
// that records its pid and waits, so the signal surely lands during the restore; the
// steps before it (inspect, CREATE DATABASE, the extensions, the fix) are real.
func TestRestoreScriptStopsOnSignals(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		dump := r.dump(t)
		real := filepath.Join(r.pg.BinDir, "pg_restore")
		fake := filepath.Join(r.dir, "fake-bin")
		require.NoError(t, os.MkdirAll(fake, 0o755))
		pidFile := filepath.Join(r.dir, "pg_restore.pid")
		require.NoError(t, os.WriteFile(filepath.Join(fake, "pg_restore"), []byte("#!/bin/sh\n"+
			"case \" $* \" in *\" --clean \"*) echo $$ >"+pidFile+"; exec sleep 300 ;; esac\nexec "+real+" \"$@\"\n"), 0o755))
		dbs := r.databases(t)

		// In a fixed order: the restore, stopped after it emptied the live database, comes
		// last, so that each drill's "not touched" compares with the loaded database (and
		// each compares with the database as it was before it, whatever ran earlier).
		tests := []struct {
			name   string
			mode   string
			signal syscall.Signal
			code   int
		}{
			{name: "drill SIGTERM", mode: "drill", signal: syscall.SIGTERM, code: 143},
			{name: "drill SIGINT", mode: "drill", signal: syscall.SIGINT, code: 130},
			{name: "restore SIGTERM", mode: "restore", signal: syscall.SIGTERM, code: 143},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				live := r.checksums(t, "immich", immichdb.Tables)
				require.NoError(t, os.RemoveAll(pidFile))
				cmd := exec.Command(r.sh.argv[0], append(r.sh.argv[1:len(r.sh.argv):len(r.sh.argv)], r.restore, tc.mode, dump)...)
				cmd.Env = r.env(t, "PATH="+fake+":"+r.pg.BinDir+":"+r.sh.path)
				var out testbed.SyncBuffer
				cmd.Stdout, cmd.Stderr = &out, &out
				require.NoError(t, cmd.Start())
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// The shell creates the pid file before echo writes to it: wait for the
				// whole line, not for the file, or the read can find it empty.
				var raw []byte
				require.NoError(t, proc.WaitFor(ctx, 20*time.Millisecond, func(context.Context) (bool, error) {
					var err error
					raw, err = os.ReadFile(pidFile)
					return err == nil && bytes.HasSuffix(raw, []byte("\n")) && strings.Contains(out.String(), "pg_restore --clean"), nil
				}), out.String())
				pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
				require.NoError(t, err)
				require.NoError(t, cmd.Process.Signal(tc.signal))
				err = cmd.Wait()
				var exitErr *exec.ExitError
				require.ErrorAs(t, err, &exitErr, out.String())
				assert.Equal(t, tc.code, exitErr.ExitCode(), out.String())
				assert.False(t, proc.Alive(pid), "pg_restore is stopped")
				assert.Contains(t, out.String(), "search_path fix undone")
				assert.Equal(t, "0", r.psql(t, "immich", "select count(*) from pg_proc where proconfig is not null"))
				assert.Equal(t, dbs, r.databases(t), "no scratch database left")
				if tc.mode == "drill" {
					assert.Equal(t, live, r.checksums(t, "immich", immichdb.Tables), "the live database is not touched")
				}
				assert.NotContains(t, out.String(), dbPassword)
			})
		}
	})
}
