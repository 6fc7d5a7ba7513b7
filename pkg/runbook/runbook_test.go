package runbook

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// bundleAlerts returns the names of every alert the bundle installs.
func bundleAlerts(t *testing.T) []string {
	t.Helper()
	groups, err := bundle.RuleGroups(settings.Default())
	require.NoError(t, err)
	var out []string
	for _, text := range groups {
		var spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
				} `json:"rules"`
			} `json:"groups"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(text), &spec))
		for _, g := range spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					out = append(out, r.Alert)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestOneRunbookPerAlertAndRestore(t *testing.T) {
	want := append(bundleAlerts(t), "restore")
	sort.Strings(want)
	assert.Equal(t, want, Names(), "every alert's runbook_url points at a runbook, and no runbook is orphaned")
}

func TestRunbooksHaveTheFourSections(t *testing.T) {
	list, err := List()
	require.NoError(t, err)
	require.NotEmpty(t, list)
	for _, r := range list {
		t.Run(r.Name, func(t *testing.T) {
			text, err := Show(r.Name)
			require.NoError(t, err)
			assert.NotEmpty(t, r.Title)
			if r.Name != "restore" {
				assert.Equal(t, r.Name, r.Title, "an alert's runbook is titled with the alert's name")
			}
			assert.Equal(t, []string{"Meaning", "Impact", "Diagnosis", "Mitigation"}, Sections(text))
		})
	}
}

func TestShow(t *testing.T) {
	tests := map[string]struct {
		name    string
		heading string
		err     string
	}{
		"exact":              {name: "BackupStale", heading: "# BackupStale"},
		"any case":           {name: "backupstale", heading: "# BackupStale"},
		"file name from URL": {name: "ImmichServerDown.md", heading: "# ImmichServerDown"},
		"restore":            {name: "restore", heading: "# Restore Immich's database"},
		"unknown":            {name: "Watchdog", err: `no runbook named "Watchdog"`},
		"empty":              {name: "", err: "no runbook named"},
		"no path tricks":     {name: "../runbook.go", err: "no runbook named"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			text, err := Show(tc.name)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				var nf *NotFoundError
				require.True(t, errors.As(err, &nf))
				assert.Contains(t, nf.Known, "restore")
				return
			}
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(text, tc.heading), text[:40])
		})
	}
}

func TestList(t *testing.T) {
	list, err := List()
	require.NoError(t, err)
	assert.Contains(t, list, Runbook{Name: "restore", Title: "Restore Immich's database from a backup"})
	assert.Contains(t, list, Runbook{Name: "ImmichSlowRequests", Title: "ImmichSlowRequests"})
	assert.True(t, sort.SliceIsSorted(list, func(i, j int) bool { return list[i].Name < list[j].Name }))
}
