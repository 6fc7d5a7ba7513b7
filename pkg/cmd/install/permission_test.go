package install_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/picluster/kubectl-picluster/internal/testbed"
)

// A user without rights gets one error naming the permissions it lacks, as check's
// permissions line does, instead of one "forbidden" line per object (26 before).
func TestInstallWithoutRightsSummarisesThePermissions(t *testing.T) {
	t.Parallel()
	c := testbed.Require(t)
	e := newEnv(t, c)
	r := e.plugin(t, "", append([]string{"--as", "nobody-at-all", "install"}, namespaced...)...)
	assert.Equal(t, 2, r.Code, r.Err)
	assert.Equal(t, 1, strings.Count(r.Err, "Error:"), r.Err)
	assert.NotContains(t, r.Err, "forbidden", "no per-object API server text")
	assert.Contains(t, r.Err, "read the objects to apply: the API server refused ")
	assert.Contains(t, r.Err, "get configmaps in "+e.backup)
	assert.Contains(t, r.Err, "get cronjobs.batch in "+e.backup)
	assert.Contains(t, r.Err, "kubectl auth can-i --list")
	assert.Empty(t, r.Out, "nothing applied")
}
