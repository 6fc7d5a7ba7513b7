package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/immichdb"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// The restore script, run outside Kubernetes against a real PostgreSQL 15 whose contrib
// has cube and earthdistance, as the restore and drill Jobs run it, by two shells with
// their tools (forEachShell): Debian's POSIX /bin/sh (dash) with GNU's tools, and
// BusyBox's ash with BusyBox's tools alone, as in the backup's Alpine images
// (postgres:*-alpine has BusyBox and the Postgres client tools, no GNU tools). The
// database is Immich-like: foreign keys, and geodata built on
// earthdistance the way Immich's geodata_places is (a generated earth column with a
// GiST index, and an index on ll_to_earth), which a plain pg_restore cannot restore
// (immich-app/immich#5630).

type restoreBed struct {
	pg      *servers.Postgres
	sh      shell
	dir     string
	backup  string // backup.sh
	restore string // restore.sh
}

// shell runs the scripts: argv is the shell, path the PATH after the Postgres tools.
type shell struct {
	name string
	argv []string
	path string
}

// dash is Debian's /bin/sh with GNU's tools.
var dash = shell{name: "dash", argv: []string{"/bin/sh"}, path: "/usr/local/bin:/usr/bin:/bin"}

// shells are dash and BusyBox: its ash, and a PATH of its applets with rsync and ssh
// beside them, as the upload image (rsync-ssh on Alpine) has them.
func shells(t *testing.T) []shell {
	busybox := proc.RequireBinary(t, "busybox")
	applets := t.TempDir()
	out, err := exec.Command(busybox, "--list").Output()
	require.NoError(t, err)
	for _, name := range strings.Fields(string(out)) {
		require.NoError(t, os.Symlink(busybox, filepath.Join(applets, name)))
	}
	for _, tool := range []string{"rsync", "ssh"} {
		require.NoError(t, os.Symlink(proc.RequireBinary(t, tool), filepath.Join(applets, tool)))
	}
	return []shell{dash, {name: "busybox", argv: []string{busybox, "sh"}, path: applets}}
}

// eachShell runs test once with dash and GNU's tools, once with BusyBox alone, each
// with a bed of its own made by bed.
func eachShell[B any](t *testing.T, bed func(*testing.T, shell) B, test func(*testing.T, B)) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) { test(t, bed(t, sh)) })
	}
}

// forEachShell runs test in each shell with a restore bed.
func forEachShell(t *testing.T, test func(t *testing.T, r *restoreBed)) {
	eachShell(t, newRestoreBed, test)
}

func newRestoreBed(t *testing.T, sh shell) *restoreBed {
	t.Helper()
	for _, b := range []string{"pg_dump", "pg_restore", "psql", "sha256sum"} {
		proc.RequireBinary(t, b)
	}
	pg := servers.PostgresT(t, servers.Options{}, "immich", dbPassword)
	_, err := pg.Exec(context.Background(), immichdb.Schema)
	require.NoError(t, err)
	dir := t.TempDir()
	r := &restoreBed{pg: pg, sh: sh, dir: dir, backup: filepath.Join(dir, "backup.sh"), restore: filepath.Join(dir, "restore.sh")}
	require.NoError(t, os.WriteFile(r.backup, []byte(BackupScript()), 0o755))
	require.NoError(t, os.WriteFile(r.restore, []byte(RestoreScript()), 0o755))
	return r
}

// env is the scripts' whole environment: nothing leaks in from the test's own.
func (r *restoreBed) env(t *testing.T, overrides ...string) []string {
	t.Helper()
	env := []string{"PATH=" + r.pg.BinDir + ":" + r.sh.path, "HOME=" + r.dir, "TMPDIR=" + r.dir, "LC_ALL=C"}
	return mergeEnv(append(env, r.pg.Env()...), overrides)
}

