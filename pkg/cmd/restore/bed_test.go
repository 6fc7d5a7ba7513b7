package restore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/immichdb"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
)

// bed is the seed's backup on the test bed with an Immich-like database of the test's
// own (postgres.database) on the bed's real Postgres, and Immich's two Deployments
// (simulated by kwok) of the test's own (immich.deployments) in the immich namespace.
type bed struct {
	*seed.Backup
	db       immichdb.DB
	replicas map[string]int32
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

func newBed(t testing.TB) *bed {
	return newBedWith(t, immichdb.Schema)
}

// newBedWith is newBed with the database made by schema.
func newBedWith(t testing.TB, schema string) *bed {
	t.Helper()
	id := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(id) > 30 {
		id = id[len(id)-30:]
	}
	id = strings.Trim(id, "_")
	dbName := "rt_" + id
	prefix := strings.ReplaceAll("rt-"+id, "_", "-")
	replicas := map[string]int32{prefix + "-server": 2, prefix + "-ml": 1}
	b := seed.RequireBackup(t, seed.BackupOptions{Edit: func(doc string) string {
		doc = strings.Replace(doc, "postgres:\n", "postgres:\n  database: "+dbName+"\n", 1)
		return doc + fmt.Sprintf("immich:\n  deployments: [%s-server, %s-ml]\n", prefix, prefix)
	}})
	db := immichdb.Create(t, b.Monitoring.Postgres, dbName)
	db.Psql(t, schema)
	ctx := context.Background()
	deps := b.Cluster.Client.AppsV1().Deployments(testbed.ImmichNamespace)
	for name, n := range replicas {
		labels := map[string]string{"app.kubernetes.io/name": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testbed.ImmichNamespace},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(n),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "immich", Image: "ghcr.io/immich-app/immich-server:v1.135.3"}}},
				},
			},
		}
		_ = deps.Delete(ctx, name, metav1.DeleteOptions{})
		_, err := deps.Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = deps.Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
		})
	}
	bd := &bed{Backup: b, db: db, replicas: replicas}
	bd.requireRunning(t)
	return bd
}

// plugin runs the plugin in-process on the bed.
func (b *bed) plugin(t testing.TB, timeout time.Duration, args ...string) plugintest.Result {
	t.Helper()
	r := plugintest.Runner{Timeout: timeout}.Run(t, append(b.base(), args...)...)
	b.noSecret(t, r.All())
	return r
}

func (b *bed) base() []string {
	return []string{"--kubeconfig", b.Cluster.Kubeconfig, "--config", b.Config}
}

// noSecret fails the test when out holds the database password.
func (b *bed) noSecret(t testing.TB, out string) {
	t.Helper()
	require.NotContains(t, out, b.DBPassword, "the database password was printed")
}

// backup runs a backup and returns the dump's name.
func (b *bed) backup(t testing.TB) string {
	t.Helper()
	before := b.dumps(t)
	r := b.plugin(t, 3*time.Minute, "backup", "run", "--wait")
	require.Equal(t, 0, r.Code, r.All())
	for d := range b.dumps(t) {
		if !before[d] && strings.HasSuffix(d, ".pgdump") && !strings.Contains(d, "restorepoint") {
			return d
		}
	}
	t.Fatalf("backup run left no new dump on the NAS: %v", b.dumps(t))
	return ""
}

// dumps are the files in the test's NAS folder.
func (b *bed) dumps(t testing.TB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range b.Dumps(t) {
		out[n] = true
	}
	return out
}

// upload puts a dump file on the NAS as name with a checksum: the right one, or the
// checksum of sumOf when it is not "".
func (b *bed) upload(t testing.TB, path, name, sumOf string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(b.Folder, name), data, 0o644))
	if sumOf != "" {
		data = []byte(sumOf)
	}
	sum := sha256.Sum256(data)
	require.NoError(t, os.WriteFile(filepath.Join(b.Folder, name+".sha256"), []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644))
}

// requireRunning waits until Immich's Deployments run at their replicas.
func (b *bed) requireRunning(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for name, n := range b.replicas {
			d, err := b.Cluster.Client.AppsV1().Deployments(testbed.ImmichNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if ptr.Deref(d.Spec.Replicas, -1) != n || d.Status.AvailableReplicas != n || d.Status.Replicas != n {
				return false, nil
			}
		}
		return true, nil
	})
	require.NoError(t, err, "Immich's Deployments at %v", b.replicas)
}

// versions are the resourceVersions of everything a restore could change: Immich's
// Deployments and every ConfigMap, Lease, Job and Secret of the backup namespace.
func (b *bed) versions(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := b.Cluster.Client
	out := map[string]string{}
	for name := range b.replicas {
		d, err := c.AppsV1().Deployments(testbed.ImmichNamespace).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		out["deployment/"+name] = d.ResourceVersion
	}
	cms, err := c.CoreV1().ConfigMaps(b.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, o := range cms.Items {
		out["configmap/"+o.Name] = o.ResourceVersion
	}
	leases, err := c.CoordinationV1().Leases(b.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, o := range leases.Items {
		out["lease/"+o.Name] = o.ResourceVersion
	}
	jobs, err := c.BatchV1().Jobs(b.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, o := range jobs.Items {
		out["job/"+o.Name] = o.ResourceVersion
	}
	secrets, err := c.CoreV1().Secrets(b.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, o := range secrets.Items {
		out["secret/"+o.Name] = o.ResourceVersion
	}
	return out
}

// restorePoints are the restore points on the NAS.
func (b *bed) restorePoints(t testing.TB) []string {
	t.Helper()
	var out []string
	for n := range b.dumps(t) {
		if strings.Contains(n, "-restorepoint-") && strings.HasSuffix(n, ".pgdump") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
