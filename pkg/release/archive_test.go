package release

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestArchiveRoundTrip(t *testing.T) {
	src := t.TempDir()
	entries := []Entry{
		{Name: "kubectl-picluster", Source: writeFile(t, src, "bin", "\x7fELF binary"), Mode: 0o755},
		{Name: "kubectl_complete-picluster", Source: writeFile(t, src, "script", "#!/bin/sh\n"), Mode: 0o755},
		{Name: "LICENSE", Source: writeFile(t, src, "license", "Apache"), Mode: 0o644},
	}
	mtime := time.Unix(1_700_000_000, 0)
	for _, ext := range []string{".tar.gz", ".zip"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"+ext), filepath.Join(dir, "b"+ext)
			require.NoError(t, WriteArchive(a, entries, mtime))
			// Written later, from the same inputs: byte-identical, so the sha256 is too.
			require.NoError(t, WriteArchive(b, entries, mtime))
			shaA, err := FileSHA256(a)
			require.NoError(t, err)
			shaB, err := FileSHA256(b)
			require.NoError(t, err)
			assert.Equal(t, shaA, shaB)

			files, err := ListArchive(a)
			require.NoError(t, err)
			assert.Equal(t, []ArchivedFile{
				{Name: "kubectl-picluster", Mode: 0o755, Size: 11},
				{Name: "kubectl_complete-picluster", Mode: 0o755, Size: 10},
				{Name: "LICENSE", Mode: 0o644, Size: 6},
			}, files)

			data, err := ReadArchivedFile(a, "kubectl_complete-picluster")
			require.NoError(t, err)
			assert.Equal(t, "#!/bin/sh\n", string(data))
			_, err = ReadArchivedFile(a, "nope")
			require.ErrorIs(t, err, fs.ErrNotExist)
		})
	}
}

func TestWriteArchiveErrors(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "f", "x")
	tests := map[string]struct {
		dst     string
		entries []Entry
		wantErr string
	}{
		"unknown format": {dst: "a.rar", entries: []Entry{{Name: "f", Source: ok}}, wantErr: "unknown format"},
		"missing source": {dst: "a.tar.gz", entries: []Entry{{Name: "f", Source: filepath.Join(dir, "nope")}}, wantErr: "no such file"},
		"absolute name":  {dst: "a.zip", entries: []Entry{{Name: "/etc/f", Source: ok}}, wantErr: "want a relative path"},
		"dot-dot name":   {dst: "a.tar.gz", entries: []Entry{{Name: "../f", Source: ok}}, wantErr: "want a relative path"},
		"dir as source":  {dst: "a.tar.gz", entries: []Entry{{Name: "f", Source: dir}}, wantErr: "not a regular file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), tc.dst)
			err := WriteArchive(dst, tc.entries, time.Unix(0, 0))
			require.ErrorContains(t, err, tc.wantErr)
			_, statErr := os.Stat(dst)
			assert.ErrorIs(t, statErr, fs.ErrNotExist, "no half-written archive is left")
		})
	}
}

func TestWriteChecksums(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "checksums.txt")
	require.NoError(t, WriteChecksums(dst,
		Artifact{Path: "/x/a.tar.gz", SHA256: "aa"}, Artifact{Path: "/x/b.zip", SHA256: "bb"}))
	data, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "aa  a.tar.gz\nbb  b.zip\n", string(data))
}
