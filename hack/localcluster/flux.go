package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/pkg/check"
)

const (
	roleSource = "source-controller"
	roleHelm   = "helm-controller"
	// kubePrometheusStack is the one chart the helm-controller stand-in can "install":
	// its Prometheus and Alertmanager are the bed's real servers.
	kubePrometheusStack = "kube-prometheus-stack"
	// standInNote ends every status message a stand-in writes, so that nobody reading
	// `kubectl describe` or `check` mistakes it for the real controller's word.
	standInNote = " (stand-in: hack/localcluster)"
)

// HelmRepositories is Flux's HelmRepository resource.
var HelmRepositories = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "helmrepositories"}

// playSourceController marks every HelmRepository Ready, as source-controller does
// once it has fetched the index; the bed has no internet, so none is fetched.
func (si *standIns) playSourceController(ctx context.Context, log *passLog) error {
	list, err := si.dyn.Resource(HelmRepositories).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list HelmRepositories: %w", err)
	}
	for i := range list.Items {
		repo := &list.Items[i]
		url, _, _ := unstructured.NestedString(repo.Object, "spec", "url")
		if upToDate(repo) {
			log.saw(roleSource, "HelmRepository %s Ready", ref(repo))
			continue
		}
		msg := fmt.Sprintf("index of %s not fetched: the bed has no internet%s", url, standInNote)
		if err := si.setReady(ctx, HelmRepositories, repo, "True", "Succeeded", msg, nil); err != nil {
			return err
		}
		log.did(roleSource, "HelmRepository %s Ready (no index fetched: the bed has no internet)", ref(repo))
	}
	return nil
}

// upToDate tells whether an object is Ready for its current generation.
func upToDate(u *unstructured.Unstructured) bool {
	_, ready := readyCondition(u)
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return ready && observed == u.GetGeneration()
}

// hasCondition tells whether an object has a status condition of that type.
func hasCondition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return true
		}
	}
	return false
}

// setReady writes status.observedGeneration and a Ready condition (plus extra status
// fields) through the status subresource.
func (si *standIns) setReady(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, status, reason, message string, extra map[string]any) error {
	now := time.Now().UTC().Format(time.RFC3339)
	st := map[string]any{"observedGeneration": u.GetGeneration()}
	for k, v := range extra {
		st[k] = v
	}
	conds := []any{map[string]any{
		"type": "Ready", "status": status, "reason": reason, "message": message,
		"observedGeneration": u.GetGeneration(), "lastTransitionTime": now,
	}}
	if status == "True" && gvr == check.HelmReleases {
		conds = append(conds, map[string]any{
			"type": "Released", "status": "True", "reason": reason, "message": message,
			"observedGeneration": u.GetGeneration(), "lastTransitionTime": now,
		})
	}
	st["conditions"] = conds
	u.Object["status"] = st
	if _, err := si.dyn.Resource(gvr).Namespace(u.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of %s %s: %w", u.GetKind(), ref(u), err)
	}
	return nil
}

