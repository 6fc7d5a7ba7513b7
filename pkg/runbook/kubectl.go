package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

	// Namespace is -n; AllNamespaces is -A.
	Namespace     string
	AllNamespaces bool
	// Selector is -l; FieldSelector is --field-selector; Output is get's -o.
	Selector      string
	FieldSelector string
	Output        string
	// Container, AllContainers, Previous, Timestamps, Tail and Since are logs' flags.
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
