package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed/seed"
	"github.com/picluster/kubectl-picluster/pkg/backup"
)

// putDump writes a dump and, unless sum is "none", its sha256 file into the NAS folder;
// sum "" is the dump's true checksum.
func putDump(t *testing.T, b *seed.Backup, name string, data []byte, sum string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(b.Folder, name), data, 0o640))
	if sum == "none" {
		return
	}
	if sum == "" {
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
	}
	require.NoError(t, os.WriteFile(filepath.Join(b.Folder, name+".sha256"), []byte(sum+"  "+name+"\n"), 0o640))
}

func TestListAndVerifyTheDumpsOnTheNAS(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{})
	_, err := b.Monitoring.Postgres.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS assets (id serial PRIMARY KEY, name text);
		INSERT INTO assets (name) SELECT 'photo-' || g FROM generate_series(1, 500) g;`)
	require.NoError(t, err)
	r := plugin(t, b, 3*time.Minute, "backup", "run", "--wait", "--timeout", "2m")
	require.Equal(t, 0, r.Code, r.All())
	job := strings.TrimSpace(r.Stdout)
	var real string
	for _, n := range b.Dumps(t) {
		if strings.HasSuffix(n, ".pgdump") {
			real = n
		}
	}
	require.NotEmpty(t, real)
	good, err := os.ReadFile(filepath.Join(b.Folder, real))
	require.NoError(t, err)
	key, err := os.ReadFile(b.NAS.PrivateKeyFile)
	require.NoError(t, err)
	secrets := []string{b.DBPassword, strings.TrimSpace(string(key))}

	// Older dumps beside the real one: a complete copy, one whose upload never
	// completed (no checksum), a corrupt one, a truncated one with a matching checksum.
	putDump(t, b, "immich-20261101T023000Z.pgdump", good, "")
	putDump(t, b, "immich-20261102T023000Z.pgdump", good, "none")
	corrupt := append([]byte{}, good...)
	corrupt[len(corrupt)/2] ^= 0xff
	h := sha256.Sum256(good)
	putDump(t, b, "immich-20261103T023000Z.pgdump", corrupt, hex.EncodeToString(h[:]))
	putDump(t, b, "immich-20261104T023000Z.pgdump", good[:64], "")

	r = plugin(t, b, 2*time.Minute, "backup", "list", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var dumps []backup.Dump
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &dumps))
	var names []string
	for _, d := range dumps {
		names = append(names, d.Name)
		fi, err := os.Stat(filepath.Join(b.Folder, d.Name))
		require.NoError(t, err)
		assert.Equal(t, fi.Size(), d.Size, d.Name)
		_, err = os.Stat(filepath.Join(b.Folder, d.Name+".sha256"))
		assert.Equal(t, err == nil, d.Checksum, d.Name)
	}
	assert.Equal(t, []string{real, "immich-20261104T023000Z.pgdump", "immich-20261103T023000Z.pgdump", "immich-20261102T023000Z.pgdump", "immich-20261101T023000Z.pgdump"}, names, "newest first")
	assert.Equal(t, time.Date(2026, 11, 1, 2, 30, 0, 0, time.UTC), dumps[4].Time)
	assert.Equal(t, []string{job}, jobNames(t, b), "the list Job is deleted")

	r = plugin(t, b, 0, "backup", "list")
	require.Equal(t, 0, r.Code, r.All())
	assert.Regexp(t, `(?m)^immich-20261102T023000Z.pgdump\s+\d+\s+2026-11-02T02:30:00Z\s+no$`, r.Stdout)

	// verify latest: the real dump, its table and versions.
	r = plugin(t, b, 2*time.Minute, "backup", "verify", "latest", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var v backup.Verification
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &v))
	assert.Equal(t, real, v.Name)
	assert.Equal(t, int64(len(good)), v.Size)
	assert.Contains(t, v.TablesWithData, "public.assets")
	assert.Greater(t, v.Entries, len(v.TablesWithData))
	assert.Regexp(t, `^15\.\d+`, v.PgDumpVersion)
	assert.Regexp(t, `^15\.\d+`, v.ServerVersion)
	for _, s := range secrets {
		assert.NotContains(t, r.All(), s)
	}

	for name, tc := range map[string]struct{ dump, reason string }{
		"checksum differs":                {"immich-20261103T023000Z.pgdump", "does not match its checksum"},
		"truncated":                       {"immich-20261104T023000Z.pgdump", "corrupt or truncated"},
		"incomplete upload (no checksum)": {"immich-20261102T023000Z.pgdump", "no complete dump"},
	} {
		t.Run(name, func(t *testing.T) {
			r := plugin(t, b, 2*time.Minute, "backup", "verify", tc.dump)
			assert.Equal(t, 1, r.Code, r.All())
			assert.Contains(t, r.Stderr, tc.reason)
			t.Logf("verify %s: exit %d\n%s", tc.dump, r.Code, r.Stderr)
			for _, s := range secrets {
				assert.NotContains(t, r.All(), s)
			}
		})
	}
	// A name the NAS does not have at all is bad input (exit 2), with the nearest one named.
	r = plugin(t, b, 2*time.Minute, "backup", "verify", "immich-20261103T023001Z.pgdump")
	assert.Equal(t, 2, r.Code, r.All())
	assert.Contains(t, r.Stderr, "no such dump on the NAS: immich-20261103T023001Z.pgdump; did you mean immich-20261103T023000Z.pgdump?")
	assert.Equal(t, []string{job}, jobNames(t, b), "every verify Job is deleted")

	// Without the SSH key's Secret the Job's pod would wait for ever: refused, exit 2.
	require.NoError(t, b.Cluster.Client.CoreV1().Secrets(b.Namespace).Delete(context.Background(), b.Settings.Backup.NAS.SSHKeySecret.Name, metav1.DeleteOptions{}))
	r = plugin(t, b, time.Minute, "backup", "list")
	assert.Equal(t, 2, r.Code, r.All())
	assert.Contains(t, r.Stderr, "secret "+b.Namespace+"/"+b.Settings.Backup.NAS.SSHKeySecret.Name+" does not exist")
	assert.Equal(t, []string{job}, jobNames(t, b), "nothing created")
}

// The retention (backup.retention) is applied by the backup itself: after a run, list
// shows exactly the newest `retention` complete dumps the NAS keeps.
func TestListAfterRetentionRemovedTheOldest(t *testing.T) {
	b := seed.RequireBackup(t, seed.BackupOptions{Edit: func(doc string) string {
		return strings.Replace(doc, "backup:\n", "backup:\n  retention: 2\n", 1)
	}})
	old := []byte("PGDMP old dump stand-in")
	for _, name := range []string{"immich-20261101T023000Z.pgdump", "immich-20261108T023000Z.pgdump", "immich-20261115T023000Z.pgdump"} {
		putDump(t, b, name, old, "")
	}
	r := plugin(t, b, 3*time.Minute, "backup", "run", "--wait", "--timeout", "2m")
	require.Equal(t, 0, r.Code, r.All())
	var real string
	for _, n := range b.Dumps(t) {
		if strings.HasSuffix(n, ".pgdump") && !strings.HasPrefix(n, "immich-202611") {
			real = n
		}
	}
	require.NotEmpty(t, real, "files: %v", b.Dumps(t))

	r = plugin(t, b, 2*time.Minute, "backup", "list", "-o", "json")
	require.Equal(t, 0, r.Code, r.All())
	var dumps []backup.Dump
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &dumps))
	var names []string
	for _, d := range dumps {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{real, "immich-20261115T023000Z.pgdump"}, names, "retention 2 keeps the two newest")
	assert.NotContains(t, b.Dumps(t), "immich-20261101T023000Z.pgdump")
}