// playHelmController "installs" every HelmRelease of kube-prometheus-stack into the
// bed: it resolves the values exactly as Flux does (valuesFrom in order, a
// targetPath writing one value, spec.values last), loads the resulting
// alertmanager.config into the bed's real Alertmanager, applies the few chart objects
// the bed needs (the Watchdog rule, kube-state-metrics, ServiceMonitors for Prometheus
// and Alertmanager), and marks the HelmRelease Ready. A values source that cannot be
// read leaves it not Ready, as Flux would.
func (si *standIns) playHelmController(ctx context.Context, log *passLog) error {
	list, err := si.dyn.Resource(check.HelmReleases).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list HelmReleases: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return ref(&list.Items[i]) < ref(&list.Items[j]) })
	for i := range list.Items {
		if err := si.releaseKubePrometheusStack(ctx, log, &list.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

func (si *standIns) releaseKubePrometheusStack(ctx context.Context, log *passLog, hr *unstructured.Unstructured) error {
	chart, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "chart")
	version, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "version")
	if chart != kubePrometheusStack || hr.GetNamespace() != testbed.MonitoringNamespace {
		log.saw(roleHelm, "HelmRelease %s (chart %s) left alone: only %s in namespace %s has servers in the bed", ref(hr), chart, kubePrometheusStack, testbed.MonitoringNamespace)
		return nil
	}
	amConfig, sources, err := si.renderAlertmanagerConfig(ctx, hr)
	if err != nil {
		msg := err.Error() + standInNote
		if cond, _ := readyCondition(hr); cond != nil && cond["status"] == "False" && cond["message"] == msg {
			log.saw(roleHelm, "HelmRelease %s not Ready: %v", ref(hr), err)
			return nil
		}
		if err := si.setReady(ctx, check.HelmReleases, hr, "False", "InitFailed", msg, nil); err != nil {
			return err
		}
		log.did(roleHelm, "HelmRelease %s not Ready: %v", ref(hr), err)
		return nil
	}
	if amConfig != si.amLoaded {
		if err := si.mon.Alertmanager.Reload(ctx, amConfig); err != nil {
			return fmt.Errorf("load the rendered config into Alertmanager: %w", err)
		}
		si.amLoaded = amConfig
		log.did(roleHelm, "HelmRelease %s: Alertmanager config rendered from %s and loaded into the bed's Alertmanager (Discord = the local stand-in; URL never shown)", ref(hr), sources)
	} else {
		log.saw(roleHelm, "HelmRelease %s: Alertmanager runs the config rendered from %s", ref(hr), sources)
	}
	if err := si.applyChartObjects(ctx, log, hr); err != nil {
		return err
	}
	if upToDate(hr) {
		log.saw(roleHelm, "HelmRelease %s Ready", ref(hr))
		return nil
	}
	// Released is there once a release was made (observedGeneration is not: the CRD
	// defaults it to -1).
	action, reason := "install", "InstallSucceeded"
	if hasCondition(hr, "Released") {
		action, reason = "upgrade", "UpgradeSucceeded"
	}
	msg := fmt.Sprintf("Helm %s succeeded for release %s/%s with chart %s@%s%s", action, hr.GetNamespace(), hr.GetName(), chart, version, standInNote)
	extra := map[string]any{"lastAttemptedGeneration": hr.GetGeneration(), "lastAttemptedRevision": version}
	if err := si.setReady(ctx, check.HelmReleases, hr, "True", reason, msg, extra); err != nil {
		return err
	}
	log.did(roleHelm, "HelmRelease %s Ready (%s of %s@%s)", ref(hr), action, chart, version)
	return nil
}

// valuesReference is one entry of a HelmRelease's spec.valuesFrom.
type valuesReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	ValuesKey  string `json:"valuesKey"`
	TargetPath string `json:"targetPath"`
	Optional   bool   `json:"optional"`
}

// renderAlertmanagerConfig resolves the HelmRelease's values and returns the
// alertmanager.config they hold, as Alertmanager YAML, and a description of the
// sources for the log. It refuses a Discord webhook that is not the local stand-in.
func (si *standIns) renderAlertmanagerConfig(ctx context.Context, hr *unstructured.Unstructured) (string, string, error) {
	var spec struct {
		ValuesFrom []valuesReference `json:"valuesFrom"`
		Values     map[string]any    `json:"values"`
	}
	raw, _, _ := unstructured.NestedMap(hr.Object, "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
		return "", "", fmt.Errorf("read HelmRelease %s: %w", ref(hr), err)
	}
	values, sources, err := resolveValues(spec.ValuesFrom, spec.Values, func(vf valuesReference) (string, error) {
		return si.valuesSource(ctx, hr.GetNamespace(), vf)
	})
	if err != nil {
		return "", "", err
	}
	cfg, ok := nestedMap(values, "alertmanager", "config")
	if !ok {
		return "", "", errors.New("the values hold no alertmanager.config")
	}
	if err := si.onlyLocalDiscord(cfg); err != nil {
		return "", "", err
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", "", fmt.Errorf("write alertmanager.config: %w", err)
	}
	return string(out), joinAnd(sources), nil
}

