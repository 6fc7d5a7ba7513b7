package bundle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"text/template"
	"time"

	promModel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// ruleVariants are the settings the rule tests run with: the defaults, and settings
// that change every name, threshold and window the rules take from them.
func ruleVariants() map[string]*settings.Settings {
	other := settings.Default()
	other.Namespaces.Immich = "photos"
	other.Namespaces.Backup = "nightly"
	other.Immich.MetricsService = "photos-metrics"
	other.Immich.Metrics = settings.ImmichMetrics{
		ThumbnailQueue: "immich_queues_thumbnail_generation_active", VideoQueue: "immich_queues_video_conversion_active",
		MetadataQueue: "immich_queues_metadata_extraction_active", ThumbnailSuccess: "immich_jobs_generate_thumbnails_success_total",
		ThumbnailFailed: "immich_jobs_generate_thumbnails_failed_total", VideoSuccess: "immich_jobs_video_conversion_success_total",
		MetadataSuccess: "immich_jobs_metadata_extraction_success_total", RequestDuration: "http_server_request_duration_seconds",
		RequestDurationUnit: "seconds",
	}
	th := &other.Immich.Thresholds
	th.ThumbnailQueue, th.VideoQueue, th.MetadataQueue = 20, 3, 7
	th.QueueStuckFor = settings.Duration(45 * time.Minute)
	th.NoThumbnailActivity = settings.Duration(2 * time.Hour)
	th.SlowRequestSeconds = 1.5
	th.ServerDownFor = settings.Duration(3 * time.Minute)
	th.TargetMissingFor = settings.Duration(15 * time.Minute)
	th.SlowRequestsFor = settings.Duration(2 * time.Minute)
	other.Backup.CronJob = "pg-dump"
	other.Backup.StaleAfter = settings.Duration(2 * 24 * time.Hour)
	other.RestoreDrill.Enabled = true
	other.RestoreDrill.CronJob = "drill"
	other.RestoreDrill.StaleAfter = settings.Duration(15 * 24 * time.Hour)
	return map[string]*settings.Settings{"defaults": settings.Default(), "other settings": other}
}

func TestRulesPassPromtoolCheck(t *testing.T) {
	promtool := proc.RequireBinary(t, "promtool")
	for name, s := range ruleVariants() {
		t.Run(name, func(t *testing.T) {
			groups, err := RuleGroups(s)
			require.NoError(t, err)
			want := 2 // the immich and backup PrometheusRules
			if s.RestoreDrill.Enabled {
				want++ // and the restore drill's
			}
			require.Len(t, groups, want)
			dir := t.TempDir()
			for rule, text := range groups {
				file := filepath.Join(dir, rule+".yaml")
				require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
				out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
				require.NoError(t, err, "promtool check rules %s:\n%s", rule, out)
				assert.Contains(t, string(out), "SUCCESS")
			}
		})
	}
}

// Every alert has a severity, a summary, a description and a runbook_url built from
// the settings' base URL and the alert's name.
func TestAlertsAreDocumented(t *testing.T) {
	s := everyComponentOn()
	for _, r := range alertRules(t, s) {
		t.Run(r.Alert, func(t *testing.T) {
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"])
			assert.NotEmpty(t, r.Annotations["summary"])
			assert.NotEmpty(t, r.Annotations["description"])
			assert.Equal(t, s.Runbooks.BaseURL+"/"+r.Alert+".md", r.Annotations["runbook_url"])
			assert.NotContains(t, r.Annotations["description"], "$value", "annotations use labels only (the unit tests expand them)")
		})
	}
}

