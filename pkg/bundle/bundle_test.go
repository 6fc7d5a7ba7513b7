package bundle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/picluster/kubectl-picluster/pkg/settings"
)

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

func TestComponentsInInstallOrder(t *testing.T) {
	assert.Equal(t, []string{Monitoring, Immich, Backup, RestoreDrill, RBAC}, Components())
}

func TestRenderSelectsComponents(t *testing.T) {
	tests := map[string]struct {
		components []string
		drill      bool     // restoreDrill.enabled
		want       []string // components present, in order
		err        string
	}{
		"none means all":            {want: []string{Monitoring, Immich, Backup, RBAC}},
		"all with the drill on":     {drill: true, want: []string{Monitoring, Immich, Backup, RestoreDrill, RBAC}},
		"the drill on, named":       {drill: true, components: []string{RestoreDrill}, want: []string{RestoreDrill}},
		"the drill off, named":      {components: []string{Backup, RestoreDrill}, err: "component restore-drill is switched off in the settings: set restoreDrill.enabled: true"},
		"one":                       {components: []string{Backup}, want: []string{Backup}},
		"install order, not asked":  {components: []string{RBAC, Monitoring}, want: []string{Monitoring, RBAC}},
		"duplicates render once":    {components: []string{Immich, Immich}, want: []string{Immich}},
		"unknown component":         {components: []string{"grafana"}, err: `unknown component "grafana"`},
		"unknown among known ones":  {components: []string{Backup, "alerts"}, err: `unknown component "alerts"`},
		"case matters (as kubectl)": {components: []string{"Backup"}, err: `unknown component "Backup"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			s.RestoreDrill.Enabled = tc.drill
			objs, err := Render(s, tc.components...)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.Nil(t, objs)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, o := range objs {
				c := o.GetLabels()[ComponentLabel]
				if len(got) == 0 || got[len(got)-1] != c {
					got = append(got, c)
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	first, err := Render(settings.Default())
	require.NoError(t, err)
	for range 5 {
		again, err := Render(settings.Default())
		require.NoError(t, err)
		a, err := YAML(first)
		require.NoError(t, err)
		b, err := YAML(again)
		require.NoError(t, err)
		require.Equal(t, string(a), string(b))
	}
}

// everyComponentOn is the default settings with the optional components switched on.
func everyComponentOn() *settings.Settings {
	s := settings.Default()
	s.RestoreDrill.Enabled = true
	return s
}

func TestEveryObjectIsLabelledAndPlaced(t *testing.T) {
	objs, err := Render(everyComponentOn())
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	for _, o := range objs {
		t.Run(objectKey(o), func(t *testing.T) {
			assert.Equal(t, ManagedByValue, o.GetLabels()[ManagedByLabel])
			assert.Contains(t, Components(), o.GetLabels()[ComponentLabel])
			assert.NotEmpty(t, o.GetAPIVersion())
			assert.NotEmpty(t, o.GetName())
			if clusterScoped[o.GetKind()] {
				assert.Empty(t, o.GetNamespace(), "cluster-scoped")
			} else {
				assert.NotEmpty(t, o.GetNamespace(), "namespaced objects name their namespace")
			}
		})
	}
}

// The bundle never creates the Immich namespace: Immich's own release owns it, and
// uninstalling the bundle must not delete it.
func TestNamespacesTheBundleOwns(t *testing.T) {
	objs, err := Render(settings.Default())
	require.NoError(t, err)
	var got []string
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			got = append(got, o.GetName())
		}
	}
	assert.Equal(t, []string{"monitoring", "backup-jobs"}, got)
}

func TestBadSettingsRenderNothing(t *testing.T) {
	tests := map[string]struct {
		edit func(s *settings.Settings)
		key  string
	}{
		"bad cron":            {edit: func(s *settings.Settings) { s.Backup.Schedule = "0 2 * *" }, key: "backup.schedule"},
		"unknown time zone":   {edit: func(s *settings.Settings) { s.Backup.TimeZone = "Mars/Olympus" }, key: "backup.timeZone"},
		"empty NAS host":      {edit: func(s *settings.Settings) { s.Backup.NAS.Host = "" }, key: "backup.nas.host"},
		"zero retention":      {edit: func(s *settings.Settings) { s.Backup.Retention = 0 }, key: "backup.retention"},
		"negative retention":  {edit: func(s *settings.Settings) { s.Backup.Retention = -1 }, key: "backup.retention"},
		"bad metric name":     {edit: func(s *settings.Settings) { s.Immich.Metrics.VideoQueue = "immich.queues.video" }, key: "immich.metrics.videoQueue"},
		"unpinned image":      {edit: func(s *settings.Settings) { s.Backup.UploadImage = "rsync:latest" }, key: "backup.uploadImage"},
		"bad namespace":       {edit: func(s *settings.Settings) { s.Namespaces.Backup = "Backup Jobs" }, key: "namespaces.backup"},
		"no immich pods":      {edit: func(s *settings.Settings) { s.Immich.PodSelector = nil }, key: "immich.podSelector"},
		"bad runbook base":    {edit: func(s *settings.Settings) { s.Runbooks.BaseURL = "runbooks" }, key: "runbooks.baseURL"},
		"bad duration unit":   {edit: func(s *settings.Settings) { s.Immich.Metrics.RequestDurationUnit = "us" }, key: "immich.metrics.requestDurationUnit"},
		"empty operator role": {edit: func(s *settings.Settings) { s.RBAC.Group = " " }, key: "rbac.group"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			tc.edit(s)
			objs, err := Render(s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "key "+tc.key)
			assert.Nil(t, objs, "nothing rendered")

			_, err = AlertmanagerConfig(s)
			assert.ErrorContains(t, err, "key "+tc.key)
			_, err = RuleGroups(s)
			assert.ErrorContains(t, err, "key "+tc.key)
		})
	}
}

func TestNoSettings(t *testing.T) {
	_, err := Render(nil)
	require.Error(t, err)
}

// Values from the settings that need quoting in YAML still render valid objects
// that carry the value unchanged.
func TestSettingsValuesAreQuoted(t *testing.T) {
	tests := map[string]struct {
		edit  func(s *settings.Settings)
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		"receiver with YAML syntax": {
			edit: func(s *settings.Settings) { s.Monitoring.Receiver = `discord: "alerts" #1` },
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				values := alertmanagerValues(t, objs)
				assert.Contains(t, values, `"discord: \"alerts\" #1"`)
				assert.Equal(t, "alertmanager.config.receivers[1].discord_configs[0].webhook_url", discordValuesFrom(t, objs)["targetPath"])
			},
		},
		"1Password item with quotes and colons": {
			edit: func(s *settings.Settings) {
				s.ExternalSecrets.DiscordWebhook = settings.RemoteRef{Key: `ops: "alerts"`, Property: "url # main"}
			},
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				ref := remoteRefs(t, objs)["alertmanager-discord-webhook"][0]
				assert.Equal(t, map[string]any{"key": `ops: "alerts"/url # main`}, ref)
			},
		},
		"1Password item with quotes and colons, Connect": {
			edit: func(s *settings.Settings) {
				s.ExternalSecrets.Provider = settings.ProviderOnePasswordConnect
				s.ExternalSecrets.DiscordWebhook = settings.RemoteRef{Key: `ops: "alerts"`, Property: "url # main"}
			},
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				ref := remoteRefs(t, objs)["alertmanager-discord-webhook"][0]
				assert.Equal(t, map[string]any{"key": `ops: "alerts"`, "property": "url # main"}, ref)
			},
		},
		"chart version range": {
			edit: func(s *settings.Settings) { s.Monitoring.ChartVersion = ">=83.0.0 <84.0.0" },
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				hr := find(t, objs, "HelmRelease", "kube-prometheus-stack")
				v, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "version")
				assert.Equal(t, ">=83.0.0 <84.0.0", v)
			},
		},
		"pod selector with odd values": {
			edit: func(s *settings.Settings) {
				s.Immich.PodSelector = map[string]string{"app.kubernetes.io/name": "true", "tier": "0123"}
			},
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				svc := find(t, objs, "Service", "immich-metrics")
				sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
				assert.Equal(t, map[string]string{"app.kubernetes.io/name": "true", "tier": "0123"}, sel)
			},
		},
		"schedule and zone": {
			edit: func(s *settings.Settings) { s.Backup.Schedule = "@weekly"; s.Backup.TimeZone = "Europe/Berlin" },
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				cj := find(t, objs, "CronJob", "postgres-backup")
				sched, _, _ := unstructured.NestedString(cj.Object, "spec", "schedule")
				tz, _, _ := unstructured.NestedString(cj.Object, "spec", "timeZone")
				assert.Equal(t, "@weekly", sched)
				assert.Equal(t, "Europe/Berlin", tz)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			tc.edit(s)
			objs, err := Render(s)
			require.NoError(t, err)
			tc.check(t, objs)
		})
	}
}

