package bundle

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenDefaultRender pins the whole bundle rendered from the default settings:
// any change to a template shows up as a diff in review. Run with -update to accept.
func TestGoldenDefaultRender(t *testing.T) {
	tests := map[string]struct {
		components []string
		drill      bool // restoreDrill.enabled
		golden     string
	}{
		"restore-drill": {components: []string{RestoreDrill}, drill: true, golden: "restore-drill.golden"},
		"all":           {golden: "default.golden"},
		"monitoring":    {components: []string{Monitoring}, golden: "monitoring.golden"},
		"immich":        {components: []string{Immich}, golden: "immich.golden"},
		"backup":        {components: []string{Backup}, golden: "backup.golden"},
		"rbac":          {components: []string{RBAC}, golden: "rbac.golden"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			s.RestoreDrill.Enabled = tc.drill
			objs, err := Render(s, tc.components...)
			require.NoError(t, err)
			got, err := YAML(objs)
			require.NoError(t, err)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./pkg/bundle -run TestGoldenDefaultRender -update to create it")
			assert.Equal(t, string(want), string(got), "rendered bundle differs from %s; run with -update if the change is intended", path)
		})
	}
}
