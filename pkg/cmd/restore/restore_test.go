package restore_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/immichdb"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/restore"
)

// The guided restore on the test bed: real pods run the restore's Jobs (backup.sh and
// restore.sh with Debian's PostgreSQL 15 tools and rsync) against the bed's real
// Postgres and the rsync-only NAS; Immich's Deployments are kwok's.

const restoreTimeout = 5 * time.Minute

// A backup, then the live data changed (rows deleted, added and changed, a table
// dropped), then restore --yes: every table equals the dump's row for row, Immich is
// back at its replicas, and the restore point holds the changed data.
func TestRestoreBringsBackTheDumpRowForRow(t *testing.T) {
	b := newBed(t)
	want := b.db.Checksums(t, immichdb.Tables)
	require.Len(t, want, len(immichdb.Tables))
	dump := b.backup(t)
	b.db.ChangeLiveData(t)
	changed := b.db.Checksums(t, immichdb.Tables)
	require.NotEqual(t, want, changed)

	r := b.plugin(t, restoreTimeout, "restore", "--backup", dump, "--yes", "--jobs", "2", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var rep restore.Report
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), r.Stdout)
	assert.Equal(t, restore.Succeeded, rep.Phase)
	assert.Equal(t, dump, rep.Backup)
	require.Len(t, rep.Steps, len(restore.Steps))
	for i, s := range rep.Steps {
		assert.Equal(t, restore.Steps[i], s.Step)
		assert.Equal(t, "done", s.Status, "%s: %s", s.Step, s.Detail)
		if s.Step == restore.StepRestore {
			// the parts of the step's time: the fetch from the pod's status, the rest
			// from restore.sh, which took the dump's rows from preflight
			assert.Regexp(t, `^fetched from the NAS in \d+s, pg_restore --jobs 2 done in \d+\.\ds, rows counted in \d+\.\ds$`, s.Detail)
		}
	}
	assert.Len(t, rep.Tables, len(immichdb.Tables))
	assert.Equal(t, b.replicas, rep.Replicas)
	assert.Contains(t, r.Stderr, "[4/7] restore the dump in a Job", "progress goes to stderr with -o json")

	assert.Equal(t, want, b.db.Checksums(t, immichdb.Tables), "every table as the dump has it, row for row")
	b.requireRunning(t)

	// the restore point: the changed data, restorable
	points := b.restorePoints(t)
	require.Len(t, points, 1)
	assert.Equal(t, rep.RestorePoint, points[0])
	assert.True(t, b.dumps(t)[points[0]+".sha256"], "the restore point's checksum is beside it")
	assert.NotContains(t, b.plugin(t, time.Minute, "backup", "list").Stdout, "restorepoint", "a restore point is not a backup")

	// the recorded progress and the Lease
	cm, err := b.Cluster.Client.CoreV1().ConfigMaps(b.Namespace).Get(context.Background(), b.Settings.Backup.CronJob+"-restore", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data["state.json"], `"phase": "Succeeded"`)
	_, err = b.Cluster.Client.CoordinationV1().Leases(b.Namespace).Get(context.Background(), b.Settings.Backup.CronJob+"-restore", metav1.GetOptions{})
	assert.Error(t, err, "the Lease is let go")

	// An on-call operator restores: a user who holds the bundle's picluster-operator
	// role through its group alone (kubectl's own --as flags), not an admin.
	t.Run("the restore point restores the changed data, as an operator", func(t *testing.T) {
		ri := b.plugin(t, time.Minute, "install", "--component", "rbac")
		require.Equal(t, 0, ri.Code, ri.All())
		t.Cleanup(func() { b.plugin(t, time.Minute, "uninstall", "--component", "rbac", "--yes") })
		// the control: without the group, the same user may not even read the plan
		r := b.plugin(t, time.Minute, "restore", "--backup", points[0], "--dry-run", "--as", "oncall@example.org", "--as-group", "system:authenticated")
		require.NotEqual(t, 0, r.Code, r.All())
		assert.Contains(t, r.Stderr, "forbidden")

		r = b.plugin(t, restoreTimeout, "restore", "--backup", points[0], "--yes",
			"--as", "oncall@example.org", "--as-group", b.Settings.RBAC.Group, "--as-group", "system:authenticated")
		require.Equal(t, 0, r.Code, r.All())
		assert.Equal(t, changed, b.db.Checksums(t, immichdb.Tables))
		assert.Contains(t, r.Stdout, "State: database "+b.db.Name+" is restored from "+points[0])
	})

	t.Run("resume after a finished restore has nothing to do", func(t *testing.T) {
		r := b.plugin(t, time.Minute, "restore", "--resume")
		assert.Equal(t, 2, r.Code, r.All())
		assert.Contains(t, r.Stderr, "no restore to resume")
	})
}