func TestRequiredCRDs(t *testing.T) {
	names := func(crds []CRD) []string {
		var out []string
		for _, c := range crds {
			assert.NotEmpty(t, c.HowToGet, c.Name)
			assert.NotContains(t, c.HowToGet, "unknown", "every custom kind of the bundle is listed in knownCRDs")
			assert.NotEmpty(t, c.Group)
			assert.NotEmpty(t, c.Kind)
			out = append(out, c.Name)
		}
		return out
	}
	tests := map[string]struct {
		components []string
		want       []string
	}{
		"all": {want: []string{
			"externalsecrets.external-secrets.io", "helmreleases.helm.toolkit.fluxcd.io",
			"helmrepositories.source.toolkit.fluxcd.io", "prometheusrules.monitoring.coreos.com",
			"servicemonitors.monitoring.coreos.com",
		}},
		"monitoring": {components: []string{Monitoring}, want: []string{
			"externalsecrets.external-secrets.io", "helmreleases.helm.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
		}},
		"immich": {components: []string{Immich}, want: []string{"prometheusrules.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com"}},
		"backup": {components: []string{Backup}, want: []string{"externalsecrets.external-secrets.io", "prometheusrules.monitoring.coreos.com"}},
		"rbac":   {components: []string{RBAC}},
		// whether the settings switch it on or not
		"restore-drill": {components: []string{RestoreDrill}, want: []string{"prometheusrules.monitoring.coreos.com"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, names(RequiredCRDs(tc.components...)))
		})
	}
	sm := RequiredCRDs(Immich)[1]
	assert.Equal(t, CRD{Name: "servicemonitors.monitoring.coreos.com", Group: "monitoring.coreos.com", Kind: "ServiceMonitor", HowToGet: howPromOp}, sm)
	assert.Contains(t, sm.HowToGet, "prometheus-operator (kube-prometheus-stack)")
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	require.Failf(t, "object not rendered", "%s %s", kind, name)
	return nil
}

