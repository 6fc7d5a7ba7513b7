package bundle

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// The backup script, run outside Kubernetes by Debian's POSIX /bin/sh (dash) against a
// real PostgreSQL and rsync over a real sshd without SFTP, as the CronJob runs it; the
// tests run again under BusyBox alone (forEachBackupShell), as its Alpine images run it:
// what the CronJob does every week and the ways it fails.
// The NAS account is rsync-only (sshd forces the key through rrsync), like a Synology
// user without an admin shell.

const dbPassword = "s3cret-Pa55word-never-printed"

var dumpName = regexp.MustCompile(`^immich-\d{8}T\d{6}Z\.pgdump$`)

type backupBed struct {
	pg     *servers.Postgres
	nas    *servers.NAS
	sh     shell
	script string
	dir    string
}

// forEachBackupShell runs test in each shell (eachShell) with a backup bed.
func forEachBackupShell(t *testing.T, test func(t *testing.T, b *backupBed)) {
	eachShell(t, newBackupBed, test)
}

func newBackupBed(t *testing.T, sh shell) *backupBed {
	t.Helper()
	for _, b := range []string{"pg_dump", "pg_restore", "rsync", "ssh", "sha256sum"} {
		proc.RequireBinary(t, b)
	}
	nas := servers.NAST(t, servers.Options{})
	pg := servers.PostgresT(t, servers.Options{}, "immich", dbPassword)
	ctx := context.Background()
	_, err := pg.Exec(ctx, `create table asset (id serial primary key, name text not null);
		insert into asset (name) select 'IMG_' || g || '.jpg' from generate_series(1, 250) g;
		create table "user" (id serial primary key, email text);
		insert into "user" (email) values ('admin@example.test');`)
	require.NoError(t, err)
	dir := t.TempDir()
	script := filepath.Join(dir, "backup.sh")
	require.NoError(t, os.WriteFile(script, []byte(BackupScript()), 0o755))
	return &backupBed{pg: pg, nas: nas, sh: sh, script: script, dir: dir}
}

// env is the script's whole environment: nothing leaks in from the test's own.
func (b *backupBed) env(t *testing.T, overrides ...string) []string {
	t.Helper()
	pgDump, err := proc.LookBinary("pg_dump")
	require.NoError(t, err)
	env := []string{
		"PATH=" + filepath.Dir(pgDump) + ":" + b.sh.path,
		"HOME=" + b.dir, "TMPDIR=" + b.dir, "LC_ALL=C",
		"BACKUP_TARGET=" + b.nas.Target(),
		"BACKUP_RSYNC_RSH=" + b.nas.RsyncRSH(),
		"BACKUP_RETENTION=3",
	}
	env = append(env, b.pg.Env()...)
	return mergeEnv(env, overrides)
}

func mergeEnv(env, overrides []string) []string {
	out := append([]string{}, env...)
	for _, o := range overrides {
		k, _, _ := strings.Cut(o, "=")
		for i, e := range out {
			if strings.HasPrefix(e, k+"=") {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, o)
	}
	return out
}

// run runs the script and returns its combined output and exit code.
func (b *backupBed) run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.sh.argv[0], append(append(b.sh.argv[1:len(b.sh.argv):len(b.sh.argv)], b.script), args...)...)
	cmd.Env = env
	cmd.Dir = b.dir
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "run backup.sh: %s", out)
		code = exitErr.ExitCode()
	}
	assert.NotContains(t, string(out), dbPassword, "the password never appears in the output")
	return string(out), code
}

