package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

func TestSetTargetPath(t *testing.T) {
	tests := map[string]struct {
		start   string
		path    string
		want    string
		wantErr string
	}{
		"new nested keys":         {start: `{}`, path: "a.b.c", want: `{"a":{"b":{"c":"V"}}}`},
		"inside an existing list": {start: `{"a":{"l":[{"x":1},{"y":2}]}}`, path: "a.l[1].z", want: `{"a":{"l":[{"x":1},{"y":2,"z":"V"}]}}`},
		"list grows":              {start: `{}`, path: "l[2]", want: `{"l":[null,null,"V"]}`},
		"list of lists":           {start: `{"l":[[1,2]]}`, path: "l[0][1]", want: `{"l":[[1,"V"]]}`},
		"replaces a scalar":       {start: `{"a":{"b":3}}`, path: "a.b", want: `{"a":{"b":"V"}}`},
		"escapes refused":         {start: `{}`, path: `a\.b`, wantErr: "want dotted keys"},
		"bad index":               {start: `{}`, path: "a[x]", wantErr: "bad index"},
		"empty key":               {start: `{}`, path: "a..b", wantErr: "empty key"},
		"through a scalar":        {start: `{"a":3}`, path: "a.b.c", want: `{"a":{"b":{"c":"V"}}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var values map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tc.start), &values))
			err := setTargetPath(values, tc.path, "V")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			got, err := yaml.Marshal(values)
			require.NoError(t, err)
			want, err := yaml.JSONToYAML([]byte(tc.want))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestMergeValues(t *testing.T) {
	dst := map[string]any{"a": map[string]any{"keep": 1, "list": []any{1, 2}}, "b": 1}
	src := map[string]any{"a": map[string]any{"list": []any{3}, "new": true}, "b": map[string]any{"now": "a map"}}
	got := mergeValues(dst, src)
	assert.Equal(t, map[string]any{
		"a": map[string]any{"keep": 1, "list": []any{3}, "new": true},
		"b": map[string]any{"now": "a map"},
	}, got)
}

// The bundle's HelmRelease resolved as Flux resolves it must give exactly the
// Alertmanager config the bundle renders, with the Secret's URL in the Discord
// receiver: what the helm-controller stand-in loads into Alertmanager.
func TestResolveValuesOfTheBundle(t *testing.T) {
	s := settings.Default()
	objs, err := bundle.Render(s, bundle.Monitoring)
	require.NoError(t, err)
	var hr *unstructured.Unstructured
	data := map[string]string{} // Kind/name/key -> content
	for _, o := range objs {
		switch o.GetKind() {
		case "HelmRelease":
			hr = o
		case "ConfigMap":
			cm, _, _ := unstructured.NestedStringMap(o.Object, "data")
			for k, v := range cm {
				data["ConfigMap/"+o.GetName()+"/"+k] = v
			}
		}
	}
	require.NotNil(t, hr)
	const url = "http://10.250.0.7/api/webhooks/123/token"
	data["Secret/"+s.Monitoring.DiscordSecret.Name+"/"+s.Monitoring.DiscordSecret.Key] = url

	var spec struct {
		ValuesFrom []valuesReference `json:"valuesFrom"`
		Values     map[string]any    `json:"values"`
	}
	raw, _, _ := unstructured.NestedMap(hr.Object, "spec")
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec))
	values, sources, err := resolveValues(spec.ValuesFrom, spec.Values, func(vf valuesReference) (string, error) {
		v, ok := data[vf.Kind+"/"+vf.Name+"/"+vf.ValuesKey]
		if !ok {
			return "", errors.New("not found")
		}
		return v, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"ConfigMap " + s.Monitoring.HelmRelease + "-alertmanager-values", "Secret " + s.Monitoring.DiscordSecret.Name, "spec.values"}, sources)
	got, ok := nestedMap(values, "alertmanager", "config")
	require.True(t, ok)

	rendered, err := bundle.AlertmanagerConfig(s)
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(strings.ReplaceAll(rendered, bundle.PlaceholderWebhookURL, url)), &want))
	assert.Equal(t, want, got)
	assert.Equal(t, true, values["alertmanager"].(map[string]any)["enabled"], "spec.values merged in last")

	// A missing required source fails as Flux does; a missing optional one is skipped.
	_, _, err = resolveValues(spec.ValuesFrom, nil, func(valuesReference) (string, error) { return "", errors.New("not found") })
	require.ErrorContains(t, err, "not found")
	opt := append([]valuesReference(nil), spec.ValuesFrom...)
	for i := range opt {
		opt[i].Optional = true
	}
	values, _, err = resolveValues(opt, nil, func(valuesReference) (string, error) { return "", errors.New("not found") })
	require.NoError(t, err)
	assert.Empty(t, values)
}
