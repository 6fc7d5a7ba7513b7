package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// What the settings accept as backup.nas.path and backup.nas.user, the backup script
// really uses: it lists a dump in such a folder through rsync over a real sshd with the
// rsync-only account. (The settings refuse the rest when they are loaded, not a week
// later when the CronJob first runs.)
func TestBackupScriptUsesEveryNASPathTheSettingsAccept(t *testing.T) {
	for _, b := range []string{"rsync", "ssh"} {
		proc.RequireBinary(t, b)
	}
	nas := servers.NAST(t, servers.Options{})
	dir := t.TempDir()
	script := filepath.Join(dir, "backup.sh")
	require.NoError(t, os.WriteFile(script, []byte(BackupScript()), 0o755))

	for name, folder := range map[string]string{
		"letters and digits": "backups2026",
		"every punctuation":  "pi-5_immich+db@home,%=~.d",
		"non-ASCII letters":  "bäckups-Über",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(nas.Path, folder)
			_, err := settings.Parse([]byte("backup:\n  nas:\n    path: " + path + "\n    user: " + nas.User + "\n    host: " + nas.Host + "\n"))
			require.NoError(t, err, "the settings accept %s", path)
			require.NoError(t, os.MkdirAll(path, 0o755))
			dump := "immich-20260105T023000Z.pgdump"
			require.NoError(t, os.WriteFile(filepath.Join(path, dump), []byte("x"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(path, dump+".sha256"), []byte("x"), 0o644))

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", script, "list")
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C.UTF-8",
				"PGDATABASE=immich", "BACKUP_TARGET=" + nas.User + "@" + nas.Host + ":" + path, "BACKUP_RSYNC_RSH=" + nas.RsyncRSH()}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, dump+"\n", string(out))
		})
	}
}
