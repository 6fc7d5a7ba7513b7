package runbook

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubectlReadVerbs are the kubectl verbs a step may run without being marked
// mutating; the runner does them in-process (kubectl need not be installed).
var KubectlReadVerbs = []string{"get", "logs"}

// KubectlMutations are the kubectl commands a mutating step may run.
var KubectlMutations = []string{"rollout restart"}

// KubectlCommand is a kubectl step's command line, parsed.
type KubectlCommand struct {
	// Verb is get, logs or "rollout restart".
	Verb string
	// Args are the positional arguments after the verb.
	Args []string

	Namespace     string
	AllNamespaces bool
	Selector      string
	FieldSelector string
	Output        string
	Container     string
	AllContainers bool
	Previous      bool
	Timestamps    bool
	Tail          int64
	Since         time.Duration
}

// Mutates tells whether the command changes the cluster.
func (c *KubectlCommand) Mutates() bool { return slices.Contains(KubectlMutations, c.Verb) }

// flagsOf are the flags each verb takes besides -n and -A.
var flagsOf = map[string][]string{
	"get":             {"selector", "field-selector", "output"},
	"logs":            {"selector", "container", "all-containers", "previous", "timestamps", "tail", "since"},
	"rollout restart": {},
}

// ParseKubectl parses a kubectl step's words (without "kubectl"): a read verb or
// a known mutation, and the flags the runner implements for it.
func ParseKubectl(words []string) (*KubectlCommand, error) {
	c := &KubectlCommand{}
	fs := pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVarP(&c.Namespace, "namespace", "n", "", "")
	fs.BoolVarP(&c.AllNamespaces, "all-namespaces", "A", false, "")
	fs.StringVarP(&c.Selector, "selector", "l", "", "")
	fs.StringVar(&c.FieldSelector, "field-selector", "", "")
	fs.StringVarP(&c.Output, "output", "o", "", "")
	fs.StringVarP(&c.Container, "container", "c", "", "")
	fs.BoolVar(&c.AllContainers, "all-containers", false, "")
	fs.BoolVarP(&c.Previous, "previous", "p", false, "")
	fs.BoolVar(&c.Timestamps, "timestamps", false, "")
	fs.Int64Var(&c.Tail, "tail", -1, "")
	fs.DurationVar(&c.Since, "since", 0, "")
	if err := fs.Parse(words); err != nil {
		return nil, fmt.Errorf("kubectl %s: %w", strings.Join(words, " "), err)
	}
	args := fs.Args()
	if len(args) == 0 {
		return nil, fmt.Errorf("kubectl %s: no verb", strings.Join(words, " "))
	}
	c.Verb, c.Args = args[0], args[1:]
	if c.Verb == "rollout" && len(c.Args) > 0 {
		c.Verb, c.Args = "rollout "+c.Args[0], c.Args[1:]
	}
	allowed, ok := flagsOf[c.Verb]
	if !ok {
		return nil, fmt.Errorf("kubectl %s: the runner does the read verbs %s and the mutation %s, not %q",
			strings.Join(words, " "), strings.Join(KubectlReadVerbs, ", "), strings.Join(KubectlMutations, ", "), c.Verb)
	}
	var bad []string
	fs.Visit(func(f *pflag.Flag) {
		if f.Name != "namespace" && f.Name != "all-namespaces" && !slices.Contains(allowed, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("kubectl %s: %s takes no %s", strings.Join(words, " "), c.Verb, strings.Join(bad, ", "))
	}
	switch c.Verb {
	case "get":
		if len(c.Args) == 0 {
			return nil, fmt.Errorf("kubectl %s: get needs a resource type", strings.Join(words, " "))
		}
		if !slices.Contains([]string{"", "wide", "yaml", "json", "name"}, c.Output) && !strings.HasPrefix(c.Output, "jsonpath=") {
			return nil, fmt.Errorf("kubectl %s: -o %s: the runner prints wide, yaml, json, name or jsonpath=", strings.Join(words, " "), c.Output)
		}
	case "logs":
		if len(c.Args) > 1 || len(c.Args) == 0 && c.Selector == "" || len(c.Args) == 1 && c.Selector != "" {
			return nil, fmt.Errorf("kubectl %s: logs takes one POD or TYPE/NAME, or -l SELECTOR", strings.Join(words, " "))
		}
	case "rollout restart":
		if len(c.Args) != 1 || !strings.Contains(c.Args[0], "/") {
			return nil, fmt.Errorf("kubectl %s: rollout restart takes one TYPE/NAME", strings.Join(words, " "))
		}
	}
	return c, nil
}

// Kube runs kubectl steps in-process, through the same kubeconfig as the plugin.
type Kube struct {
	// Getter gives the REST config, discovery and mapper (kubectl's flags).
	Getter resource.RESTClientGetter
	// Client is the typed client.
	Client kubernetes.Interface
	// Namespace is the default namespace (-n, or the kubeconfig context's).
	Namespace string
}

// Run runs c, writing what kubectl would print to out.
func (k *Kube) Run(ctx context.Context, c *KubectlCommand, out io.Writer) error {
	ns := c.Namespace
	if ns == "" {
		ns = k.Namespace
	}
	switch c.Verb {
	case "get":
		return k.get(c, ns, out)
	case "logs":
		return k.logs(ctx, c, ns, out)
	case "rollout restart":
		return k.restart(ctx, c, ns, out)
	}
	return fmt.Errorf("kubectl %s: not supported", c.Verb)
}

// asTable asks the API server for its table form, as kubectl get does.
func asTable(req *rest.Request) {
	req.SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
}

func (k *Kube) get(c *KubectlCommand, ns string, out io.Writer) error {
	human := c.Output == "" || c.Output == "wide"
	b := resource.NewBuilder(k.Getter).Unstructured().
		NamespaceParam(ns).DefaultNamespace().AllNamespaces(c.AllNamespaces).
		LabelSelectorParam(c.Selector).FieldSelectorParam(c.FieldSelector).
		ResourceTypeOrNameArgs(true, c.Args...).ContinueOnError().Flatten()
	if human {
		b = b.TransformRequests(asTable)
	}
	res := b.Do()
	single := false
	res.IntoSingleItemImplied(&single)
	infos, err := res.Infos()
	if err != nil {
		return fmt.Errorf("kubectl get %s: %w", strings.Join(c.Args, " "), err)
	}
	if human {
		return printTables(infos, c, ns, out)
	}
	var printer printers.ResourcePrinter
	switch {
	case c.Output == "yaml":
		printer = &printers.YAMLPrinter{}
	case c.Output == "json":
		printer = &printers.JSONPrinter{}
	case c.Output == "name":
		printer = &printers.NamePrinter{}
	default:
		jp, err := printers.NewJSONPathPrinter(strings.TrimPrefix(c.Output, "jsonpath="))
		if err != nil {
			return fmt.Errorf("kubectl get: -o %s: %w", c.Output, err)
		}
		jp.AllowMissingKeys(true) // kubectl's --allow-missing-template-keys default
		printer = jp
	}
	var obj runtime.Object
	if single && len(infos) == 1 && c.Output != "name" {
		obj = infos[0].Object
	} else {
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
		for _, i := range infos {
			if u, ok := i.Object.(*unstructured.Unstructured); ok {
				list.Items = append(list.Items, *u)
			}
		}
		if c.Output == "name" {
			for i := range list.Items {
				if err := printer.PrintObj(&list.Items[i], out); err != nil {
					return err
				}
			}
			return nil
		}
		obj = list
	}
	return printer.PrintObj(obj, out)
}

func printTables(infos []*resource.Info, c *KubectlCommand, ns string, out io.Writer) error {
	printer := printers.NewTablePrinter(printers.PrintOptions{Wide: c.Output == "wide", WithNamespace: c.AllNamespaces})
	rows := 0
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GetKind() != "Table" {
			continue
		}
		var table metav1.Table
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), &table); err != nil {
			return fmt.Errorf("read the table of %s: %w", info.Mapping.Resource.Resource, err)
		}
		for i := range table.Rows {
			if raw := table.Rows[i].Object.Raw; len(raw) > 0 {
				var m map[string]any
				if json.Unmarshal(raw, &m) == nil {
					table.Rows[i].Object.Object = &unstructured.Unstructured{Object: m}
				}
			}
		}
		rows += len(table.Rows)
		if len(table.Rows) == 0 {
			continue
		}
		if err := printer.PrintObj(&table, out); err != nil {
			return err
		}
	}
	if rows == 0 {
		if c.AllNamespaces {
			fmt.Fprintln(out, "No resources found")
		} else {
			fmt.Fprintf(out, "No resources found in %s namespace.\n", ns)
		}
	}
	return nil
}

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
				fmt.Fprintf(out, "(no logs: %v)\n", err)
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

// restart does what `kubectl rollout restart` does: it stamps the pod template
// with kubectl.kubernetes.io/restartedAt, so the controller rolls the pods.
func (k *Kube) restart(ctx context.Context, c *KubectlCommand, ns string, out io.Writer) error {
	kind, name, _ := strings.Cut(c.Args[0], "/")
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	var err error
	var what string
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy":
		what = "deployment.apps/" + name
		_, err = k.Client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-rollout"})
	case "statefulset", "statefulsets", "sts":
		what = "statefulset.apps/" + name
		_, err = k.Client.AppsV1().StatefulSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-rollout"})
	default:
		return fmt.Errorf("kubectl rollout restart %s: the runner restarts deployments and statefulsets", c.Args[0])
	}
	if err != nil {
		return fmt.Errorf("kubectl rollout restart %s in %s: %w", c.Args[0], ns, err)
	}
	fmt.Fprintf(out, "%s restarted\n", what)
	return nil
}