// Typing anything but the database's name, or nothing, changes nothing.
func TestRestoreAsksForTheDatabaseName(t *testing.T) {
	b := newBed(t)
	dump := b.backup(t)
	b.db.ChangeLiveData(t)
	live := b.db.Checksums(t, immichdb.Tables)
	versions := b.versions(t)
	files := b.dumps(t)
	for _, answer := range []string{"", "yes\n", "immich\n"} {
		r := plugintest.Runner{Stdin: answer, Timeout: restoreTimeout}.Run(t, append(b.base(), "restore", "--backup", dump)...)
		assert.Equal(t, 1, r.Code, r.All())
		assert.Contains(t, r.Stderr, "Type the database's name to restore it: ")
		assert.Contains(t, r.Stderr, "the restore was not confirmed")
		assert.Contains(t, r.Stderr, "nothing was changed")
	}
	assert.Equal(t, live, b.db.Checksums(t, immichdb.Tables))
	assert.Equal(t, versions, b.versions(t))
	assert.Equal(t, files, b.dumps(t), "no restore point")

	r := plugintest.Runner{Stdin: b.db.Name + "\n", Timeout: restoreTimeout}.Run(t, append(b.base(), "restore", "--backup", dump)...)
	require.Equal(t, 0, r.Code, r.All())
	assert.Contains(t, r.Stdout, "Restore plan: database "+b.db.Name+" from "+dump)
}

// A corrupt dump, one whose checksum differs and one that needs an extension the server
// lacks are refused at preflight: nothing changed, no restore point.
func TestRestoreRefusesBadDumpsAtPreflight(t *testing.T) {
	b := newBed(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pgdump")
	b.db.Dump(t, good)
	corrupt := filepath.Join(dir, "corrupt.pgdump")
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(corrupt, data[:len(data)/2], 0o600))
	vector := filepath.Join(dir, "vector.pgdump")
	immichdb.VectorDump(t, b.Monitoring.Postgres, vector)

	name := func(day int) string { return b.db.Name + "-2026010" + string(rune('0'+day)) + "T000000Z.pgdump" }
	b.upload(t, corrupt, name(1), "")
	b.upload(t, good, name(2), "not the dump")
	b.upload(t, vector, name(3), "")

	live := b.db.Checksums(t, immichdb.Tables)
	versions := b.versions(t)
	files := b.dumps(t)
	for dump, why := range map[string]string{
		name(1): "pg_restore cannot read the dump: corrupt or truncated",
		name(2): "does not match its checksum",
		name(3): "the server lacks an extension the dump needs",
	} {
		r := b.plugin(t, restoreTimeout, "restore", "--backup", dump, "--yes")
		assert.Equal(t, 1, r.Code, r.All())
		assert.Contains(t, r.Stderr, why, dump)
		assert.Contains(t, r.Stderr, "nothing was changed", dump)
	}
	assert.Contains(t, b.plugin(t, restoreTimeout, "restore", "--backup", name(3), "--yes").Stderr, "vector", "the missing extension is named")
	r := b.plugin(t, restoreTimeout, "restore", "--backup", b.db.Name+"-20260109T000000Z.pgdump", "--yes")
	assert.Equal(t, 2, r.Code, "a dump the NAS does not have is bad input: %s", r.All())
	assert.Contains(t, r.Stderr, "did you mean")

	assert.Equal(t, live, b.db.Checksums(t, immichdb.Tables))
	assert.Equal(t, versions, b.versions(t), "nothing changed in the cluster")
	assert.Equal(t, files, b.dumps(t), "no restore point")
}

