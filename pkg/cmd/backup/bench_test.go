package backup_test

import (
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
)

// TestStatusTimeAgainstKubectl measures `backup status` (the built plugin, path in
// PICLUSTER_BENCH_PLUGIN: hack/bench-backup-status.sh builds it) against the kubectl
// calls a person makes for the same facts (get cronjob -o json, get jobs -o json), on
// the same server, alternating, and logs the medians and their ratio.
func TestStatusTimeAgainstKubectl(t *testing.T) {
	plugin := os.Getenv("PICLUSTER_BENCH_PLUGIN")
	if plugin == "" {
		t.Skip("PICLUSTER_BENCH_PLUGIN is not set (hack/bench-backup-status.sh sets it)")
	}
	b := seed.RequireBackup(t, seed.BackupOptions{})
	r := runOneBackup(t, b)
	require.Equal(t, 0, r, "a first backup")
	timeIt := func(cmds ...[]string) time.Duration {
		began := time.Now()
		for _, c := range cmds {
			out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
			require.NoError(t, err, string(out))
		}
		return time.Since(began)
	}
	kc := []string{"--kubeconfig", b.Cluster.Kubeconfig, "-n", b.Namespace}
	var ours, theirs []time.Duration
	for i := 0; i < 30; i++ {
		ours = append(ours, timeIt(append([]string{plugin, "--kubeconfig", b.Cluster.Kubeconfig, "--config", b.Config}, "backup", "status")))
		theirs = append(theirs, timeIt(
			append(append([]string{b.Cluster.Kubectl}, kc...), "get", "cronjob", b.Settings.Backup.CronJob, "-o", "json"),
			append(append([]string{b.Cluster.Kubectl}, kc...), "get", "jobs", "-o", "json"),
		))
	}
	mo, mk := median(ours), median(theirs)
	t.Logf("backup status: median %s; kubectl get cronjob + get jobs: median %s; ratio %.2f", mo, mk, float64(mo)/float64(mk))
}

// runOneBackup runs one backup so that status has a Job to report.
func runOneBackup(t *testing.T, b *seed.Backup) int {
	return plugin(t, b, 3*time.Minute, "backup", "run", "--wait", "--timeout", "2m").Code
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
