package bundle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// The drill CronJob runs the backup's two images with the backup's Secrets, script
// and pod security, and never needs more: the same pod shape as the backup CronJob,
// with fetch (backup.sh fetch latest) before drill (restore.sh drill).
func TestRestoreDrillCronJob(t *testing.T) {
	s := settings.Default()
	s.RestoreDrill.Enabled = true
	s.RestoreDrill.Jobs = 2
	objs, err := Render(s, Backup, RestoreDrill)
	require.NoError(t, err)
	backup := typed[batchv1.CronJob](t, find(t, objs, "CronJob", s.Backup.CronJob))
	cj := typed[batchv1.CronJob](t, find(t, objs, "CronJob", s.RestoreDrill.CronJob))
	assert.Equal(t, s.Namespaces.Backup, cj.Namespace)
	assert.Equal(t, RestoreDrill, find(t, objs, "CronJob", s.RestoreDrill.CronJob).GetLabels()[ComponentLabel])

	assert.Equal(t, "30 4 * * 0", cj.Spec.Schedule, "two hours after the weekly backup")
	require.NotNil(t, cj.Spec.TimeZone)
	assert.Equal(t, s.RestoreDrill.TimeZone, *cj.Spec.TimeZone)
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	job := cj.Spec.JobTemplate.Spec
	require.NotNil(t, job.BackoffLimit)
	assert.Zero(t, *job.BackoffLimit, "a failed drill is reported, not retried away")
	require.NotNil(t, job.ActiveDeadlineSeconds)

	pod, bpod := job.Template.Spec, backup.Spec.JobTemplate.Spec.Template.Spec
	assert.Equal(t, bpod.SecurityContext, pod.SecurityContext, "the backup's pod security")
	assert.Equal(t, bpod.AutomountServiceAccountToken, pod.AutomountServiceAccountToken)
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	require.Len(t, pod.InitContainers, 1)
	require.Len(t, pod.Containers, 1)
	fetch, drill := pod.InitContainers[0], pod.Containers[0]
	upload, dump := bpod.Containers[0], bpod.InitContainers[0]

	assert.Equal(t, upload.Image, fetch.Image, "fetch runs in the upload image (rsync + ssh)")
	assert.Equal(t, []string{"/bin/sh", "/opt/backup/backup.sh", "fetch", "latest"}, fetch.Command)
	assert.Equal(t, dump.Image, drill.Image, "the drill runs in the backup's Postgres image")
	assert.Equal(t, s.BackupImage(), drill.Image)
	require.Len(t, drill.Command, 3)
	assert.Contains(t, drill.Command[2], "/opt/backup/restore.sh drill")
	for _, c := range []corev1.Container{fetch, drill} {
		assert.Equal(t, dump.SecurityContext, c.SecurityContext, "%s: the backup's container security", c.Name)
		assert.NotNil(t, c.Resources.Limits.Memory(), c.Name)
	}

	env := func(c corev1.Container) map[string]corev1.EnvVar {
		out := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			out[e.Name] = e
		}
		return out
	}
	fe, de, ue, be := env(fetch), env(drill), env(upload), env(dump)
	for _, k := range []string{"PGDATABASE", "BACKUP_TARGET", "BACKUP_RSYNC_RSH", "BACKUP_WORKDIR"} {
		assert.Equal(t, ue[k], fe[k], "fetch reaches the NAS as the upload does: %s", k)
	}
	assert.NotContains(t, fe, "PGPASSWORD", "the fetch has no database password")
	assert.NotContains(t, fe, "BACKUP_LABEL", "the drill proves the plain backups")
	for _, k := range []string{"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"} {
		assert.Equal(t, be[k], de[k], "the drill reaches Postgres as the dump does: %s", k)
	}
	assert.Equal(t, "2", de["RESTORE_JOBS"].Value)
	assert.NotContains(t, de, "BACKUP_RSYNC_RSH", "the drill container has no NAS access")

	mounts := func(c corev1.Container) map[string]corev1.VolumeMount {
		out := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			out[m.Name] = m
		}
		return out
	}
	assert.Contains(t, mounts(fetch), "ssh")
	assert.NotContains(t, mounts(drill), "ssh", "the SSH key only where rsync runs")
	assert.True(t, mounts(drill)["work"].ReadOnly, "the drill only reads the dump")
	assert.Equal(t, bpod.Volumes, pod.Volumes, "the backup's script ConfigMap, SSH Secret and scratch volumes")
}
