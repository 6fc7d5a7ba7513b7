package testbed_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// backupBed is the seed's backup on the bed (package seed).
type backupBed struct {
	c        *testbed.Cluster
	m        *testbed.Monitoring
	s        *settings.Settings
	ns       string
	folder   string // the test's folder on the NAS
	password string
	seed     *seed.Backup
}

func newBackupBed(t *testing.T, o seed.BackupOptions) *backupBed {
	t.Helper()
	b := seed.RequireBackup(t, o)
	return &backupBed{c: b.Cluster, m: b.Monitoring, s: b.Settings, ns: b.Namespace, folder: b.Folder, password: b.DBPassword, seed: b}
}

// startBackup creates a Job from the backup CronJob with kubectl, as the seed's runbook does.
func (b *backupBed) startBackup(t *testing.T, job string) {
	t.Helper()
	_, errOut, code := kubectl(t, b.c, nil, "-n", b.ns, "create", "job", job, "--from=cronjob/"+b.s.Backup.CronJob)
	require.Equal(t, 0, code, errOut)
}

// jobPods waits for n pods of the Job and returns their names.
func (b *backupBed) firstPod(t *testing.T, job string) string {
	t.Helper()
	var name string
	waitFor(t, "a pod of job "+job, func(ctx context.Context) (bool, error) {
		pods, err := b.c.Client.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		name = pods.Items[0].Name
		return true, nil
	})
	return name
}

func (b *backupBed) waitJob(t *testing.T, job string, timeout time.Duration) *batchv1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var j *batchv1.Job
	err := proc.WaitFor(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		if j, err = b.c.Client.BatchV1().Jobs(b.ns).Get(ctx, job, metav1.GetOptions{}); err != nil {
			return false, err
		}
		for _, cond := range j.Status.Conditions {
			if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "job %s ends", job)
	return j
}

func jobCondition(j *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func TestBundledBackupRunsForReal(t *testing.T) {
	b := newBackupBed(t, seed.BackupOptions{})
	_, err := b.m.Postgres.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS assets (id serial PRIMARY KEY, name text);
		INSERT INTO assets (name) SELECT 'photo-' || g FROM generate_series(1, 1000) g;`)
	require.NoError(t, err)
	began := time.Now()
	b.startBackup(t, "manual-1")
	pod := b.firstPod(t, "manual-1")
	// kubectl logs -f shows the script's lines and ends by itself with the container.
	waitPhase(t, b.c, b.ns, pod, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed)
	dumpLog, errOut, code := kubectl(t, b.c, nil, "-n", b.ns, "logs", "-f", pod, "-c", "dump")
	require.Equal(t, 0, code, errOut)
	uploadLog, errOut, code := kubectl(t, b.c, nil, "-n", b.ns, "logs", "-f", pod, "-c", "upload")
	require.Equal(t, 0, code, errOut)
	j := b.waitJob(t, "manual-1", 2*time.Minute)
	t.Logf("job created → Complete in %s", time.Since(began).Round(time.Millisecond))
	require.NotNil(t, jobCondition(j, batchv1.JobComplete), "dump:\n%s\nupload:\n%s", dumpLog, uploadLog)
	assert.Contains(t, dumpLog, "pg_dump 15")
	assert.Contains(t, uploadLog, "backup:")
	for _, out := range []string{dumpLog, uploadLog} {
		assert.NotContains(t, out, b.password, "the database password never shows")
	}

	// The dump and its checksum are on the NAS and the checksum holds there.
	names := b.seed.Dumps(t)
	var dump string
	for _, n := range names {
		if strings.HasSuffix(n, ".pgdump") {
			dump = n
		}
	}
	require.NotEmpty(t, dump, "files on the NAS: %v", names)
	assert.Contains(t, names, dump+".sha256")
	check := exec.Command("sha256sum", "-c", dump+".sha256")
	check.Dir = b.folder
	out, err := check.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, dump+": OK\n", string(out))
	// The archive holds the table and its rows (pg_restore reads it back).
	list, err := exec.Command("pg_restore", "--list", filepath.Join(b.folder, dump)).Output()
	require.NoError(t, err)
	assert.Contains(t, string(list), "TABLE DATA public assets")

	// The CronJob controller counts the manual run.
	waitFor(t, "lastSuccessfulTime", func(ctx context.Context) (bool, error) {
		cj, err := b.c.Client.BatchV1().CronJobs(b.ns).Get(ctx, b.s.Backup.CronJob, metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil, err
	})
}

func TestBundledBackupWithAWrongPasswordFails(t *testing.T) {
	b := newBackupBed(t, seed.BackupOptions{DBPassword: "not-the-password"})
	b.startBackup(t, "manual-bad")
	j := b.waitJob(t, "manual-bad", 3*time.Minute)
	failed := jobCondition(j, batchv1.JobFailed)
	require.NotNil(t, failed)
	assert.Equal(t, "BackoffLimitExceeded", failed.Reason)
	pods, err := b.c.Client.CoreV1().Pods(b.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=manual-bad"})
	require.NoError(t, err)
	require.Len(t, pods.Items, int(*j.Spec.BackoffLimit)+1, "one pod per try")
	for _, p := range pods.Items {
		require.Len(t, p.Status.InitContainerStatuses, 1)
		term := p.Status.InitContainerStatuses[0].State.Terminated
		require.NotNil(t, term, p.Name)
		assert.NotZero(t, term.ExitCode, p.Name)
		assert.Equal(t, corev1.PodFailed, p.Status.Phase)
		assert.Nil(t, p.Status.ContainerStatuses[0].State.Terminated, "upload never ran")
	}
	out, _, _ := kubectl(t, b.c, nil, "-n", b.ns, "logs", pods.Items[0].Name, "-c", "dump")
	assert.Contains(t, out, "password authentication failed")
	assert.NotContains(t, out, b.password)
	assert.Empty(t, b.seed.Dumps(t), "nothing reaches the NAS")
}

func TestBundledBackupToANASAccountWithAShell(t *testing.T) {
	b := newBackupBed(t, seed.BackupOptions{ShellNAS: true})
	b.startBackup(t, "manual-shell")
	j := b.waitJob(t, "manual-shell", 2*time.Minute)
	require.NotNil(t, jobCondition(j, batchv1.JobComplete))
	var dumps int
	for _, n := range b.seed.Dumps(t) {
		if strings.HasSuffix(n, ".pgdump") {
			dumps++
		}
	}
	assert.Equal(t, 1, dumps)
}
