package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/chartrender"
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
	if status == "True" && gvr == check.HelmReleases() {
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
// bed: it merges the values with Flux's chartutil and renders the real chart
// (../shared/charts, see internal/charts), loads the Alertmanager config Secret the
// chart renders into the bed's real Alertmanager, keeps the chart's Prometheus object
// for the prometheus-operator stand-in, applies the few chart objects
// the bed needs (the Watchdog rule, kube-state-metrics, ServiceMonitors for Prometheus
// and Alertmanager), and marks the HelmRelease Ready. A values source that cannot be
// read leaves it not Ready, as Flux would.
func (si *standIns) playHelmController(ctx context.Context, log *passLog) error {
	list, err := si.dyn.Resource(check.HelmReleases()).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
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
	rel, sources, err := si.renderRelease(ctx, hr)
	if err != nil {
		msg := err.Error() + standInNote
		if cond, _ := readyCondition(hr); cond != nil && cond["status"] == "False" && cond["message"] == msg {
			log.saw(roleHelm, "HelmRelease %s not Ready: %v", ref(hr), err)
			return nil
		}
		if err := si.setReady(ctx, check.HelmReleases(), hr, "False", "InitFailed", msg, nil); err != nil {
			return err
		}
		log.did(roleHelm, "HelmRelease %s not Ready: %v", ref(hr), err)
		return nil
	}
	si.prometheus = rel.prometheus
	if rel.alertmanager != si.amLoaded {
		if err := si.mon.Alertmanager.Reload(ctx, rel.alertmanager); err != nil {
			return fmt.Errorf("load the rendered config into Alertmanager: %w", err)
		}
		si.amLoaded = rel.alertmanager
		log.did(roleHelm, "HelmRelease %s: Alertmanager config rendered from %s by the chart and loaded into the bed's Alertmanager (Discord = the local stand-in; URL never shown)", ref(hr), sources)
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
	if err := si.setReady(ctx, check.HelmReleases(), hr, "True", reason, msg, extra); err != nil {
		return err
	}
	log.did(roleHelm, "HelmRelease %s Ready (%s of %s@%s)", ref(hr), action, chart, version)
	return nil
}

// release is what the chart rendered for one HelmRelease's merged values.
type release struct {
	valuesHash   string
	alertmanager string                     // alertmanager.yaml of the config Secret
	prometheus   *unstructured.Unstructured // the Prometheus object
}

// renderRelease merges the HelmRelease's values with Flux's own chartutil (the
// function helm-controller calls, reading the bed's ConfigMaps and Secrets) and renders
// kube-prometheus-stack with Helm's SDK; a render is reused while the values stay the
// same. It returns the release and the values sources, for the log. It refuses a
// Discord webhook that is not the local stand-in.
func (si *standIns) renderRelease(ctx context.Context, hr *unstructured.Unstructured) (*release, string, error) {
	values, err := chartrender.Values(ctx, si.flux, hr)
	if err != nil {
		return nil, "", err
	}
	sources := valuesSources(hr)
	b, err := json.Marshal(values)
	if err != nil {
		return nil, "", fmt.Errorf("encode the values of HelmRelease %s: %w", ref(hr), err)
	}
	key := hashOf(ref(hr), string(b))
	if r := si.releases[ref(hr)]; r != nil && r.valuesHash == key {
		return r, sources, nil
	}
	name, err := chartrender.ReleaseName(hr)
	if err != nil {
		return nil, "", err
	}
	out, err := si.chart.Render(ctx, name, chartrender.ReleaseNamespace(hr), values)
	if err != nil {
		return nil, "", err
	}
	am, err := out.AlertmanagerConfig()
	if err != nil {
		return nil, "", err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(am), &cfg); err != nil {
		return nil, "", fmt.Errorf("read the rendered alertmanager.yaml: %w", err)
	}
	if err := si.onlyLocalDiscord(cfg); err != nil {
		return nil, "", err
	}
	prom, err := out.Prometheus()
	if err != nil {
		return nil, "", err
	}
	r := &release{valuesHash: key, alertmanager: am, prometheus: prom}
	si.releases[ref(hr)] = r
	return r, sources, nil
}

// valuesSources names a HelmRelease's values sources in merge order, for the log.
func valuesSources(hr *unstructured.Unstructured) string {
	var out []string
	refs, _, _ := unstructured.NestedSlice(hr.Object, "spec", "valuesFrom")
	for _, r := range refs {
		if m, ok := r.(map[string]any); ok {
			out = append(out, fmt.Sprintf("%v %v", m["kind"], m["name"]))
		}
	}
	return joinAnd(append(out, "spec.values"))
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