// result is one run of a script.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r *restoreBed) run(t *testing.T, env []string, script string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.sh.argv[0], append(append(r.sh.argv[1:len(r.sh.argv):len(r.sh.argv)], script), args...)...)
	cmd.Env = env
	cmd.Dir = r.dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if err != nil {
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "run %s: %s%s", filepath.Base(script), res.stdout, res.stderr)
		res.code = exitErr.ExitCode()
	}
	assert.NotContains(t, res.stdout+res.stderr, dbPassword, "the password never appears in the output")
	return res
}

// dump writes a dump of the live database with backup.sh's dump step (pg_dump -Fc,
// checked with pg_restore --list) and returns its path.
func (r *restoreBed) dump(t *testing.T) string {
	t.Helper()
	work, err := os.MkdirTemp(r.dir, "dump-")
	require.NoError(t, err)
	res := r.run(t, r.env(t, "BACKUP_WORKDIR="+work), r.backup, "dump")
	require.Equal(t, 0, res.code, res.stdout+res.stderr)
	dumps, err := filepath.Glob(filepath.Join(work, "immich-*.pgdump"))
	require.NoError(t, err)
	require.Len(t, dumps, 1)
	return dumps[0]
}

// psql runs SQL in database db (unaligned, tuples only).
func (r *restoreBed) psql(t *testing.T, db, sql string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(r.pg.BinDir, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql)
	cmd.Env = r.env(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "psql -d %s: %s", db, out)
	return strings.TrimRight(string(out), "\n")
}

// checksums is an md5 of every row of each table, in a fixed order: equal checksums
// mean equal data, row for row. A missing table has no entry.
func (r *restoreBed) checksums(t *testing.T, db string, tables []string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, table := range tables {
		if r.psql(t, db, "select to_regclass('"+table+"') is not null") != "t" {
			continue
		}
		sums[table] = r.psql(t, db, "select count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from only "+table+" t")
	}
	return sums
}

func (r *restoreBed) databases(t *testing.T) []string {
	t.Helper()
	return strings.Split(r.psql(t, "postgres", "select datname from pg_database order by 1"), "\n")
}

// changeLiveData deletes rows, adds rows and drops a table: what a restore must undo.
func (r *restoreBed) changeLiveData(t *testing.T) {
	t.Helper()
	r.psql(t, "immich", `delete from assets where original_path like '%7.jpg';
		insert into users (email, name) values ('intruder@example.test', 'Intruder');
		update geodata_places set name = 'Renamed' where id < 100;
		drop table album_assets`)
}

var verifyLine = regexp.MustCompile(`(?m)^verify (\S+) dump=(\d+) restored=(\S+) (ok|differs|missing)$`)