// remoteRefs are the remoteRefs of every ExternalSecret, by name.
func remoteRefs(t *testing.T, objs []*unstructured.Unstructured) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, o := range objs {
		if o.GetKind() != "ExternalSecret" {
			continue
		}
		data, _, err := unstructured.NestedSlice(o.Object, "spec", "data")
		require.NoError(t, err)
		for _, d := range data {
			out[o.GetName()] = append(out[o.GetName()], d.(map[string]any)["remoteRef"].(map[string]any))
		}
	}
	return out
}

// ESO's 1Password providers name a field differently (external-secrets
// providers/v1/onepasswordsdk and providers/v1/onepassword, docs provider/1password-sdk
// and provider/1password-automation): the SDK provider reads only `key`, as
// `<item>/[section/]<field>`, and ignores `property`; Connect reads the item from `key`
// and the field from `property`. Every ExternalSecret of the bundle uses its
// provider's form.
func TestExternalSecretsUseTheProvidersForm(t *testing.T) {
	tests := map[string]struct {
		provider string
		want     func(item, field string) map[string]any
	}{
		"sdk (default)": {provider: settings.ProviderOnePasswordSDK, want: func(item, field string) map[string]any {
			return map[string]any{"key": item + "/" + field}
		}},
		"connect": {provider: settings.ProviderOnePasswordConnect, want: func(item, field string) map[string]any {
			return map[string]any{"key": item, "property": field}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := settings.Default()
			if name != "sdk (default)" {
				s.ExternalSecrets.Provider = tc.provider
			}
			objs, err := Render(s)
			require.NoError(t, err)
			refs := remoteRefs(t, objs)
			e := s.ExternalSecrets
			assert.Equal(t, map[string][]map[string]any{
				s.Monitoring.DiscordSecret.Name: {tc.want(e.DiscordWebhook.Key, e.DiscordWebhook.Property)},
				s.Backup.PasswordSecret.Name:    {tc.want(e.DBPassword.Key, e.DBPassword.Property)},
				s.Backup.NAS.SSHKeySecret.Name:  {tc.want(e.SSHKey.Key, e.SSHKey.Property), tc.want(e.KnownHosts.Key, e.KnownHosts.Property)},
			}, refs)
		})
	}
}