func (b *backupBed) nasFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(b.nas.Path)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestBackupScriptUploadsAValidDumpWithChecksum(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		out, code := b.run(t, b.env(t))
		require.Equal(t, 0, code, out)
		t.Logf("backup.sh:\n%s", out)

		files := b.nasFiles(t)
		require.Len(t, files, 2, "the dump and its checksum, nothing else (no leftover upload folder): %v", files)
		dump := files[0]
		assert.Regexp(t, dumpName, dump)
		assert.Equal(t, dump+".sha256", files[1])

		sum, err := os.ReadFile(filepath.Join(b.nas.Path, dump+".sha256"))
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{64}  `+regexp.QuoteMeta(dump)+"\n$", string(sum), "sha256sum format with the relative name")
		check := exec.Command("sha256sum", "-c", dump+".sha256")
		check.Dir = b.nas.Path
		checked, err := check.CombinedOutput()
		require.NoError(t, err, "sha256sum -c on the NAS: %s", checked)

		pgRestore, err := proc.LookBinary("pg_restore")
		require.NoError(t, err)
		list, err := exec.Command(pgRestore, "--list", filepath.Join(b.nas.Path, dump)).CombinedOutput()
		require.NoError(t, err, "pg_restore --list: %s", list)
		assert.Contains(t, string(list), "TABLE DATA public asset")

		// and it restores: the rows come back in a fresh database
		ctx := context.Background()
		_, err = b.pg.Exec(ctx, "create database restored")
		require.NoError(t, err)
		restore := exec.Command(pgRestore, "--no-owner", "--exit-on-error", "-d", "restored", filepath.Join(b.nas.Path, dump))
		restore.Env = b.env(t)
		restored, err := restore.CombinedOutput()
		require.NoError(t, err, "pg_restore: %s", restored)
		check2 := exec.Command(filepath.Join(b.pg.BinDir, "psql"), "-X", "-At", "-d", "restored", "-c", "select count(*) from asset")
		check2.Env = b.env(t)
		count, err := check2.CombinedOutput()
		require.NoError(t, err, "%s", count)
		assert.Equal(t, "250", strings.TrimSpace(string(count)))

		assert.Contains(t, out, "uploaded "+dump)
		leftovers, _ := filepath.Glob(filepath.Join(b.dir, "backup.??????")) // mktemp -d backup.XXXXXX
		assert.Empty(t, leftovers, "the local work folder is removed")
	})
}

func TestBackupScriptRetentionKeepsTheNewest(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		old := []string{"immich-20250105T023000Z", "immich-20250112T023000Z", "immich-20250119T023000Z", "immich-20250126T023000Z", "immich-20250202T023000Z"}
		others := []string{"README.txt", "immich-notes.txt", "photos-20200101T000000Z.pgdump"}
		for _, n := range old {
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, n+".pgdump"), []byte("old dump"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, n+".pgdump.sha256"), []byte("sum"), 0o644))
		}
		for _, n := range others {
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, n), []byte("not ours"), 0o644))
		}
		// an upload that never completed (no checksum), older than the newest dump
		orphan := "immich-20250101T000000Z.pgdump"
		require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, orphan), []byte("half a dump"), 0o644))

		out, code := b.run(t, b.env(t, "BACKUP_RETENTION=3"))
		require.Equal(t, 0, code, out)

		var dumps []string
		for _, f := range b.nasFiles(t) {
			if strings.HasPrefix(f, "immich-") && strings.HasSuffix(f, ".pgdump") {
				dumps = append(dumps, f)
				assert.FileExists(t, filepath.Join(b.nas.Path, f+".sha256"), "kept dumps keep their checksum")
			}
		}
		require.Len(t, dumps, 3, "retention 3: %v", dumps)
		assert.Equal(t, []string{"immich-20250126T023000Z.pgdump", "immich-20250202T023000Z.pgdump"}, dumps[:2])
		assert.Regexp(t, dumpName, dumps[2], "the new dump is the newest")
		for _, n := range old[:3] {
			assert.NoFileExists(t, filepath.Join(b.nas.Path, n+".pgdump"))
			assert.NoFileExists(t, filepath.Join(b.nas.Path, n+".pgdump.sha256"))
		}
		for _, n := range others {
			assert.FileExists(t, filepath.Join(b.nas.Path, n), "files that are not this database's dumps are left alone")
		}
		assert.NoFileExists(t, filepath.Join(b.nas.Path, orphan), "the piece of an upload that never completed is removed")

		// retention 1 keeps only the newest dump
		out, code = b.run(t, b.env(t, "BACKUP_RETENTION=1"))
		require.Equal(t, 0, code, out)
		var left []string
		for _, f := range b.nasFiles(t) {
			if dumpName.MatchString(f) {
				left = append(left, f)
			}
		}
		assert.Len(t, left, 1)
	})
}

func TestBackupScriptFailuresUploadNothing(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		fake := filepath.Join(b.dir, "fake-bin")
		require.NoError(t, os.MkdirAll(fake, 0o755))
		pgDump, err := proc.LookBinary("pg_dump")
		require.NoError(t, err)
		// a pg_dump that "succeeds" but writes garbage: pg_restore --list must catch it
		require.NoError(t, os.WriteFile(filepath.Join(fake, "pg_dump"), []byte("#!/bin/sh\n[ \"$1\" != --version ] || exec "+pgDump+
			" --version\nfor a; do case $a in --file=*) echo garbage > \"${a#--file=}\";; esac; done\n"), 0o755))
		closed := proc.ClosedPort(t)
		closedRSH := regexp.MustCompile(`-p \d+`).ReplaceAllString(b.nas.RsyncRSH(), "-p "+strconv.Itoa(closed))

		tests := map[string]struct {
			env  []string
			want string
		}{
			"wrong password":          {env: []string{"PGPASSWORD=wrong-" + dbPassword}, want: "cannot read the server's version"},
			"database does not exist": {env: []string{"PGDATABASE=photos"}, want: "cannot read the server's version"},
			"unreadable archive":      {env: []string{"PATH=" + fake + ":" + filepath.Dir(pgDump) + ":" + b.sh.path}, want: "pg_restore --list cannot read the dump"},
			"NAS unreachable":         {env: []string{"BACKUP_RSYNC_RSH=" + closedRSH}, want: "nothing uploaded"},
			"unknown NAS host key":    {env: []string{"BACKUP_RSYNC_RSH=" + regexp.MustCompile(`UserKnownHostsFile=\S+`).ReplaceAllString(b.nas.RsyncRSH(), "UserKnownHostsFile=/dev/null")}, want: "nothing uploaded"},
			"zero retention":          {env: []string{"BACKUP_RETENTION=0"}, want: "BACKUP_RETENTION must keep at least 1 dump"},
			"retention not a number":  {env: []string{"BACKUP_RETENTION=all"}, want: "BACKUP_RETENTION must be a whole number"},
			"target without a path":   {env: []string{"BACKUP_TARGET=pi@nas"}, want: "BACKUP_TARGET must look like user@host:/path"},
			"no target":               {env: []string{"BACKUP_TARGET="}, want: "BACKUP_TARGET is not set"},
			"no database":             {env: []string{"PGDATABASE="}, want: "PGDATABASE is not set"},
			"database name unsafe":    {env: []string{"PGDATABASE=a;b"}, want: "PGDATABASE may hold only"},
			"unknown mode":            {env: nil, want: "unknown mode"},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				args := []string{}
				if name == "unknown mode" {
					args = append(args, "everything")
				}
				out, code := b.run(t, b.env(t, tc.env...), args...)
				assert.NotEqual(t, 0, code, out)
				assert.Contains(t, out, tc.want)
				assert.Empty(t, b.nasFiles(t), "nothing reaches the NAS")
				assert.NotContains(t, out, "wrong-"+dbPassword)
			})
		}
	})
}

// The CronJob splits the script in two containers sharing a folder: dump, then upload.
func TestBackupScriptDumpThenUpload(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		work := filepath.Join(b.dir, "work")
		require.NoError(t, os.MkdirAll(work, 0o755))
		env := b.env(t, "BACKUP_WORKDIR="+work)

		// the dump container has no NAS settings at all
		dumpEnv := mergeEnv(env, []string{"BACKUP_TARGET=", "BACKUP_RSYNC_RSH=", "BACKUP_RETENTION="})
		out, code := b.run(t, dumpEnv, "dump")
		require.Equal(t, 0, code, out)
		local, err := filepath.Glob(filepath.Join(work, "immich-*"))
		require.NoError(t, err)
		require.Len(t, local, 2, "dump and checksum in the shared folder")
		assert.Empty(t, b.nasFiles(t), "dump uploads nothing")

		t.Run("a corrupted dump is not uploaded", func(t *testing.T) {
			dump := strings.TrimSuffix(local[0], ".sha256")
			orig, err := os.ReadFile(dump)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(dump, append(append([]byte{}, orig...), 'x'), 0o600))
			out, code := b.run(t, env, "upload")
			assert.NotEqual(t, 0, code)
			assert.Contains(t, out, "does not match its checksum; nothing uploaded")
			assert.Empty(t, b.nasFiles(t))
			require.NoError(t, os.WriteFile(dump, orig, 0o600))
		})

		// the upload container has no database password
		uploadEnv := mergeEnv(env, []string{"PGPASSWORD=", "PGHOST=", "PGUSER="})
		out, code = b.run(t, uploadEnv, "upload")
		require.Equal(t, 0, code, out)
		files := b.nasFiles(t)
		require.Len(t, files, 2, "%v", files)
		assert.Equal(t, filepath.Base(local[0]), files[0])
	})
}

// pg_dump refuses a server newer than itself; the script says so in one line naming both
// versions before it dumps anything. The server is the real one; the pg_dump is a fake
// one major version older than it that records whether it was asked to dump.
func TestBackupScriptRefusesAnOlderPgDump(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		ctx := context.Background()
		rows, err := b.pg.Exec(ctx, "SHOW server_version_num")
		require.NoError(t, err)
		num, err := strconv.Atoi(strings.TrimSpace(rows))
		require.NoError(t, err)
		serverMajor := num / 10000
		rows, err = b.pg.Exec(ctx, "SHOW server_version")
		require.NoError(t, err)
		serverVersion := strings.Fields(rows)[0]

		pgDump, err := proc.LookBinary("pg_dump")
		require.NoError(t, err)
		fake := filepath.Join(b.dir, "old-bin")
		require.NoError(t, os.MkdirAll(fake, 0o755))
		dumped := filepath.Join(b.dir, "dumped")
		older := fmt.Sprintf("%d.20", serverMajor-1)
		require.NoError(t, os.WriteFile(filepath.Join(fake, "pg_dump"), []byte("#!/bin/sh\n"+
			"[ \"$1\" != --version ] || { echo 'pg_dump (PostgreSQL) "+older+"'; exit 0; }\n"+
			"touch "+dumped+"\nexec "+pgDump+" \"$@\"\n"), 0o755))

		out, code := b.run(t, b.env(t, "PATH="+fake+":"+filepath.Dir(pgDump)+":"+b.sh.path))
		assert.NotEqual(t, 0, code, out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := lines[len(lines)-1]
		assert.Contains(t, last, "pg_dump "+older+" is older than the server (PostgreSQL "+serverVersion+")", "one line naming both versions")
		assert.Contains(t, last, fmt.Sprintf("postgres.majorVersion to %d", serverMajor))
		assert.NoFileExists(t, dumped, "refused before dumping")
		assert.Empty(t, b.nasFiles(t))

		// the real pg_dump (the server's own major) dumps, and says which versions it saw
		out, code = b.run(t, b.env(t))
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "server PostgreSQL "+serverVersion)
	})
}

// list and fetch, for the backup commands: through the rsync-only account, counting
// only dumps whose checksum arrived (the checksum marks a complete upload).
func TestBackupScriptListAndFetch(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		out, code := b.run(t, b.env(t))
		require.Equal(t, 0, code, out)
		var dump string
		for _, f := range b.nasFiles(t) {
			if dumpName.MatchString(f) {
				dump = f
			}
		}
		require.NotEmpty(t, dump)
		older := "immich-20250105T023000Z.pgdump"
		incomplete := "immich-20990101T000000Z.pgdump" // newer, but its checksum never arrived
		for name, content := range map[string]string{older: "old dump", older + ".sha256": "", incomplete: "partial", "photos-20250105T023000Z.pgdump": "x", "photos-20250105T023000Z.pgdump.sha256": "x"} {
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, name), []byte(content), 0o644))
		}

		out, code = b.run(t, b.env(t), "list")
		require.Equal(t, 0, code, out)
		assert.Equal(t, dump+"\n"+older+"\n", out, "complete dumps of this database, newest first")

		work := filepath.Join(b.dir, "fetched")
		require.NoError(t, os.MkdirAll(work, 0o755))
		env := b.env(t, "BACKUP_WORKDIR="+work)
		out, code = b.run(t, env, "fetch", "latest")
		require.Equal(t, 0, code, out)
		assert.Equal(t, filepath.Join(work, dump)+"\n", out)
		got, err := os.ReadFile(filepath.Join(work, dump))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(b.nas.Path, dump))
		require.NoError(t, err)
		assert.Equal(t, want, got)

		tests := map[string]struct {
			name, want string
		}{
			"unknown dump":       {name: "immich-20000101T000000Z.pgdump", want: "no complete dump immich-20000101T000000Z.pgdump"},
			"incomplete dump":    {name: incomplete, want: "no complete dump " + incomplete},
			"checksum mismatch":  {name: older, want: older + " does not match its checksum"},
			"not a name":         {name: "../../etc/passwd", want: "no complete dump"},
			"another database's": {name: "photos-20250105T023000Z.pgdump", want: "no complete dump"},
			"no name":            {name: "", want: "fetch needs a dump name"},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				out, code := b.run(t, env, "fetch", tc.name)
				assert.NotEqual(t, 0, code, out)
				assert.Contains(t, out, tc.want)
			})
		}
	})
}

// The same backup through a full-shell account (an administrator's): nothing in the
// script depends on the account being rsync-only either.
func TestBackupScriptWithAFullShellAccount(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		out, code := b.run(t, b.env(t, "BACKUP_RSYNC_RSH="+b.nas.ShellRsyncRSH()))
		require.Equal(t, 0, code, out)
		files := b.nasFiles(t)
		require.Len(t, files, 2, "%v", files)
		assert.Regexp(t, dumpName, files[0])
	})
}

// No partial dump is ever visible on the NAS: while a large dump uploads, every dump
// name in the folder holds the whole dump, and its checksum (the marker of a complete
// upload) appears only once the dump is there.
func TestBackupScriptUploadShowsNoPartialDump(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		work := filepath.Join(b.dir, "work")
		require.NoError(t, os.MkdirAll(work, 0o755))
		name := "immich-20260101T023000Z.pgdump"
		data := make([]byte, 32<<20)
		_, err := rand.Read(data)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(work, name), data, 0o600))
		sum := exec.Command("sha256sum", name)
		sum.Dir = work
		line, err := sum.Output()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(work, name+".sha256"), line, 0o600))

		done := make(chan struct{})
		var seen, violations []string
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				select {
				case <-done:
					return
				default:
				}
				entries, _ := os.ReadDir(b.nas.Path)
				names := map[string]int64{}
				for _, e := range entries {
					if info, err := e.Info(); err == nil {
						names[e.Name()] = info.Size()
					}
				}
				for n, size := range names {
					switch {
					case n == name && size != int64(len(data)):
						violations = append(violations, fmt.Sprintf("%s visible with %d of %d bytes", n, size, len(data)))
					case n == name+".sha256" && names[name] != int64(len(data)):
						violations = append(violations, "checksum visible before the whole dump")
					case strings.HasPrefix(n, "."):
						seen = append(seen, n)
					}
				}
			}
		}()
		out, code := b.run(t, b.env(t, "BACKUP_WORKDIR="+work), "upload")
		close(done)
		<-watched
		require.Equal(t, 0, code, out)
		assert.Empty(t, violations)
		t.Logf("hidden names seen during the upload: %d (rsync's temporary files)", len(seen))
		assert.Equal(t, []string{name, name + ".sha256"}, b.nasFiles(t))
	})
}

// Restore points (BACKUP_LABEL=restorepoint) are a series of their own: a labelled
// upload neither counts against nor removes plain dumps, a plain one never touches
// labelled dumps, and list and fetch see only their own series.
func TestBackupScriptLabelledDumps(t *testing.T) {
	forEachBackupShell(t, func(t *testing.T, b *backupBed) {
		plain := []string{"immich-20250101T000000Z.pgdump", "immich-20250102T000000Z.pgdump", "immich-20250103T000000Z.pgdump"}
		oldPoint := "immich-restorepoint-20250101T000000Z.pgdump"
		for _, n := range append(append([]string{}, plain...), oldPoint) {
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, n), []byte("old dump"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, n+".sha256"), []byte("sum"), 0o644))
		}
		halfPoint := "immich-restorepoint-20241231T000000Z.pgdump" // an upload that never completed
		require.NoError(t, os.WriteFile(filepath.Join(b.nas.Path, halfPoint), []byte("half"), 0o644))
		labelled := b.env(t, "BACKUP_LABEL=restorepoint")
		pointName := regexp.MustCompile(`^immich-restorepoint-\d{8}T\d{6}Z\.pgdump$`)

		out, code := b.run(t, mergeEnv(labelled, []string{"BACKUP_RETENTION=1"}))
		require.Equal(t, 0, code, out)
		var point string
		for _, f := range b.nasFiles(t) {
			if pointName.MatchString(f) {
				point = f
			}
		}
		require.NotEmpty(t, point, "the restore point is named <db>-<label>-<time>: %v", b.nasFiles(t))
		assert.NotEqual(t, oldPoint, point)
		assert.NoFileExists(t, filepath.Join(b.nas.Path, oldPoint), "retention 1 of the label removes its older dump")
		assert.NoFileExists(t, filepath.Join(b.nas.Path, halfPoint))
		for _, n := range plain {
			assert.FileExists(t, filepath.Join(b.nas.Path, n), "a labelled retention never removes plain dumps")
		}

		out, code = b.run(t, labelled, "list")
		require.Equal(t, 0, code, out)
		assert.Equal(t, point+"\n", out, "list with a label: its dumps only")
		out, code = b.run(t, b.env(t), "list")
		require.Equal(t, 0, code, out)
		assert.Equal(t, plain[2]+"\n"+plain[1]+"\n"+plain[0]+"\n", out, "list without a label: plain dumps only")

		// a plain backup with retention 2 keeps 2 plain dumps, whatever the labelled ones
		out, code = b.run(t, b.env(t, "BACKUP_RETENTION=2"))
		require.Equal(t, 0, code, out)
		assert.NoFileExists(t, filepath.Join(b.nas.Path, plain[0]))
		assert.NoFileExists(t, filepath.Join(b.nas.Path, plain[1]))
		assert.FileExists(t, filepath.Join(b.nas.Path, point), "a plain retention never removes labelled dumps")
		assert.FileExists(t, filepath.Join(b.nas.Path, point+".sha256"))
		assert.FileExists(t, filepath.Join(b.nas.Path, plain[2]))

		work := filepath.Join(b.dir, "fetched")
		require.NoError(t, os.MkdirAll(work, 0o755))
		out, code = b.run(t, mergeEnv(labelled, []string{"BACKUP_WORKDIR=" + work}), "fetch", "latest")
		require.Equal(t, 0, code, out)
		assert.Equal(t, filepath.Join(work, point)+"\n", out, "fetch latest with a label: the newest restore point")
		out, code = b.run(t, b.env(t, "BACKUP_WORKDIR="+work), "fetch", point)
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "no complete dump "+point, "fetch without a label does not see restore points")
		out, code = b.run(t, b.env(t, "BACKUP_WORKDIR="+work), "fetch", "latest")
		require.Equal(t, 0, code, out)
		assert.Regexp(t, `/immich-\d{8}T\d{6}Z\.pgdump\n$`, out, "fetch latest without a label: the newest plain dump")

		// dump and upload (the CronJob's two containers) each keep to their series in a
		// shared folder
		shared := filepath.Join(b.dir, "shared")
		require.NoError(t, os.MkdirAll(shared, 0o755))
		for _, env := range [][]string{labelled, b.env(t)} {
			out, code = b.run(t, mergeEnv(env, []string{"BACKUP_WORKDIR=" + shared}), "dump")
			require.Equal(t, 0, code, out)
		}
		before := len(b.nasFiles(t))
		out, code = b.run(t, mergeEnv(labelled, []string{"BACKUP_WORKDIR=" + shared, "BACKUP_RETENTION=5"}), "upload")
		require.Equal(t, 0, code, out)
		assert.Regexp(t, `uploaded immich-restorepoint-\d{8}T\d{6}Z\.pgdump and`, out)
		assert.Len(t, b.nasFiles(t), before+2, "the labelled dump and its checksum only")

		for _, bad := range []string{"Restore", "restore-point", "a b", "x/y", "point*"} {
			t.Run("label "+bad, func(t *testing.T) {
				before := b.nasFiles(t)
				out, code := b.run(t, b.env(t, "BACKUP_LABEL="+bad))
				assert.NotEqual(t, 0, code, out)
				assert.Contains(t, out, "BACKUP_LABEL may hold only lower-case letters and digits")
				assert.Equal(t, before, b.nasFiles(t), "nothing uploaded or removed")
			})
		}
	})
}
