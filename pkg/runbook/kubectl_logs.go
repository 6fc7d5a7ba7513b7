package runbook

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// logPods resolves a logs step's target to pods, newest first for a workload
// (its most recent pod is the one that tells), all of them for -l.
func (k *Kube) logPods(ctx context.Context, c *KubectlCommand, ns string) ([]corev1.Pod, error) {
	var sel string
	if c.Selector != "" {
		sel = c.Selector
	} else {
		kind, name, found := strings.Cut(c.Args[0], "/")
		if !found {
			kind, name = "pod", c.Args[0]
		}
		var ls *metav1.LabelSelector
		switch strings.ToLower(kind) {
		case "pod", "pods", "po":
			p, err := k.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
			}
			return []corev1.Pod{*p}, nil
		case "deployment", "deployments", "deploy":
			d, err := k.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
			}
			ls = d.Spec.Selector
		case "statefulset", "statefulsets", "sts":
			s, err := k.Client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("get statefulset %s/%s: %w", ns, name, err)
			}
			ls = s.Spec.Selector
		case "job", "jobs":
			j, err := k.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("get job %s/%s: %w", ns, name, err)
			}
			ls = j.Spec.Selector
		default:
			return nil, fmt.Errorf("logs of %s: the runner reads pods, deployments, statefulsets and jobs", c.Args[0])
		}
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return nil, fmt.Errorf("selector of %s: %w", c.Args[0], err)
		}
		sel = s.String()
	}
	if _, err := labels.Parse(sel); err != nil {
		return nil, fmt.Errorf("selector %q: %w", sel, err)
	}
	list, err := k.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s with %s: %w", ns, sel, err)
	}
	pods := list.Items
	// running pods first (a rollout's new pod may not have started yet), then the newest
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := pods[i].Status.Phase == corev1.PodRunning, pods[j].Status.Phase == corev1.PodRunning
		if ri != rj {
			return ri
		}
		return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
	})
	if len(pods) == 0 {
		return nil, fmt.Errorf("no pod in %s matches %s", ns, sel)
	}
	if c.Selector == "" {
		pods = pods[:1]
	}
	return pods, nil
}

func (k *Kube) logs(ctx context.Context, c *KubectlCommand, ns string, out io.Writer) error {
	pods, err := k.logPods(ctx, c, ns)
	if err != nil {
		return fmt.Errorf("kubectl logs: %w", err)
	}
	type stream struct{ pod, container string }
	var streams []stream
	for _, p := range pods {
		switch {
		case c.Container != "":
			streams = append(streams, stream{p.Name, c.Container})
		case c.AllContainers:
			for _, ct := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
				streams = append(streams, stream{p.Name, ct.Name})
			}
		default:
			name := p.Annotations["kubectl.kubernetes.io/default-container"]
			if name == "" && len(p.Spec.Containers) > 0 {
				name = p.Spec.Containers[0].Name
			}
			streams = append(streams, stream{p.Name, name})
		}
	}
	tail := c.Tail
	if tail < 0 && c.Selector != "" {
		tail = 10 // kubectl's default with a selector
	}
	for _, s := range streams {
		o := &corev1.PodLogOptions{Container: s.container, Previous: c.Previous, Timestamps: c.Timestamps}
		if tail >= 0 {
			o.TailLines = &tail
		}
		if c.Since > 0 {
			secs := int64(c.Since.Seconds())
			o.SinceSeconds = &secs
		}
		if len(streams) > 1 {
			fmt.Fprintf(out, "==> pod/%s container %s <==\n", s.pod, s.container)
		}
		rc, err := k.Client.CoreV1().Pods(ns).GetLogs(s.pod, o).Stream(ctx)
		if err != nil {
			if len(streams) > 1 {
				fmt.Fprintf(out, "(no logs: %s)\n", strings.TrimSpace(err.Error()))
				continue
			}
			return fmt.Errorf("kubectl logs %s -c %s: %w", s.pod, s.container, err)
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
		}
		_ = rc.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read the logs of %s: %w", s.pod, err)
		}
	}
	return nil
}
