package testbed_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
)

// BenchmarkBundledBackup100MB times a Job of the bundled backup CronJob, from its creation
// to Complete, for a database of about 100 MB on the bed (real pg_dump, real rsync over
// ssh to the NAS, run pods). Run: go test ./internal/testbed -run '^$' -bench BundledBackup -benchtime 1x
func BenchmarkBundledBackup100MB(b *testing.B) {
	bk := seed.RequireBackup(b, seed.BackupOptions{})
	ctx := context.Background()
	pg := bk.Monitoring.Postgres
	_, err := pg.Exec(ctx, `DROP TABLE IF EXISTS bench_assets;
		CREATE TABLE bench_assets AS SELECT g AS id, repeat(md5(random()::text), 6) AS payload FROM generate_series(1, 450000) g;`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = pg.Exec(context.Background(), `DROP TABLE IF EXISTS bench_assets`) })
	size, err := pg.Exec(ctx, `SELECT pg_database_size(current_database()) / 1048576`)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		job := fmt.Sprintf("bench-%d", i)
		began := time.Now()
		out, err := exec.Command(bk.Cluster.Kubectl, "--kubeconfig", bk.Cluster.Kubeconfig, "-n", bk.Namespace,
			"create", "job", job, "--from=cronjob/"+bk.Settings.Backup.CronJob).CombinedOutput()
		if err != nil {
			b.Fatalf("kubectl create job: %v: %s", err, out)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = proc.WaitFor(wctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			j, err := bk.Cluster.Client.BatchV1().Jobs(bk.Namespace).Get(ctx, job, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobFailed && c.Status == "True" {
					return false, fmt.Errorf("job failed: %s", c.Message)
				}
				if c.Type == batchv1.JobComplete && c.Status == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(began).Seconds(), "s/backup")
	}
	b.StopTimer()
	b.Logf("database %s MB; on the NAS: %s", strings.TrimSpace(size), strings.Join(bk.Dumps(b), " "))
}
