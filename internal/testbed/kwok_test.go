package testbed

import (
	"bytes"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

const podCreateStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-create
spec:
  delay:
    durationMilliseconds: 1000
    jitterDurationMilliseconds: 5000
  next:
    statusTemplate: |
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName | Quote }}
      phase: Pending
`

const podDeleteStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  delay:
    durationMilliseconds: 1000
    jitterDurationFrom:
      expressionFrom: '.metadata.deletionTimestamp'
  next:
    delete: true
`

func TestPatchPodStage(t *testing.T) {
	tests := map[string]struct {
		stage      string
		wantDelay  map[string]any
		wantPinned bool
	}{
		"pod-create: shorter delays and a pinnable IP": {
			stage:      podCreateStage,
			wantDelay:  map[string]any{"durationMilliseconds": float64(500), "jitterDurationMilliseconds": float64(1000)},
			wantPinned: true,
		},
		"pod-delete: no wait for the grace period": {
			stage:     podDeleteStage,
			wantDelay: map[string]any{"durationMilliseconds": float64(500)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := patchPodStage([]byte(tc.stage), "")
			require.NoError(t, err)
			var stage map[string]any
			require.NoError(t, yaml.Unmarshal(out, &stage))
			spec := stage["spec"].(map[string]any)
			assert.Equal(t, tc.wantDelay, spec["delay"])
			tmpl, _ := spec["next"].(map[string]any)["statusTemplate"].(string)
			assert.Equal(t, tc.wantPinned, bytes.Contains([]byte(tmpl), []byte(PodIPAnnotation)))
		})
	}
}

// TestPinPodIP renders the patched template with kwok's function names stubbed.
func TestPinPodIP(t *testing.T) {
	patched, err := pinPodIP("hostIP: {{ NodeIPWith .spec.nodeName | Quote }}\npodIP: {{ PodIPWith .spec.nodeName | Quote }}\nphase: Pending")
	require.NoError(t, err)
	funcs := template.FuncMap{
		"NodeIPWith": func(any) string { return "127.0.0.1" },
		"PodIPWith":  func(any) string { return "10.250.1.7" },
		"Quote":      func(s any) string { return `"` + s.(string) + `"` },
	}
	tmpl := template.Must(template.New("status").Funcs(funcs).Parse(patched))
	tests := map[string]struct {
		metadata map[string]any
		want     string
	}{
		"no annotations":       {metadata: map[string]any{}, want: `podIP: "10.250.1.7"`},
		"other annotations":    {metadata: map[string]any{"annotations": map[string]any{"a": "b"}}, want: `podIP: "10.250.1.7"`},
		"pinned by annotation": {metadata: map[string]any{"annotations": map[string]any{PodIPAnnotation: "10.250.0.2"}}, want: `podIP: "10.250.0.2"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			pod := map[string]any{"metadata": tc.metadata, "spec": map[string]any{"nodeName": NodeName}}
			require.NoError(t, tmpl.Execute(&out, pod))
			assert.Contains(t, out.String(), tc.want)
			assert.Contains(t, out.String(), `hostIP: "127.0.0.1"`)
		})
	}
}

func TestPinPodIPWithoutPodIPLine(t *testing.T) {
	_, err := pinPodIP("phase: Pending")
	require.Error(t, err)
}

func TestSlotNames(t *testing.T) {
	s := &slot{Index: 7}
	assert.Equal(t, "picluster-tb7", s.NetNS())
	assert.Equal(t, "pictb7h", s.HostVeth())
	assert.Equal(t, "pictb7n", s.NSVeth())
	assert.Equal(t, "10.250.14.1", s.HostIP())
	assert.Equal(t, "10.250.14.3", s.Addr(3))
	assert.Equal(t, "10.250.15.0/24", s.PodCIDR())
	assert.LessOrEqual(t, len((&slot{Index: maxSlots - 1}).HostVeth()), 15, "interface names have at most 15 bytes")
}
