package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// plugin runs `kubectl picluster` on the seed's backup with its kubeconfig and settings.
func plugin(t *testing.T, b *seed.Backup, timeout time.Duration, args ...string) plugintest.Result {
	t.Helper()
	base := []string{"--kubeconfig", b.Cluster.Kubeconfig, "--config", b.Config}
	return plugintest.Runner{Timeout: timeout}.Run(t, append(base, args...)...)
}

// kubectl runs the bed's kubectl and returns stdout, failing the test on an error.
func kubectl(t *testing.T, b *seed.Backup, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	c := exec.CommandContext(ctx, b.Cluster.Kubectl, append([]string{"--kubeconfig", b.Cluster.Kubeconfig, "-n", b.Namespace}, args...)...)
	c.Stdout, c.Stderr = &out, &errOut
	require.NoError(t, c.Run(), errOut.String())
	return out.String()
}

func getJob(t *testing.T, b *seed.Backup, name string) *batchv1.Job {
	t.Helper()
	j, err := b.Cluster.Client.BatchV1().Jobs(b.Namespace).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return j
}

func jobNames(t *testing.T, b *seed.Backup) []string {
	t.Helper()
	list, err := b.Cluster.Client.BatchV1().Jobs(b.Namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

// comparable drops what the API server gives every Job of its own (its uid in the
// selector and labels, its name in job-name labels), so that two Jobs made from the
// same CronJob compare equal.
func comparable(j *batchv1.Job) (map[string]string, map[string]string, []metav1.OwnerReference, batchv1.JobSpec) {
	strip := func(l map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			switch k {
			case "controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name":
				continue
			}
			out[k] = v
		}
		return out
	}
	spec := *j.Spec.DeepCopy()
	spec.Selector = nil
	spec.Template.Labels = strip(spec.Template.Labels)
	return strip(j.Labels), j.Annotations, j.OwnerReferences, spec
}

func TestRunFollowBacksUpForReal(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	ctx := context.Background()
	_, err := b.Monitoring.Postgres.Exec(ctx, `CREATE TABLE IF NOT EXISTS assets (id serial PRIMARY KEY, name text);
		INSERT INTO assets (name) SELECT 'photo-' || g FROM generate_series(1, 1000) g;`)
	require.NoError(t, err)

	// Before any run: never run, a young CronJob, so not stale.
	r := plugin(t, b, 0, "backup", "status")
	require.Equal(t, 0, r.Code, r.All())
	assert.Regexp(t, `(?m)^postgres-backup\s+30 2 \* \* 0\s+false\s+20\d\d-\d\d-\d\d 02:30 UTC \(in .*\)\s+never\s+-\s+-$`, r.Stdout)

	began := time.Now()
	r = plugin(t, b, 3*time.Minute, "backup", "run", "--follow", "--timeout", "2m")
	wall := time.Since(began)
	require.Equal(t, 0, r.Code, r.All())
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	name := lines[0]
	require.Regexp(t, `^postgres-backup-manual-[a-z0-9]{5}$`, name, "stdout starts with the Job's name")
	j := getJob(t, b, name)
	require.Equal(t, backup.Complete, func() backup.Result { r, _, _ := backup.JobResult(j); return r }())
	t.Logf("backup run --follow: %s wall; the Job's own creation → completion: %s", wall.Round(time.Millisecond), j.Status.CompletionTime.Sub(j.CreationTimestamp.Time))

	// The logs, in order: the dump (init container) first, then the upload.
	var dumpAt, uploadAt = -1, -1
	prefix := regexp.MustCompile(`^\[pod/` + name + `-[a-z0-9]+/(dump|upload)\] `)
	for i, l := range lines[1:] {
		m := prefix.FindStringSubmatch(l)
		require.NotNil(t, m, "every log line is prefixed with its pod and container: %q", l)
		if m[1] == "dump" && dumpAt < 0 {
			dumpAt = i
		}
		if m[1] == "upload" && uploadAt < 0 {
			uploadAt = i
		}
	}
	require.GreaterOrEqual(t, dumpAt, 0, r.Stdout)
	require.Greater(t, uploadAt, dumpAt, "the dump's lines come before the upload's:\n%s", r.Stdout)
	assert.Contains(t, r.Stdout, "pg_dump 15")
	assert.Regexp(t, `/upload\] .*backup: uploaded immich-.*\.pgdump and .*\.sha256`, r.Stdout)
	assert.Contains(t, r.Stderr, "backup job "+name+" completed in ")
	assert.NotContains(t, r.All(), b.DBPassword, "the database password never shows")

	// The dump and its checksum are on the NAS, and the checksum holds.
	var dump string
	for _, n := range b.Dumps(t) {
		if strings.HasSuffix(n, ".pgdump") {
			dump = n
		}
	}
	require.NotEmpty(t, dump, "a dump on the NAS: %v", b.Dumps(t))
	assert.Contains(t, b.Dumps(t), dump+".sha256")
	check := exec.Command("sha256sum", "-c", dump+".sha256")
	check.Dir = b.Folder
	out, err := check.CombinedOutput()
	require.NoError(t, err, string(out))
	list, err := exec.Command("pg_restore", "--list", filepath.Join(b.Folder, dump)).Output()
	require.NoError(t, err)
	assert.Contains(t, string(list), "TABLE DATA public assets")

	// The Job is what kubectl create job --from=cronjob/... makes on the same server.
	var ref batchv1.Job
	require.NoError(t, json.Unmarshal([]byte(kubectl(t, b, "create", "job", "reference", "--from=cronjob/"+b.Settings.Backup.CronJob, "--dry-run=server", "-o", "json")), &ref))
	wl, wa, wo, ws := comparable(&ref)
	gl, ga, gown, gs := comparable(j)
	assert.Equal(t, wl, gl, "labels")
	assert.Equal(t, wa, ga, "annotations")
	assert.Equal(t, wo, gown, "owner references")
	assert.Equal(t, ws, gs, "spec")
	assert.Equal(t, "manual", j.Annotations[backup.InstantiateAnnotation])

	// status: fresh, as JSON; stale with a tiny --max-age.
	require.NoError(t, proc.WaitFor(ctxTimeout(t, time.Minute), 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		cj, err := b.Cluster.Client.BatchV1().CronJobs(b.Namespace).Get(ctx, b.Settings.Backup.CronJob, metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil, err
	}), "the CronJob controller counts the manual run")
	r = plugin(t, b, 0, "backup", "status", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &st))
	assert.Equal(t, name, st["lastJob"].(map[string]any)["name"])
	assert.Equal(t, "Complete", st["lastJob"].(map[string]any)["result"])
	assert.Equal(t, true, st["lastJob"].(map[string]any)["manual"])
	assert.Equal(t, "Etc/UTC", st["timeZone"])
	assert.Equal(t, []any{}, st["problems"])
	assert.Equal(t, float64(8*24*3600), st["maxAgeSeconds"], "the default is backup.staleAfter (8d)")
	assert.Equal(t, dump, st["newestDump"], "the dump on the NAS, read from the Job's log")
	r = plugin(t, b, 0, "backup", "status", "-o", "wide")
	require.Equal(t, 0, r.Code, r.All())
	assert.Contains(t, r.Stdout, dump)

	r = plugin(t, b, 0, "backup", "status", "--max-age", "1s")
	require.NoError(t, proc.WaitFor(ctxTimeout(t, 10*time.Second), 200*time.Millisecond, func(context.Context) (bool, error) {
		r = plugin(t, b, 0, "backup", "status", "--max-age", "1s")
		return r.Code == 1, nil
	}), r.All())
	assert.Contains(t, r.Stderr, "the last successful backup is ")
	assert.Contains(t, r.Stderr, "more than the allowed 1s")
	assert.Contains(t, r.Stdout, name+"   Complete")
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRunWithAWrongPasswordFails(t *testing.T) {
	const wrong = "not-the-password"
	b := seed.RequireBackup(t, seed.BackupOptions{DBPassword: wrong})
	r := plugin(t, b, 4*time.Minute, "backup", "run", "--wait", "--timeout", "3m")
	require.Equal(t, 1, r.Code, r.All())
	name := strings.TrimSpace(r.Stdout)
	j := getJob(t, b, name)
	assert.Contains(t, r.Stderr, "backup job "+name+" failed: BackoffLimitExceeded")
	assert.Regexp(t, `container dump of pod `+name+`-[a-z0-9]+ exited with code [1-9]`, r.Stderr)
	assert.Contains(t, r.Stderr, "password authentication failed", "the script's last lines")
	assert.Contains(t, r.Stderr, "nothing uploaded")
	for _, secret := range []string{wrong, b.DBPassword} {
		assert.NotContains(t, r.All(), secret)
	}
	assert.Empty(t, b.Dumps(t), "nothing reaches the NAS")
	pods, err := b.Cluster.Client.CoreV1().Pods(b.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + name})
	require.NoError(t, err)
	assert.Len(t, pods.Items, int(*j.Spec.BackoffLimit)+1, "it waited through every retry")

	// status: the last Job failed, with its reason.
	r = plugin(t, b, 0, "backup", "status", "-o", "wide")
	require.Equal(t, 1, r.Code, r.All())
	assert.Contains(t, r.Stdout, name+"   Failed (BackoffLimitExceeded)")
	assert.Contains(t, r.Stderr, "the last backup job "+name+" failed: BackoffLimitExceeded")
}

