package runbook

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// rule is an alerting rule of the rendered bundle, with the component of its PrometheusRule.
type rule struct {
	alert, severity, runbookURL, component string
}

// everything switches every optional component on, so that the rendered bundle
// holds every alert that has a runbook (the restore drill's too).
func everything(s *settings.Settings) *settings.Settings {
	s.RestoreDrill.Enabled = true
	return s
}

// bundleRules renders the whole bundle (every component) and returns its alerting rules.
func bundleRules(t *testing.T, s *settings.Settings) []rule {
	t.Helper()
	objs, err := bundle.Render(everything(s))
	require.NoError(t, err)
	var out []rule
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		groups, _ := o.Object["spec"].(map[string]any)["groups"].([]any)
		for _, g := range groups {
			rules, _ := g.(map[string]any)["rules"].([]any)
			for _, r := range rules {
				m := r.(map[string]any)
				name, _ := m["alert"].(string)
				if name == "" {
					continue
				}
				labels, _ := m["labels"].(map[string]any)
				ann, _ := m["annotations"].(map[string]any)
				sev, _ := labels["severity"].(string)
				url, _ := ann["runbook_url"].(string)
				out = append(out, rule{alert: name, severity: sev, runbookURL: url, component: o.GetLabels()[bundle.ComponentLabel]})
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestOneRunbookPerAlertAndRestore(t *testing.T) {
	var want []string
	for _, r := range bundleRules(t, settings.Default()) {
		want = append(want, r.alert)
	}
	want = append(want, "restore")
	sort.Strings(want)
	assert.Equal(t, want, Names(), "every alert of the rendered bundle has a runbook, and every runbook's alert is in the bundle")
}

// TestRunbookURLsResolve: the runbook_url of every rendered alert, with the default
// base URL and another one, resolves to the runbook of that alert, whose front matter
// agrees with the rule (alert, severity, component).
func TestRunbookURLsResolve(t *testing.T) {
	other := settings.Default()
	other.Runbooks.BaseURL = "https://runbooks.example.org/picluster/"
	for _, s := range []*settings.Settings{settings.Default(), other} {
		for _, r := range bundleRules(t, s) {
			t.Run(r.alert+" "+r.runbookURL, func(t *testing.T) {
				require.True(t, strings.HasPrefix(r.runbookURL, strings.TrimRight(s.Runbooks.BaseURL, "/")+"/"), r.runbookURL)
				d, err := Load(r.runbookURL)
				require.NoError(t, err)
				assert.Equal(t, r.alert, d.Name)
				assert.Equal(t, r.alert, d.Front.Alert)
				assert.Equal(t, r.severity, d.Front.Severity)
				assert.Contains(t, d.Front.Components, r.component)
			})
		}
	}
}

func TestRunbooksHaveTheFourSections(t *testing.T) {
	list, err := List()
	require.NoError(t, err)
	require.NotEmpty(t, list)
	for _, r := range list {
		t.Run(r.Name, func(t *testing.T) {
			d, err := Load(r.Name)
			require.NoError(t, err)
			assert.NotEmpty(t, r.Title)
			if r.Name != "restore" {
				assert.Equal(t, r.Name, r.Title, "an alert's runbook is titled with the alert's name")
			}
			assert.Equal(t, []string{SectionMeaning, SectionImpact, SectionDiagnosis, SectionMitigation}, d.Sections)
			for _, c := range d.Front.Components {
				assert.Contains(t, bundle.Components(), c)
			}
			assert.NotEmpty(t, d.Front.Components)
			var diag, mutating int
			for _, s := range d.Steps {
				if s.Section == SectionDiagnosis {
					diag++
				}
				if s.Mutating {
					mutating++
				}
			}
			assert.NotZero(t, diag, "a runbook diagnoses something")
			assert.NotZero(t, mutating, "a runbook offers a mitigation that does something")
		})
	}
}

// TestStepsParse: every step of every runbook fills from the default settings (and
// from settings with other namespaces), kubectl steps are read verbs or marked
// mutations, PromQL parses with Prometheus's parser. (That picluster steps name
// real commands is checked against the command tree in pkg/cmd/runbook.)
func TestStepsParse(t *testing.T) {
	other := settings.Default()
	other.Namespaces = settings.Namespaces{Monitoring: "mon", Immich: "photos", Backup: "bak"}
	for _, name := range Names() {
		for _, s := range []*settings.Settings{settings.Default(), other} {
			d, err := Load(name)
			require.NoError(t, err)
			labels, err := d.Front.DefaultLabels(s)
			require.NoError(t, err)
			require.NoError(t, Check(d, Data{Labels: labels, Settings: s}, nil), name)
			for _, st := range d.Steps {
				if st.Kind == KindKubectl || st.Kind == KindPromQL {
					text, err := Expand(st.Text, Data{Labels: labels, Settings: s})
					if err == nil && s == other {
						assert.NotContains(t, text, `"immich"`, "%s line %d uses the default namespace, not the settings'", name, st.Line)
					}
				}
			}
		}
	}
}

func TestShow(t *testing.T) {
	tests := map[string]struct {
		name    string
		heading string
		err     string
		nearest []string
	}{
		"exact":              {name: "BackupStale", heading: "# BackupStale"},
		"any case":           {name: "backupstale", heading: "# BackupStale"},
		"file name from URL": {name: "ImmichServerDown.md", heading: "# ImmichServerDown"},
		"runbook_url":        {name: "https://github.com/picluster/kubectl-picluster/blob/main/runbooks/ImmichServerDown.md", heading: "# ImmichServerDown"},
		"restore":            {name: "restore", heading: "# Restore Immich's database"},
		"unknown":            {name: "Watchdog", err: `no runbook named "Watchdog"`},
		"typo":               {name: "BackupStal", err: "did you mean BackupStale", nearest: []string{"BackupStale"}},
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
				if tc.nearest != nil {
					assert.Equal(t, tc.nearest, nf.Nearest[:1])
				}
				return
			}
			require.NoError(t, err)
			assert.Contains(t, text, "\n"+tc.heading)
		})
	}
}

