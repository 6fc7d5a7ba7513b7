package backup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// listing is what `rsync --list-only --dirs --no-human-readable ./` (rsync 3.5.0,
// Debian) printed for a folder with a dump and its checksum, a dump without one, an
// unrelated file and a folder.
const listing = `drwxr-xr-x        4096 2026/12/02 09:59:49 .
-rw-r--r--           2 2026/12/02 09:41:49 immich-20261101T023000Z.pgdump
-rw-r--r--      123456 2026/12/02 09:41:49 immich-20261202T094149Z.pgdump
-rw-r--r--           2 2026/12/02 09:41:49 immich-20261202T094149Z.pgdump.sha256
-rw-r--r--           2 2026/12/02 09:41:49 other.txt
drwxr-xr-x        4096 2026/12/02 09:41:49 sub
`

func TestParseListing(t *testing.T) {
	dumps, ok := ParseListing(listing, "immich")
	assert.True(t, ok)
	assert.Equal(t, []Dump{
		{Name: "immich-20261202T094149Z.pgdump", Size: 123456, Time: time.Date(2026, 12, 2, 9, 41, 49, 0, time.UTC), Checksum: true},
		{Name: "immich-20261101T023000Z.pgdump", Size: 2, Time: time.Date(2026, 11, 1, 2, 30, 0, 0, time.UTC)},
	}, dumps)

	dumps, ok = ParseListing(listing, "other")
	assert.True(t, ok)
	assert.Empty(t, dumps, "another database's dumps are not these")

	_, ok = ParseListing("rsync: connection unexpectedly closed\n", "immich")
	assert.False(t, ok, "no listing is not an empty folder")
}