// hang makes the CronJob's dump sleep, a backup that never ends.
func hang(t *testing.T, b *seed.Backup) {
	t.Helper()
	patch := `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"dump","command":["/bin/sh","-c","echo dumping slowly; exec sleep 600"]}]}}}}}}`
	_, err := b.Cluster.Client.BatchV1().CronJobs(b.Namespace).Patch(context.Background(), b.Settings.Backup.CronJob, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

func TestRunThatDoesNotEnd(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	hang(t, b)

	// --timeout: 124, the Job is left running and it says how to watch it again.
	r := plugin(t, b, time.Minute, "backup", "run", "--wait", "--timeout", "5s")
	require.Equal(t, exitcode.Timeout, r.Code, r.All())
	name := strings.TrimSpace(r.Stdout)
	assert.Contains(t, r.Stderr, "backup job "+name+" did not end within 5s; it keeps running; watch it again with: kubectl picluster --config "+b.Config+" backup run --attach "+name+" --wait")
	res, _, _ := backup.JobResult(getJob(t, b, name))
	assert.Equal(t, backup.Running, res)

	// A second run is refused while it runs, naming it; nothing is created.
	before := jobNames(t, b)
	r = plugin(t, b, 0, "backup", "run")
	require.Equal(t, 1, r.Code, r.All())
	assert.Contains(t, r.Stderr, "a backup Job is already running: "+name+" (--force starts another one)")
	assert.Equal(t, before, jobNames(t, b))

	// status shows it running, and healthy so far.
	r = plugin(t, b, 0, "backup", "status")
	require.Equal(t, 0, r.Code, r.All())
	assert.Contains(t, r.Stdout, name+"   Running")

	// --attach watches it again, --follow shows its log so far.
	r = plugin(t, b, time.Minute, "backup", "run", "--attach", name, "--follow", "--timeout", "3s")
	require.Equal(t, exitcode.Timeout, r.Code, r.All())
	assert.Contains(t, r.Stdout, "/dump] dumping slowly")

	// SIGINT during run --follow --force: 130, the new Job keeps running, the resume hint.
	var out, errOut testbed.SyncBuffer
	root := cmd.NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs([]string{"--kubeconfig", b.Cluster.Kubeconfig, "--config", b.Config, "backup", "run", "--follow", "--force"})
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		_ = proc.WaitFor(ctxTimeout(t, time.Minute), 100*time.Millisecond, func(context.Context) (bool, error) {
			return strings.Contains(out.String(), "dumping slowly"), nil
		})
		cancel(exitcode.Signalled{Signal: syscall.SIGINT})
	}()
	code := cmd.Report(&errOut, root.ExecuteContext(ctx))
	assert.Equal(t, 130, code, errOut.String())
	second := strings.SplitN(out.String(), "\n", 2)[0]
	require.NotEqual(t, name, second)
	assert.Equal(t, "interrupted by SIGINT: backup job "+second+" keeps running; watch it again with: kubectl picluster --config "+b.Config+" backup run --attach "+second+" --follow\n", errOut.String())
	res, _, _ = backup.JobResult(getJob(t, b, second))
	assert.Equal(t, backup.Running, res)

	// Suspended: status says so and shows no next run.
	_, err := b.Cluster.Client.BatchV1().CronJobs(b.Namespace).Patch(context.Background(), b.Settings.Backup.CronJob, types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	before = jobNames(t, b)
	r = plugin(t, b, 0, "backup", "run", "--attach", second)
	require.Equal(t, 0, r.Code, r.All())
	r = plugin(t, b, 0, "backup", "run")
	assert.Equal(t, exitcode.Usage, r.Code, r.All())
	assert.Contains(t, r.Stderr, "the backup CronJob is suspended: cronjob "+b.Namespace+"/postgres-backup (--force runs it all the same)")
	assert.Equal(t, before, jobNames(t, b), "nothing created")
	r = plugin(t, b, 0, "backup", "status", "--no-headers")
	require.Equal(t, 0, r.Code, r.All())
	assert.Regexp(t, `^postgres-backup\s+30 2 \* \* 0\s+true\s+-\s+never\s+`+second+`\s+Running\n$`, r.Stdout)
}

func TestBadInput(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	require.NoError(t, b.Cluster.Client.BatchV1().CronJobs(b.Namespace).Delete(context.Background(), b.Settings.Backup.CronJob, metav1.DeleteOptions{}))
	for name, args := range map[string][]string{
		"run without the CronJob":    {"backup", "run"},
		"status without the CronJob": {"backup", "status"},
		"an argument":                {"backup", "run", "now"},
		"a bad duration":             {"backup", "run", "--wait", "--timeout", "soon"},
		"a bad output":               {"backup", "status", "-o", "xml"},
		"attach to no job":           {"backup", "run", "--attach", "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			r := plugin(t, b, 0, args...)
			assert.Equal(t, exitcode.Usage, r.Code, r.All())
			if strings.Contains(name, "CronJob") {
				assert.Contains(t, r.Stderr, "install it with kubectl picluster install --component backup")
			}
			assert.Empty(t, jobNames(t, b), "nothing created")
		})
	}
	t.Run("-n is where the CronJob is looked for", func(t *testing.T) {
		r := plugin(t, b, 0, "-n", "elsewhere", "backup", "status")
		assert.Equal(t, exitcode.Usage, r.Code, r.All())
		assert.Contains(t, r.Stderr, "cronjob elsewhere/postgres-backup: the backup CronJob does not exist")
	})
}

func TestRunRefusesWhenASecretIsMissing(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	secret := b.Settings.Backup.NAS.SSHKeySecret.Name
	require.NoError(t, b.Cluster.Client.CoreV1().Secrets(b.Namespace).Delete(context.Background(), secret, metav1.DeleteOptions{}))
	r := plugin(t, b, 0, "backup", "run", "--wait")
	assert.Equal(t, exitcode.Usage, r.Code, r.All())
	assert.Contains(t, r.Stderr, "secret "+b.Namespace+"/"+secret+" does not exist")
	assert.Empty(t, jobNames(t, b), "nothing created: a pod would wait for the Secret until the Job's deadline")
}

func TestRBACDeniedNamesTheVerbAndResource(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	ctx := context.Background()
	run := func(args ...string) plugintest.Result {
		base := []string{"--kubeconfig", b.Cluster.NoRightsKubeconfig, "--config", b.Config}
		return plugintest.Run(t, append(base, args...)...)
	}
	r := run("backup", "status")
	assert.Equal(t, exitcode.Usage, r.Code, r.All())
	assert.Contains(t, r.Stderr, `cannot get resource "cronjobs" in API group "batch"`)

	// Allowed to read the CronJob and its Jobs, not to create a Job.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-backups"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs", "jobs"}, Verbs: []string{"get", "list", "watch"}},
	}}
	_, err := b.Cluster.Client.RbacV1().Roles(b.Namespace).Create(ctx, role, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.Cluster.Client.RbacV1().RoleBindings(b.Namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-backups"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-backups"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: b.Cluster.NoRightsUser}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, proc.WaitFor(ctxTimeout(t, 30*time.Second), 200*time.Millisecond, func(context.Context) (bool, error) {
		return run("backup", "status").Code == 0, nil
	}), "the Role takes effect")
	r = run("backup", "run")
	assert.Equal(t, exitcode.Usage, r.Code, r.All())
	assert.Contains(t, r.Stderr, `cannot create resource "jobs" in API group "batch"`)
	assert.Empty(t, jobNames(t, b), "nothing created")
}
