package restore

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The output formats of manifests/scripts/restore.sh, as its header documents them
// (the bed tests run the script itself).
func TestParseInspect(t *testing.T) {
	in, ok := ParseInspect(`; File: immich-20261129T030000Z.pgdump 123456
server 15.14 (Debian 15.14-0+deb12u1)
extension cube available
extension earthdistance available
extension vector missing
table public.assets 4000
table public."user" 1
table public."odd name" 2
inspect: ok
`)
	assert.True(t, ok)
	assert.Equal(t, "immich-20261129T030000Z.pgdump", in.Name)
	assert.Equal(t, int64(123456), in.Size)
	assert.Equal(t, "15.14 (Debian 15.14-0+deb12u1)", in.Server)
	assert.Equal(t, []string{"cube", "earthdistance", "vector"}, in.Extensions)
	assert.Equal(t, []string{"vector"}, in.Missing)
	assert.Equal(t, map[string]int64{"public.assets": 4000, `public."user"`: 1, `public."odd name"`: 2}, in.Tables)

	_, ok = ParseInspect("server 15.14\ntable public.assets 4000\n")
	assert.False(t, ok, "without its closing line the inspection is incomplete")
}

func TestParseVerify(t *testing.T) {
	checks, ok := ParseVerify(`2026-12-02T10:00:00Z restore: pg_restore --jobs 2
verify public.assets dump=4000 restored=4000 ok
verify public.audit_log dump=3000 restored=6000 differs
verify public."odd name" dump=2 restored=- missing
verify: failed 2 of 3 tables
`)
	assert.False(t, ok)
	assert.Equal(t, []TableCheck{
		{Table: "public.assets", Dump: 4000, Restored: 4000, Result: "ok"},
		{Table: "public.audit_log", Dump: 3000, Restored: 6000, Result: "differs"},
		{Table: `public."odd name"`, Dump: 2, Restored: 0, Result: "missing"},
	}, checks)
	assert.Equal(t, "table public.audit_log has 6000 rows, the dump 3000; table public.\"odd name\" is missing (dump: 2 rows)", describe(Differences(checks)))

	_, ok = ParseVerify("verify public.assets dump=1 restored=1 ok\nverify: ok 1 tables\n")
	assert.True(t, ok)
}

func TestStepsInOrder(t *testing.T) {
	var got []Step
	for s := next(""); s != ""; s = next(s) {
		got = append(got, s)
	}
	assert.Equal(t, Steps, got)
	assert.Equal(t, RestorePointLabel, dumpLabel("immich", "immich-restorepoint-20261202T100000Z.pgdump"))
	assert.Equal(t, "", dumpLabel("immich", "immich-20261202T100000Z.pgdump"))
}