// TestEveryAlertHasUnitTests runs `promtool test rules` on tests generated from the
// settings: each alert fires once its condition has held for its `for:`, and stays
// silent when the condition holds for less, or does not hold.
func TestEveryAlertHasUnitTests(t *testing.T) {
	promtool := proc.RequireBinary(t, "promtool")
	for name, s := range ruleVariants() {
		t.Run(name, func(t *testing.T) {
			groups, err := RuleGroups(s)
			require.NoError(t, err)
			rules := alertRules(t, s)
			cases := alertCases(t, s, rules)

			var alerts, tested []string
			for _, r := range rules {
				alerts = append(alerts, r.Alert)
			}
			for alert := range cases {
				tested = append(tested, alert)
			}
			sort.Strings(alerts)
			sort.Strings(tested)
			require.Equal(t, alerts, tested, "every alert of the bundle has unit tests, and only those")

			dir := t.TempDir()
			for rule, text := range groups {
				require.NoError(t, os.WriteFile(filepath.Join(dir, rule+".yaml"), []byte(text), 0o600))
			}
			for _, r := range rules {
				t.Run(r.Alert, func(t *testing.T) {
					file := filepath.Join(dir, r.Alert+"_test.yaml")
					require.NoError(t, os.WriteFile(file, promtoolTests(t, r, cases[r.Alert]), 0o600))
					out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
					require.NoError(t, err, "promtool test rules:\n%s\ntests:\n%s", out, mustRead(t, file))
					assert.Contains(t, string(out), "SUCCESS")
				})
			}
		})
	}
}

// alertRule is one alerting rule as promtool reads it, plus the file it is in.
type alertRule struct {
	File        string            `json:"-"`
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T, s *settings.Settings) []alertRule {
	t.Helper()
	groups, err := RuleGroups(s)
	require.NoError(t, err)
	var out []alertRule
	for file, text := range groups {
		var spec struct {
			Groups []struct {
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(text), &spec))
		for _, g := range spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					r.File = file + ".yaml"
					out = append(out, r)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alert < out[j].Alert })
	return out
}

// promtoolTests writes a `promtool test rules` file: one test group per case, each
// evaluated at one time, expecting the alert (labels and expanded annotations) or
// no alert at all.
func promtoolTests(t *testing.T, r alertRule, cases []alertCase) []byte {
	t.Helper()
	require.NotEmpty(t, cases)
	fires, silent := 0, 0
	type expAlert struct {
		ExpLabels      map[string]string `json:"exp_labels"`
		ExpAnnotations map[string]string `json:"exp_annotations"`
	}
	type ruleTest struct {
		EvalTime  string     `json:"eval_time"`
		Alertname string     `json:"alertname"`
		ExpAlerts []expAlert `json:"exp_alerts"`
	}
	type series struct {
		Series string `json:"series"`
		Values string `json:"values"`
	}
	type group struct {
		Name          string     `json:"name"`
		Interval      string     `json:"interval"`
		InputSeries   []series   `json:"input_series"`
		AlertRuleTest []ruleTest `json:"alert_rule_test"`
	}
	var groups []group
	for _, c := range cases {
		g := group{Name: c.name, Interval: "1m"}
		for _, in := range c.series {
			g.InputSeries = append(g.InputSeries, series{Series: in.selector, Values: in.values})
		}
		rt := ruleTest{EvalTime: model(c.at), Alertname: r.Alert, ExpAlerts: []expAlert{}}
		if c.fires != nil {
			fires++
			labels := map[string]string{"alertname": r.Alert}
			for k, v := range r.Labels {
				labels[k] = v
			}
			for k, v := range c.fires {
				labels[k] = v
			}
			rt.ExpAlerts = append(rt.ExpAlerts, expAlert{ExpLabels: labels, ExpAnnotations: expandAnnotations(t, r.Annotations, labels)})
		} else {
			silent++
		}
		g.AlertRuleTest = []ruleTest{rt}
		groups = append(groups, g)
	}
	require.Positive(t, fires, "%s: a case where it fires", r.Alert)
	require.Positive(t, silent, "%s: a case where it stays silent", r.Alert)
	b, err := yaml.Marshal(map[string]any{
		"rule_files":          []string{r.File},
		"evaluation_interval": "1m",
		"tests":               groups,
	})
	require.NoError(t, err)
	return b
}

// expandAnnotations expands annotation templates as Prometheus does for an alert
// with these labels ($labels only; the rules use nothing else, see TestAlertsAreDocumented).
func expandAnnotations(t *testing.T, annotations, labels map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, text := range annotations {
		tmpl, err := template.New(k).Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, tmpl.Execute(&b, map[string]any{"Labels": labels, "Value": 0.0}))
		require.NotContains(t, b.String(), "<no value>", "annotation %s uses a label the alert does not have", k)
		out[k] = b.String()
	}
	return out
}

func model(d time.Duration) string { return promModel.Duration(d).String() }

func mustRead(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(b)
}
