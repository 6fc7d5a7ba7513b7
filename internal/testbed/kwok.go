package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// PodIPAnnotation pins a fake pod's status.podIP: the bed's pod-create Stage copies it
// instead of allocating an address. StartMonitoring uses it to put a pod in front of a
// real server listening on that address inside the bed's network namespace.
const PodIPAnnotation = "testbed.picluster.dev/pod-ip"

// NodeName is the name of the bed's one fake node (run by kwok).
const NodeName = "kwok-node-0"

// stageFiles are the Stage YAMLs (relative to kwok/stages of the build) the bed loads.
var stageFiles = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/general/pod-create.yaml",
	"pod/general/pod-init-container-running.yaml",
	"pod/general/pod-init-container-completed.yaml",
	"pod/general/pod-ready.yaml",
	"pod/general/pod-complete.yaml",
	"pod/general/pod-delete.yaml",
}

// Shorter than kwok's defaults (1 s + up to 5 s jitter) so tests run fast.
const (
	podStageDelayMillis  = 500
	podStageJitterMillis = 1000
)

// portForward is one fake pod whose port-forward reaches a real server.
type portForward struct {
	Namespace, Pod, Address string
	Port                    int
}

// kwokConfig renders the multi-document --config file of kwok: the stock Stages (pod-create
// patched to honour PodIPAnnotation, pod delays shortened) plus ClusterLogs, ClusterExec
// and ClusterPortForward objects.
// runSelector, when set, is podrun.KwokSelector: the pod Stages then leave the pods the
// bed's runtime runs alone.
func kwokConfig(stagesDir, logsFile, workDir string, forwards []portForward, execEnv map[string][]envVar, runSelector string) ([]byte, error) {
	var docs [][]byte
	for _, f := range stageFiles {
		data, err := os.ReadFile(filepath.Join(stagesDir, f))
		if err != nil {
			return nil, fmt.Errorf("read kwok stage: %w", err)
		}
		if strings.HasPrefix(f, "pod/") {
			if data, err = patchPodStage(data, runSelector); err != nil {
				return nil, fmt.Errorf("patch kwok stage %s: %w", f, err)
			}
		}
		docs = append(docs, data)
	}
	objs := []any{
		kwokObject("ClusterLogs", "all-pods", map[string]any{
			"logs": []any{map[string]any{"logsFile": logsFile, "follow": true}},
		}),
	}
	for _, fw := range forwards {
		objs = append(objs, kwokObject("ClusterPortForward", fw.Namespace+"-"+fw.Pod, map[string]any{
			"selector": map[string]any{"matchNamespaces": []string{fw.Namespace}, "matchNames": []string{fw.Pod}},
			"forwards": []any{map[string]any{
				"ports":  []int{fw.Port},
				"target": map[string]any{"address": fw.Address, "port": fw.Port},
			}},
		}))
	}
	for key, env := range execEnv {
		ns, pod, _ := strings.Cut(key, "/")
		objs = append(objs, kwokObject("ClusterExec", ns+"-"+pod, map[string]any{
			"selector": map[string]any{"matchNamespaces": []string{ns}, "matchNames": []string{pod}},
			"execs":    []any{map[string]any{"local": map[string]any{"workDir": workDir, "envs": env}}},
		}))
	}
	// kwok takes the first ClusterExec that matches: the catch-all goes last.
	objs = append(objs, kwokObject("ClusterExec", "all-pods", map[string]any{
		"execs": []any{map[string]any{"local": map[string]any{"workDir": workDir}}},
	}))
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encode kwok config: %w", err)
		}
		docs = append(docs, data)
	}
	return bytes.Join(docs, []byte("\n---\n")), nil
}

// envVar is a kwok EnvVar (name/value).
type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func kwokObject(kind, name string, spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "config.kwok.x-k8s.io/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}
}

// patchPodStage shortens a pod Stage's delays (pod-delete no longer waits for the grace
// period), makes pod-create take the pod IP from PodIPAnnotation when the pod has it, and,
// with a runSelector, excludes the pods the bed's runtime runs.
func patchPodStage(data []byte, runSelector string) ([]byte, error) {
	var stage map[string]any
	if err := yaml.Unmarshal(data, &stage); err != nil {
		return nil, err
	}
	spec, _ := stage["spec"].(map[string]any)
	if runSelector != "" {
		sel, _ := spec["selector"].(map[string]any)
		if sel == nil {
			sel = map[string]any{}
			spec["selector"] = sel
		}
		exprs, _ := sel["matchExpressions"].([]any)
		sel["matchExpressions"] = append(exprs, map[string]any{"key": runSelector, "operator": "NotIn", "values": []any{"true"}})
	}
	if delay, ok := spec["delay"].(map[string]any); ok {
		if d, ok := delay["durationMilliseconds"].(float64); ok && d > podStageDelayMillis {
			delay["durationMilliseconds"] = podStageDelayMillis
		}
		if j, ok := delay["jitterDurationMilliseconds"].(float64); ok && j > podStageJitterMillis {
			delay["jitterDurationMilliseconds"] = podStageJitterMillis
		}
		// pod-delete waits up to the deletion timestamp (the 30 s grace period) at random,
		// which makes every scale-down in a test slow; a real kubelet is done much sooner
		// for containers that exit on SIGTERM.
		if from, ok := delay["jitterDurationFrom"].(map[string]any); ok && from["expressionFrom"] == ".metadata.deletionTimestamp" {
			delete(delay, "jitterDurationFrom")
		}
	}
	next, _ := spec["next"].(map[string]any)
	if tmpl, ok := next["statusTemplate"].(string); ok && strings.Contains(tmpl, "\npodIP: ") {
		patched, err := pinPodIP(tmpl)
		if err != nil {
			return nil, err
		}
		next["statusTemplate"] = patched
	}
	return yaml.Marshal(stage)
}

// pinPodIP wraps the template's podIP expression: the annotation wins when present.
func pinPodIP(tmpl string) (string, error) {
	lines := strings.Split(tmpl, "\n")
	for i, line := range lines {
		expr, ok := strings.CutPrefix(line, "podIP: ")
		if !ok {
			continue
		}
		lines[i] = `{{ $pinnedIP := "" }}{{ with .metadata.annotations }}{{ with index . "` + PodIPAnnotation +
			`" }}{{ $pinnedIP = . }}{{ end }}{{ end }}` + "\n" +
			`podIP: {{ if $pinnedIP }}{{ $pinnedIP | Quote }}{{ else }}` + expr + `{{ end }}`
		return strings.Join(lines, "\n"), nil
	}
	return "", fmt.Errorf("no podIP line in the pod-create template")
}

// createNode registers the fake node kwok manages. Both an InternalIP and a Hostname
// address are needed: kwok's node-initialize template drops addresses when one is missing.
func createNode(ctx context.Context, client kubernetes.Interface) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: NodeName,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":                                     "fake",
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "arm64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: corev1.NodeHostName, Address: NodeName},
			},
		},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create fake node %s: %w", NodeName, err)
	}
	return nil
}