func TestRestoreScriptRestoresAnImmichLikeDatabase(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		before := r.checksums(t, "immich", immichdb.Tables)
		require.Len(t, before, len(immichdb.Tables))
		dump := r.dump(t)

		// A plain pg_restore of the same dump fails on the search_path pg_dump sets: the
		// problem the script fixes (immich-app/immich#5630).
		r.psql(t, "postgres", "create database plain")
		plain := exec.Command(filepath.Join(r.pg.BinDir, "pg_restore"), "--no-owner", "--exit-on-error", "-d", "plain", dump)
		plain.Env = r.env(t)
		out, err := plain.CombinedOutput()
		require.Error(t, err, "a plain pg_restore of an earthdistance database fails: %s", out)
		assert.Contains(t, string(out), `type "earth" does not exist`)

		r.changeLiveData(t)
		require.NotEqual(t, before, r.checksums(t, "immich", immichdb.Tables))

		for _, jobs := range []string{"2", "1"} {
			res := r.run(t, r.env(t, "RESTORE_JOBS="+jobs), r.restore, "restore", dump)
			require.Equal(t, 0, res.code, "RESTORE_JOBS=%s\n%s%s", jobs, res.stdout, res.stderr)
			t.Logf("restore.sh restore with RESTORE_JOBS=%s took %s:\n%s", jobs, res.took.Round(time.Millisecond), res.stdout)
			assert.Equal(t, before, r.checksums(t, "immich", immichdb.Tables), "every table equals the dump's, row for row")
			assert.Contains(t, res.stdout, "--jobs "+jobs+" into immich")
			verified := verifyLine.FindAllStringSubmatch(res.stdout, -1)
			require.Len(t, verified, len(immichdb.Tables))
			for _, v := range verified {
				assert.Equal(t, "ok", v[4], v[0])
				assert.Equal(t, strings.Fields(before[v[1]])[0], v[2], "the dump's rows of %s, counted from the dump", v[1])
			}
			lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
			assert.Equal(t, "verify: ok 5 tables", lines[len(lines)-1])
			assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ restore: `, lines[0], "progress lines carry a UTC time")
			// the search_path fix is undone: no function of the database has settings of its own
			assert.Equal(t, "0", r.psql(t, "immich", "select count(*) from pg_proc where proconfig is not null"))
			// and the geodata works for a client with the default search_path
			assert.Equal(t, "t", r.psql(t, "immich", "select earth_distance(ll_to_earth(0, 0), \"earthCoord\") > 0 from geodata_places where id = 10"))
			r.changeLiveData(t)
		}
	})
}

// What the live database has and the dump has not goes: a table made since the dump that
// references one of the dump's tables (which stopped --clean's drops), a schema of its
// own, an extension the dump lacks. public keeps its owner, privileges and comment.
func TestRestoreScriptLeavesOnlyTheDump(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		before := r.checksums(t, "immich", immichdb.Tables)
		dump := r.dump(t)
		publicACL := r.psql(t, "immich", "select nspowner::regrole || ' ' || nspacl::text || ' ' || obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'public'")
		r.psql(t, "immich", `create table asset_faces (id serial primary key, asset_id uuid references assets(id));
			insert into asset_faces (asset_id) select id from assets limit 10;
			create schema vectors; create table vectors.embeddings (id int);
			create extension pg_trgm`)

		res := r.run(t, r.env(t, "RESTORE_JOBS=2"), r.restore, "restore", dump)
		require.Equal(t, 0, res.code, res.stdout+res.stderr)
		assert.Contains(t, res.stdout, "cleared immich")
		assert.Equal(t, before, r.checksums(t, "immich", immichdb.Tables))
		assert.Equal(t, "f", r.psql(t, "immich", "select to_regclass('public.asset_faces') is not null"), "a table the dump lacks is gone")
		assert.Equal(t, "0", r.psql(t, "immich", "select count(*) from pg_namespace where nspname = 'vectors'"))
		assert.Equal(t, "cube,earthdistance,plpgsql", r.psql(t, "immich", "select string_agg(extname, ',' order by extname) from pg_extension"))
		assert.Equal(t, publicACL, r.psql(t, "immich", "select nspowner::regrole || ' ' || nspacl::text || ' ' || obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'public'"))
	})
}

func TestRestoreScriptInspect(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		// rows that read like the lines that start and end a table's data in the stream
		r.psql(t, "immich", `create table tricky (t text); insert into tricky values ('COPY public.users (id) FROM stdin;'), ('\.'), (E'\\.'), ('a')`)
		dump := r.dump(t)
		res := r.run(t, r.env(t), r.restore, "inspect", dump)
		require.Equal(t, 0, res.code, res.stdout+res.stderr)
		assert.Contains(t, res.stdout, "\ntable public.tricky 4\n", "every row counted, none taken for a block's start or end")
		r.psql(t, "immich", "drop table tricky")
		dump = r.dump(t)
		live := r.checksums(t, "immich", immichdb.Tables)
		version := r.psql(t, "immich", "show server_version")

		res = r.run(t, r.env(t), r.restore, "inspect", dump)
		require.Equal(t, 0, res.code, res.stdout+res.stderr)
		want := []string{"server " + strings.Fields(version)[0], "extension cube available", "extension earthdistance available"}
		for _, table := range immichdb.Tables {
			want = append(want, "table "+table+" "+strings.Fields(live[table])[0])
		}
		want = append(want, "inspect: ok")
		assert.Equal(t, strings.Join(want, "\n")+"\n", res.stdout, "rows as count(*) of the live database counts them")
		assert.Empty(t, res.stderr)
		assert.Equal(t, live, r.checksums(t, "immich", immichdb.Tables), "inspect touches nothing")
	})
}

// The restore command gives restore.sh the rows its preflight inspection counted
// (RESTORE_DUMP_ROWS) with the dump's size, so the restore does not read the whole data
// section again: the rows given are the ones the restored tables are compared with, a
// file of another size is refused untouched, and the counting runs on RESTORE_JOBS
// connections.
func TestRestoreScriptTakesTheInspectedRows(t *testing.T) {
	forEachShell(t, func(t *testing.T, r *restoreBed) {
		before := r.checksums(t, "immich", immichdb.Tables)
		dump := r.dump(t)
		info, err := os.Stat(dump)
		require.NoError(t, err)
		size := strconv.FormatInt(info.Size(), 10)
		res := r.run(t, r.env(t), r.restore, "inspect", dump)
		require.Equal(t, 0, res.code, res.stdout+res.stderr)
		var rows []string
		for _, line := range strings.Split(res.stdout, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "table" {
				rows = append(rows, f[2]+" "+f[1])
			}
		}
		require.Len(t, rows, len(immichdb.Tables))
		given := strings.Join(rows, "\n") + "\n"
		r.changeLiveData(t)
		changed := r.checksums(t, "immich", immichdb.Tables)

		t.Run("another size is refused before anything is touched", func(t *testing.T) {
			res := r.run(t, r.env(t, "RESTORE_DUMP_ROWS="+given, "RESTORE_DUMP_SIZE=1"+size), r.restore, "restore", dump)
			assert.Equal(t, 3, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stderr, "not the inspected dump")
			assert.Equal(t, changed, r.checksums(t, "immich", immichdb.Tables))
		})
		t.Run("rows that are not a count are refused", func(t *testing.T) {
			res := r.run(t, r.env(t, "RESTORE_DUMP_ROWS=public.users 25"), r.restore, "restore", dump)
			assert.Equal(t, 1, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stderr, "RESTORE_DUMP_ROWS must hold")
			assert.Equal(t, changed, r.checksums(t, "immich", immichdb.Tables))
		})
		t.Run("the given rows are what the restored tables are compared with", func(t *testing.T) {
			wrong := strings.Replace(given, " public.users", "0 public.users", 1)
			res := r.run(t, r.env(t, "RESTORE_DUMP_ROWS="+wrong, "RESTORE_DUMP_SIZE="+size), r.restore, "restore", dump)
			assert.Equal(t, 7, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stderr, "public.users differs")
			r.changeLiveData(t)
		})
		t.Run("the dump's data section is read once", func(t *testing.T) {
			res := r.run(t, r.env(t, "RESTORE_DUMP_ROWS="+given, "RESTORE_DUMP_SIZE="+size, "RESTORE_JOBS=2"), r.restore, "restore", dump)
			require.Equal(t, 0, res.code, res.stdout+res.stderr)
			assert.Contains(t, res.stdout, "its data section is not read again")
			assert.NotContains(t, res.stdout, "read the dump's data section")
			assert.Regexp(t, `restore: pg_restore done in \d+\.\ds\n`, res.stdout)
			assert.Regexp(t, `restore: counted the restored rows of 5 tables in \d+\.\ds with 2 connection\(s\)\n`, res.stdout)
			assert.Len(t, verifyLine.FindAllString(res.stdout, -1), len(immichdb.Tables))
			assert.Equal(t, before, r.checksums(t, "immich", immichdb.Tables), "every table equals the dump's, row for row")
		})
	})
}