// A restore Job that fails midway (the dump's data breaks after the schema part, so
// pg_restore stops while loading it) leaves the database as the restore point had it,
// and Immich back up.
func TestFailedRestoreRollsBackToTheRestorePoint(t *testing.T) {
	b := newBed(t)
	broken := filepath.Join(t.TempDir(), "broken.pgdump")
	b.db.BrokenDataDump(t, broken)
	name := b.db.Name + "-20260104T000000Z.pgdump"
	b.upload(t, broken, name, "")
	b.db.ChangeLiveData(t)
	live := b.db.Checksums(t, immichdb.Tables)

	r := b.plugin(t, restoreTimeout, "restore", "--backup", name, "--yes", "-o", "json")
	require.Equal(t, 1, r.Code, r.All())
	var rep restore.Report
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), r.Stdout)
	assert.Equal(t, restore.Failed, rep.Phase)
	assert.True(t, rep.RolledBack)
	assert.Contains(t, rep.Error, `invalid input syntax for type double precision: "2x"`)
	assert.Contains(t, rep.State, "is as restore point "+rep.RestorePoint+" had it")
	assert.Contains(t, rep.State, "is back at its recorded replicas")
	assert.Contains(t, r.Stderr, "Rolling back: restoring restore point")

	assert.Equal(t, live, b.db.Checksums(t, immichdb.Tables), "the database as the restore point had it")
	assert.Equal(t, "0", b.db.Psql(t, "select count(*) from pg_proc where proconfig is not null"), "the search_path fix is undone")
	b.requireRunning(t)

	r = b.plugin(t, time.Minute, "restore", "--resume")
	assert.Equal(t, 2, r.Code, r.All())
	assert.Contains(t, r.Stderr, "failed at")
}

// SIGINT once Immich was scaled down puts it back up (exit 130, the state in one line);
// a restore killed with SIGKILL is continued by --resume to its end; and while one
// restore runs, another is refused.
func TestInterruptedAndKilledRestores(t *testing.T) {
	b := newBed(t)
	want := b.db.Checksums(t, immichdb.Tables)
	dump := b.backup(t)
	b.db.ChangeLiveData(t)
	live := b.db.Checksums(t, immichdb.Tables)
	server := ""
	for name, n := range b.replicas {
		if n == 2 {
			server = name
		}
	}
	scaledDown := func(ctx context.Context) (bool, error) {
		d, err := b.Cluster.Client.AppsV1().Deployments(testbed.ImmichNamespace).Get(ctx, server, metav1.GetOptions{})
		return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 0, err
	}
	waitUntil := func(t *testing.T, p *plugintest.Process, what string, cond wait.ConditionWithContextFunc) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond), "%s\nstdout:\n%s\nstderr:\n%s", what, p.Stdout, p.Stderr)
	}
	args := append(b.base(), "restore", "--backup", dump, "--yes")

	t.Run("SIGINT after the scale-down", func(t *testing.T) {
		p := plugintest.Start(t, "", args...)
		waitUntil(t, p, "Immich scaled down", scaledDown)
		require.NoError(t, p.Cmd.Process.Signal(syscall.SIGINT))
		code := p.Wait(t, restoreTimeout)
		b.noSecret(t, p.Stdout.String()+p.Stderr.String())
		assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", p.Stdout, p.Stderr)
		assert.Regexp(t, `interrupted by SIGINT: the database (was not touched|is as restore point \S+ had it); Immich is back at its recorded replicas`, p.Stderr.String())
		b.requireRunning(t)
		assert.Equal(t, live, b.db.Checksums(t, immichdb.Tables))
	})

	t.Run("SIGKILL, then --resume", func(t *testing.T) {
		p := plugintest.Start(t, "", args...)
		waitUntil(t, p, "Immich scaled down", scaledDown)
		// the restore is under way: another one is refused
		r := b.plugin(t, time.Minute, "restore", "--backup", dump, "--yes")
		assert.Equal(t, 1, r.Code, r.All())
		assert.Contains(t, r.Stderr, "another restore is running")
		require.NoError(t, p.Cmd.Process.Kill())
		assert.Equal(t, 137, p.Wait(t, time.Minute))

		// a new restore is refused: this one must be continued
		r = b.plugin(t, time.Minute, "restore", "--backup", dump, "--yes")
		assert.Contains(t, []int{1, 2}, r.Code, r.All())
		assert.Regexp(t, `another restore is running|continue it with kubectl picluster restore --resume`, r.Stderr)

		start := time.Now()
		r = b.plugin(t, restoreTimeout, "restore", "--resume")
		require.Equal(t, 0, r.Code, r.All())
		t.Logf("resume took %s", time.Since(start).Round(time.Second))
		assert.Contains(t, r.Stdout, "Resuming restore ")
		assert.Equal(t, want, b.db.Checksums(t, immichdb.Tables), "the dump's data")
		b.requireRunning(t)
	})
}

