// Package seed puts the seed's cluster on the test bed for one test: today its backup
// (Postgres, the NAS, the backup component installed, the Secrets External Secrets syncs).
package seed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// Backup is the seed's backup setup on the bed, for one test: Immich's Postgres behind
// immich/immich-postgresql (the monitoring servers), the NAS reachable from run pods as
// testbed.NASHost with a folder of the test's own, and the backup component installed unchanged
// by `picluster install` into a namespace of the test's own, from settings that differ from
// the defaults only where the bed differs from the seed's cluster (the NAS's name, user
// and folder; the Postgres major version of the bed's server), plus the Secrets External
// Secrets would sync. Its CronJob's Jobs really run (package podrun).
type Backup struct {
	Cluster    *testbed.Cluster
	Monitoring *testbed.Monitoring
	NAS        *testbed.BedNAS
	// Settings are the loaded settings; Config is their file (pass it as --config).
	Settings *settings.Settings
	Config   string
	// Namespace is the backup namespace (settings namespaces.backup).
	Namespace string
	// Folder is the test's folder on the NAS (backup.nas.path), a host path.
	Folder string
	// DBPassword is the real database password (a secret: tests check it never shows).
	DBPassword string
}

// BackupOptions tune RequireBackup.
type BackupOptions struct {
	// DBPassword, when set, goes into the backup's password Secret instead of the real one.
	DBPassword string
	// ShellNAS gives the backup the NAS's full-shell key instead of the rsync-only one (the
	// default, as the bundle recommends).
	ShellNAS bool
	// Edit, when set, changes the settings file's YAML before it is written.
	Edit func(doc string) string
}

// RequireBackup sets up Backup (root: skips locally without, fails in CI). The
// namespace is deleted when the test ends.
func RequireBackup(t testing.TB, o BackupOptions) *Backup {
	t.Helper()
	c, m := testbed.RequireMonitoring(t)
	testbed.RequireRunPods(t)
	if m.Postgres == nil {
		t.Fatal("test bed: monitoring runs without Postgres")
	}
	ctx := context.Background()
	nas, err := c.StartNAS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	major, err := podrun.HostPostgresMajor()
	if err != nil {
		t.Fatal(err)
	}
	ns := "bak-" + strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	ns = strings.ReplaceAll(ns, "--", "-")
	if len(ns) > 40 {
		ns = strings.TrimRight(ns[:40], "-")
	}
	folder := filepath.Join(nas.Path, ns)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	doc := fmt.Sprintf("namespaces:\n  backup: %s\npostgres:\n  majorVersion: %d\nbackup:\n  nas:\n    host: %s\n    user: %s\n    path: %s\n",
		ns, major, nas.Name, nas.User, folder)
	if o.Edit != nil {
		doc = o.Edit(doc)
	}
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := settings.Load(config, true)
	if err != nil {
		t.Fatal(err)
	}
	r := plugintest.Run(t, "--kubeconfig", c.Kubeconfig, "--config", config, "install", "--component", "backup")
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		_ = os.RemoveAll(folder)
	})
	if r.Code != 0 {
		t.Fatalf("install the backup component: exit %d: %s", r.Code, r.Stderr)
	}
	keyFile := nas.PrivateKeyFile
	if o.ShellNAS {
		keyFile = nas.ShellKeyFile
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	password := o.DBPassword
	if password == "" {
		password = m.Postgres.Password
	}
	for name, data := range map[string]map[string][]byte{
		s.Backup.PasswordSecret.Name:   {s.Backup.PasswordSecret.Key: []byte(password)},
		s.Backup.NAS.SSHKeySecret.Name: {s.Backup.NAS.SSHKeySecret.Key: key, "known_hosts": []byte(nas.KnownHosts)},
	} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
		if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create the Secret External Secrets would sync: %v", err)
		}
	}
	return &Backup{Cluster: c, Monitoring: m, NAS: nas, Settings: s, Config: config, Namespace: ns, Folder: folder, DBPassword: m.Postgres.Password}
}

// Dumps lists the file names in the test's NAS folder.
func (b *Backup) Dumps(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(b.Folder)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)