func TestList(t *testing.T) {
	list, err := List()
	require.NoError(t, err)
	assert.Contains(t, list, Runbook{Name: "restore", Title: "Restore Immich's database from a backup"})
	assert.Contains(t, list, Runbook{Name: "ImmichSlowRequests", Title: "ImmichSlowRequests", Alert: "ImmichSlowRequests", Severity: "warning"})
	assert.True(t, sort.SliceIsSorted(list, func(i, j int) bool { return list[i].Name < list[j].Name }))
}

func TestParseSteps(t *testing.T) {
	doc := "---\nalert: X\ncomponents: [immich]\n---\n# X\n\n## Diagnosis\n```promql title=\"depth\" problem=\"> 5\"\nup\n```\n```sh\nnot run\n```\n## Mitigation\n```picluster mutating\nkubectl picluster backup run\n```\n"
	d, err := Parse("X", doc)
	require.NoError(t, err)
	assert.Equal(t, []Step{
		{Section: "Diagnosis", Kind: "promql", Title: "depth", Problem: "> 5", Text: "up", Line: 8},
		{Section: "Mitigation", Kind: "picluster", Mutating: true, Text: "kubectl picluster backup run", Line: 15},
	}, d.Steps)

	// a step in a list item: the fence and its content are indented
	d, err = Parse("X", "# X\n## Diagnosis\n1. Jobs:\n   ```kubectl title=\"jobs\"\n   kubectl -n x get jobs \\\n     -o wide\n   ```\n")
	require.NoError(t, err)
	require.Len(t, d.Steps, 1)
	assert.Equal(t, "kubectl -n x get jobs \\\n  -o wide", d.Steps[0].Text)
	require.NoError(t, Check(d, Data{Settings: settings.Default()}, nil))

	bad := map[string]string{
		"unknown attribute": "# X\n## Diagnosis\n```promql color=red\nup\n```\n",
		"unclosed":          "# X\n## Diagnosis\n```promql\nup\n",
		"mutating query":    "# X\n## Diagnosis\n```promql mutating\nup\n```\n",
		"bad front matter":  "---\nalert: [\n---\n# X\n",
		"unknown key":       "---\nalrt: X\n---\n# X\n",
	}
	for name, text := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("X", text)
			assert.Error(t, err)
		})
	}
}

