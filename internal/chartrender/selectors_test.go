package chartrender

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestSelects(t *testing.T) {
	rule := &unstructured.Unstructured{}
	rule.SetKind("PrometheusRule")
	rule.SetNamespace("apps")
	rule.SetLabels(map[string]string{"release": "kps"})
	tests := map[string]struct {
		spec string
		want bool
	}{
		"empty selectors select all":          {spec: "{ruleSelector: {}, ruleNamespaceSelector: {}}", want: true},
		"null selector selects none":          {spec: "{ruleNamespaceSelector: {}}", want: false},
		"null namespace selector: own only":   {spec: "{ruleSelector: {}}", want: false},
		"labels match":                        {spec: "{ruleSelector: {matchLabels: {release: kps}}, ruleNamespaceSelector: {}}", want: true},
		"labels differ":                       {spec: "{ruleSelector: {matchLabels: {release: other}}, ruleNamespaceSelector: {}}", want: false},
		"namespace by kubernetes.io label":    {spec: "{ruleSelector: {}, ruleNamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: apps}}}", want: true},
		"namespace label the namespace lacks": {spec: "{ruleSelector: {}, ruleNamespaceSelector: {matchLabels: {team: x}}}", want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prom := &unstructured.Unstructured{Object: map[string]any{}}
			var spec map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tc.spec), &spec))
			prom.Object["spec"] = spec
			prom.SetNamespace("mon")
			got, err := Selects(prom, rule, NamespaceLabels("apps", nil))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