// --dry-run prints the plan and writes nothing; its read-only kubectl commands run, and
// its changing ones pass the server's dry run.
func TestDryRunChangesNothing(t *testing.T) {
	b := newBed(t)
	dump := b.backup(t)
	versions := b.versions(t)
	files := b.dumps(t)
	live := b.db.Checksums(t, immichdb.Tables)

	r := b.plugin(t, time.Minute, "restore", "--backup", dump, "--dry-run")
	require.Equal(t, 0, r.Code, r.All())
	assert.Contains(t, r.Stdout, "Dry run: nothing was changed.")
	r = b.plugin(t, time.Minute, "restore", "--backup", dump, "--dry-run", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var plan restore.Plan
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &plan))
	require.Len(t, plan.Steps, len(restore.Steps))
	assert.Equal(t, b.replicas, plan.Replicas)

	assert.Equal(t, versions, b.versions(t))
	assert.Equal(t, files, b.dumps(t))
	assert.Equal(t, live, b.db.Checksums(t, immichdb.Tables))

	ran := 0
	for _, s := range plan.Steps {
		for _, c := range s.Commands {
			cmd, ok := runnable(c)
			if !ok {
				continue
			}
			out, err := b.shell(t, cmd)
			require.NoError(t, err, "%s: %s", c, out)
			ran++
		}
	}
	assert.GreaterOrEqual(t, ran, 6, "the plan's kubectl commands ran")
	assert.Equal(t, versions, b.versions(t), "the plan's commands, as run here, changed nothing")
}

// runnable returns a plan's kubectl command as run by the test: reads as they are,
// changes with the server's dry run; false for those that wait on something a
// restore does (pods going, a Job that is not there) or read a file.
func runnable(c string) (string, bool) {
	if !strings.HasPrefix(c, "kubectl ") || strings.HasPrefix(c, "kubectl picluster") {
		return "", false
	}
	for _, skip := range []string{" wait ", " logs ", " -f restore-job.yaml"} {
		if strings.Contains(c, skip) {
			return "", false
		}
	}
	if strings.Contains(c, " scale ") {
		return c + " --dry-run=server", true
	}
	if strings.HasSuffix(c, "kubectl create -f -") {
		return c + " --dry-run=server", true
	}
	return c, true
}

// shell runs a command line with the bed's kubectl and kubeconfig.
func (b *bed) shell(t *testing.T, line string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "kubectl")
	require.NoError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+b.Cluster.Kubectl+" --kubeconfig "+b.Cluster.Kubeconfig+" \"$@\"\n"), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; "+line)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Drills restore into a scratch database: a good dump passes; a dump whose restore
// leaves a table with other rows than the dump's fails naming the table; the live
// database is never touched.
func TestDrill(t *testing.T) {
	b := newBed(t)
	good := b.backup(t)
	live := b.db.Checksums(t, immichdb.Tables)
	admin := immichdb.DB{PG: b.Monitoring.Postgres, Name: "postgres"}
	databases := admin.Psql(t, "select string_agg(datname, ',' order by datname) from pg_database")

	r := b.plugin(t, restoreTimeout, "restore", "--drill", "--backup", "latest")
	require.Equal(t, 0, r.Code, r.All())
	assert.Regexp(t, good+`\s+passed\s+5\s+`, r.Stdout)

	// A schema whose restore writes another table's rows (a CHECK constraint whose
	// function writes an audit row): the data loads, but audit_log ends up with twice
	// the dump's rows. Serially (--jobs 1): a parallel pg_restore truncates each table
	// it made before loading its data, so audit rows written before that go again, and
	// whether they do depends on the order its workers take the tables in.
	b.db.Psql(t, `create table audit_log (id serial, note text not null);
		create function public.log_place(n text) returns boolean language plpgsql
			as $$ begin insert into public.audit_log (note) values (n); return true; end $$;
		alter table geodata_places add constraint place_logged check (public.log_place(name))`)
	tables := append([]string{"public.audit_log"}, immichdb.Tables...)
	live = b.db.Checksums(t, tables)
	bad := b.backup(t)

	r = b.plugin(t, restoreTimeout, "restore", "--drill", "--backup", bad, "--jobs", "1")
	assert.Equal(t, 1, r.Code, r.All())
	assert.Contains(t, r.Stderr, "public.audit_log")
	assert.Regexp(t, bad+`\s+differs`, r.Stdout)

	r = b.plugin(t, 2*restoreTimeout, "restore", "--drill", "--backup", "all", "--jobs", "1", "-o", "json")
	assert.Equal(t, 1, r.Code, r.All())
	var drills []restore.Drill
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &drills), r.Stdout)
	require.Len(t, drills, 2)
	assert.Equal(t, bad, drills[0].Backup)
	assert.Equal(t, "differs", drills[0].Result)
	assert.Equal(t, good, drills[1].Backup)
	assert.Equal(t, "passed", drills[1].Result)

	assert.Equal(t, live, b.db.Checksums(t, tables), "a drill never touches the live database")
	assert.Equal(t, databases, admin.Psql(t, "select string_agg(datname, ',' order by datname) from pg_database"), "the scratch databases are dropped")
}