func TestCheckRefusesBadSteps(t *testing.T) {
	tests := map[string]string{
		"write verb":           "## Diagnosis\n```kubectl\nkubectl -n x delete pod y\n```\n",
		"unmarked mutation":    "## Mitigation\n```kubectl\nkubectl -n x rollout restart deployment/y\n```\n",
		"mutation in diagnose": "## Diagnosis\n```kubectl mutating\nkubectl -n x rollout restart deployment/y\n```\n",
		"pipe":                 "## Diagnosis\n```kubectl\nkubectl -n x logs deploy/y | grep z\n```\n",
		"flag of another verb": "## Diagnosis\n```kubectl\nkubectl -n x get pods --tail 5\n```\n",
		"bad promql":           "## Diagnosis\n```promql\nsum(rate(x[5m])\n```\n",
		"bad condition":        "## Diagnosis\n```promql problem=\"big\"\nup\n```\n",
		"two commands":         "## Diagnosis\n```kubectl\nkubectl get pods\nkubectl get jobs\n```\n",
		"not kubectl":          "## Diagnosis\n```kubectl\nhelm list\n```\n",
		"bad template":         "## Diagnosis\n```kubectl\nkubectl get {{ .Nope }}\n```\n",
		"step in meaning":      "## Meaning\n```kubectl\nkubectl get pods\n```\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := Parse("X", "# X\n"+body)
			require.NoError(t, err)
			assert.Error(t, Check(d, Data{Labels: map[string]string{}, Settings: settings.Default()}, nil))
		})
	}
}

func TestMissingLabelsSkipNotFail(t *testing.T) {
	d, err := Parse("X", "# X\n## Diagnosis\n```kubectl\nkubectl -n {{ .Labels.namespace }} logs job/{{ .Labels.job_name }}\n```\n")
	require.NoError(t, err)
	data := Data{Labels: map[string]string{"namespace": "bak"}, Settings: settings.Default()}
	require.NoError(t, Check(d, data, nil))
	missing, err := MissingLabels(d.Steps[0].Text, data)
	require.NoError(t, err)
	assert.Equal(t, []string{"job_name"}, missing)
	rep, err := (&Runner{Data: data}).Run(t.Context(), d)
	require.NoError(t, err)
	assert.Equal(t, StatusSkipped, rep.Steps[0].Status)
	assert.Contains(t, rep.Steps[0].Reason, "--alert-labels job_name=")
	assert.Equal(t, 0, rep.ExitCode)
}

func TestCondition(t *testing.T) {
	tests := map[string]struct {
		cond   string
		values []float64
		want   bool
	}{
		"over":         {"> 500", []float64{612}, true},
		"under":        {"> 500", []float64{12}, false},
		"one of many":  {">= 1", []float64{0, 1}, true},
		"zero":         {"== 0", []float64{0}, true},
		"no samples":   {"> 0", nil, false},
		"any":          {"any", []float64{0}, true},
		"any, none":    {"any", nil, false},
		"none":         {"none", nil, true},
		"none, some":   {"none", []float64{3}, false},
		"spaces":       {" <  2.5 ", []float64{1}, true},
		"not equal":    {"!= 1", []float64{1}, false},
		"less or same": {"<= 1", []float64{1}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseCondition(tc.cond)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Present(tc.values))
		})
	}
	_, err := ParseCondition("> lots")
	assert.Error(t, err)
}

func TestRender(t *testing.T) {
	d, err := Load("ImmichThumbnailQueueStuck")
	require.NoError(t, err)
	s := settings.Default()
	s.Namespaces.Immich = "photos"
	labels, err := d.Front.DefaultLabels(s)
	require.NoError(t, err)
	var plain, color strings.Builder
	require.NoError(t, Render(&plain, d, Data{Labels: labels, Settings: s}, false))
	require.NoError(t, Render(&color, d, Data{Labels: labels, Settings: s}, true))
	assert.NotContains(t, plain.String(), "\x1b[")
	assert.Contains(t, color.String(), ansiHeading+"Diagnosis"+ansiReset)
	assert.Contains(t, plain.String(), "$ kubectl -n photos rollout restart deployment/immich-server")
	assert.Contains(t, plain.String(), "[kubectl, changes the cluster: asks first] restart the Immich server")
	assert.NotContains(t, plain.String(), "{{")
	text, err := Show(d.Name)
	require.NoError(t, err)
	md := Plain(d, text, Data{Labels: labels, Settings: s})
	assert.Contains(t, md, "```kubectl mutating title=\"restart the Immich server\"\nkubectl -n photos rollout restart deployment/immich-server\n```")
	assert.True(t, slices.Contains(strings.Split(md, "\n"), "## Diagnosis"))
}
