package testbed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed/immichdb"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
	"github.com/picluster/kubectl-picluster/pkg/check"
)

// The optional restore drill, installed by `install --component restore-drill` beside the
// backup and run for real: a Job made from its CronJob fetches the newest dump from the
// NAS and drills it into a scratch database of the bed's Postgres, which it drops; the
// live database stays as it was.
func TestBundledRestoreDrillRunsForReal(t *testing.T) {
	dbName := "drill_bed"
	var switchedOff string
	b := newBackupBed(t, seed.BackupOptions{Edit: func(doc string) string {
		switchedOff = strings.Replace(doc, "postgres:\n", "postgres:\n  database: "+dbName+"\n", 1)
		return switchedOff + "restoreDrill:\n  enabled: true\n"
	}})
	db := immichdb.Create(t, b.m.Postgres, dbName)
	db.Psql(t, immichdb.Schema)
	drill := b.s.RestoreDrill.CronJob

	t.Run("switched off, install names the setting", func(t *testing.T) {
		config := t.TempDir() + "/off.yaml"
		require.NoError(t, os.WriteFile(config, []byte(switchedOff), 0o600))
		r := plugintest.Run(t, "--kubeconfig", b.c.Kubeconfig, "--config", config, "install", "--component", "restore-drill")
		assert.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "component restore-drill is switched off in the settings: set restoreDrill.enabled: true")
	})

	r := plugintest.Run(t, "--kubeconfig", b.c.Kubeconfig, "--config", b.seed.Config, "install", "--component", "restore-drill")
	require.Equal(t, 0, r.Code, r.Stderr)
	cj, err := b.c.Client.BatchV1().CronJobs(b.ns).Get(context.Background(), drill, metav1.GetOptions{})
	require.NoError(t, err, "install made the drill CronJob")
	assert.Equal(t, "restore-drill", cj.Labels["picluster.io/component"])

	t.Run("no dump on the NAS yet: the drill fails", func(t *testing.T) {
		_, errOut, code := kubectl(t, b.c, nil, "-n", b.ns, "create", "job", "drill-none", "--from=cronjob/"+drill)
		require.Equal(t, 0, code, errOut)
		j := b.waitJob(t, "drill-none", 2*time.Minute)
		require.NotNil(t, jobCondition(j, batchv1.JobFailed), "a failed drill is a failed Job")
		pod := b.firstPod(t, "drill-none")
		out, _, _ := kubectl(t, b.c, nil, "-n", b.ns, "logs", pod, "-c", "fetch")
		assert.Contains(t, out, "no complete dumps of "+dbName+" on the NAS")
		c := drillCheck(t, b)
		assert.Equal(t, check.StatusFailure, c.Status, c.Message)
		assert.Contains(t, c.Message, "the last restore drill "+b.ns+"/drill-none failed")
		assert.Equal(t, "RestoreDrillFailed", c.Runbook)
	})

	b.startBackup(t, "backup-1")
	require.NotNil(t, jobCondition(b.waitJob(t, "backup-1", 2*time.Minute), batchv1.JobComplete))
	live := db.Checksums(t, immichdb.Tables)
	require.Len(t, live, len(immichdb.Tables))

	began := time.Now()
	_, errOut, code := kubectl(t, b.c, nil, "-n", b.ns, "create", "job", "drill-1", "--from=cronjob/"+drill)
	require.Equal(t, 0, code, errOut)
	pod := b.firstPod(t, "drill-1")
	waitPhase(t, b.c, b.ns, pod, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed)
	fetchLog, _, _ := kubectl(t, b.c, nil, "-n", b.ns, "logs", "-f", pod, "-c", "fetch")
	drillLog, _, _ := kubectl(t, b.c, nil, "-n", b.ns, "logs", "-f", pod, "-c", "drill")
	j := b.waitJob(t, "drill-1", 3*time.Minute)
	t.Logf("drill job created → done in %s:\n%s", time.Since(began).Round(time.Millisecond), drillLog)
	require.NotNil(t, jobCondition(j, batchv1.JobComplete), "fetch:\n%s\ndrill:\n%s", fetchLog, drillLog)

	assert.Regexp(t, `^/work/`+regexp.QuoteMeta(dbName)+`-\d{8}T\d{6}Z\.pgdump\n$`, fetchLog, "the newest dump, checked against its checksum")
	for _, table := range immichdb.Tables {
		rows := strings.Fields(live[table])[0]
		assert.Contains(t, drillLog, fmt.Sprintf("verify %s dump=%s restored=%s ok\n", table, rows, rows))
	}
	assert.Contains(t, drillLog, "verify: ok 5 tables\n")
	assert.Regexp(t, `scratch database `+regexp.QuoteMeta(dbName)+`_drill_\d{14} dropped`, drillLog)
	for _, out := range []string{fetchLog, drillLog} {
		assert.NotContains(t, out, b.password, "the database password never shows")
	}
	assert.Equal(t, live, db.Checksums(t, immichdb.Tables), "the live database is unchanged")
	admin := immichdb.DB{PG: b.m.Postgres, Name: "postgres"}
	assert.Equal(t, "0", admin.Psql(t, "select count(*) from pg_database where datname like '"+dbName+"\\_drill\\_%'"), "no scratch database left")

	c := drillCheck(t, b)
	assert.Equal(t, check.StatusOK, c.Status, c.Message)
	assert.Contains(t, c.Message, "the last restore drill of CronJob "+b.ns+"/"+drill+" passed")

	// The CronJob controller counts the run: RestoreDrillStale reads this.
	waitFor(t, "lastSuccessfulTime of the drill", func(ctx context.Context) (bool, error) {
		cj, err := b.c.Client.BatchV1().CronJobs(b.ns).Get(ctx, drill, metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil, err
	})

	t.Run("switched off later, uninstall still removes it", func(t *testing.T) {
		config := t.TempDir() + "/off.yaml"
		require.NoError(t, os.WriteFile(config, []byte(switchedOff), 0o600))
		r := plugintest.Run(t, "--kubeconfig", b.c.Kubeconfig, "--config", config, "uninstall", "--component", "restore-drill", "--yes")
		require.Equal(t, 0, r.Code, r.Stderr)
		ctx := context.Background()
		_, err := b.c.Client.BatchV1().CronJobs(b.ns).Get(ctx, drill, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the drill CronJob is gone: %v", err)
		_, err = b.c.Client.BatchV1().CronJobs(b.ns).Get(ctx, b.s.Backup.CronJob, metav1.GetOptions{})
		assert.NoError(t, err, "the backup stays")
	})
}

// drillCheck runs `check --category backup -o json` and returns its restore-drill check
// (the other backup checks may fail here: their backups are not this test's concern).
func drillCheck(t *testing.T, b *backupBed) check.CheckReport {
	t.Helper()
	r := plugintest.Run(t, "--kubeconfig", b.c.Kubeconfig, "--config", b.seed.Config, "check", "--category", "backup", "-o", "json")
	var rep struct {
		Categories []struct {
			Name   string              `json:"name"`
			Checks []check.CheckReport `json:"checks"`
		} `json:"categories"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	for _, cat := range rep.Categories {
		for _, c := range cat.Checks {
			if cat.Name == "backup" && c.Name == "restore-drill" {
				return c
			}
		}
	}
	t.Fatalf("check has no backup/restore-drill with restoreDrill.enabled:\n%s", r.Stdout)
	return check.CheckReport{}
}