// resolveValues merges a HelmRelease's values as Flux does: each valuesFrom source in
// order (a whole YAML document merged in, or with targetPath one value set at that
// path), then spec.values last. read fetches one source; a missing optional source
// is skipped. It also returns the sources used, for the log.
func resolveValues(valuesFrom []valuesReference, specValues map[string]any, read func(valuesReference) (string, error)) (map[string]any, []string, error) {
	values := map[string]any{}
	var sources []string
	for _, vf := range valuesFrom {
		data, err := read(vf)
		if err != nil {
			if vf.Optional {
				continue
			}
			return nil, nil, err
		}
		sources = append(sources, vf.Kind+" "+vf.Name)
		if vf.TargetPath != "" {
			if err := setTargetPath(values, vf.TargetPath, data); err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", vf.Kind, vf.Name, err)
			}
			continue
		}
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
			return nil, nil, fmt.Errorf("%s %s key %s is not YAML values: %w", vf.Kind, vf.Name, vf.ValuesKey, err)
		}
		values = mergeValues(values, doc)
	}
	values = mergeValues(values, specValues)
	return values, append(sources, "spec.values"), nil
}

// valuesSource reads one valuesFrom entry, the way Flux words its errors.
func (si *standIns) valuesSource(ctx context.Context, ns string, vf valuesReference) (string, error) {
	key := vf.ValuesKey
	if key == "" {
		key = "values.yaml"
	}
	var data map[string]string
	switch vf.Kind {
	case "ConfigMap":
		cm, err := si.kube.CoreV1().ConfigMaps(ns).Get(ctx, vf.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("could not resolve ConfigMap chart values reference '%s/%s' with key '%s': %w", ns, vf.Name, key, notFoundOr(err))
		}
		data = cm.Data
	case "Secret":
		sec, err := si.kube.CoreV1().Secrets(ns).Get(ctx, vf.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("could not resolve Secret chart values reference '%s/%s' with key '%s': %w", ns, vf.Name, key, notFoundOr(err))
		}
		data = map[string]string{}
		for k, v := range sec.Data {
			data[k] = string(v)
		}
	default:
		return "", fmt.Errorf("valuesFrom kind %q is neither ConfigMap nor Secret", vf.Kind)
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("missing key '%s' in %s '%s/%s'", key, vf.Kind, ns, vf.Name)
	}
	return v, nil
}

func notFoundOr(err error) error {
	if apierrors.IsNotFound(err) {
		return errors.New("not found")
	}
	return err
}

// onlyLocalDiscord refuses any discord_configs webhook_url that the local Discord
// stand-in did not issue: the demo must never post to the real Discord.
func (si *standIns) onlyLocalDiscord(cfg map[string]any) error {
	receivers, _ := cfg["receivers"].([]any)
	for _, r := range receivers {
		rm, _ := r.(map[string]any)
		dcs, _ := rm["discord_configs"].([]any)
		for _, dc := range dcs {
			dm, _ := dc.(map[string]any)
			url, _ := dm["webhook_url"].(string)
			if !si.discord.issued(url) {
				return fmt.Errorf("receiver %v: its Discord webhook URL is not one the local Discord stand-in issued; the bed never sends to anything else", rm["name"])
			}
		}
	}
	return nil
}

// hashOf is a short content hash for logs and comparisons.
func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// joinAnd joins words as "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	out := words[0]
	for _, w := range words[1 : len(words)-1] {
		out += ", " + w
	}
	return out + " and " + words[len(words)-1]
}
