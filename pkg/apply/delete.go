package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Installed is an object found in the cluster that this field manager applied.
type Installed struct {
	Obj     *unstructured.Unstructured
	Mapping *meta.RESTMapping
}

// ID names the object as the change set does.
func (i Installed) ID() string { return changeFor(i.Obj, "", "").ID() }

// Find lists the objects of the given kinds that match the label selector and carry this
// Applier's field manager as an applier. With namespaces, it looks only there: namespaced
// kinds are listed in each of them and Namespace objects must be one of them, so two
// installs with different settings never see each other's objects; other cluster-scoped
// kinds are listed cluster-wide. Kinds the cluster does not serve are skipped (there is
// nothing of them to find).
func (a *Applier) Find(ctx context.Context, kinds []schema.GroupVersionKind, selector string, namespaces []string) ([]Installed, error) {
	seen := map[schema.GroupVersionResource]bool{}
	type listing struct {
		m  *meta.RESTMapping
		ns string
	}
	var listings []listing
	for _, gvk := range kinds {
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("map %s to a resource: %w", gvk, err)
		}
		if seen[m.Resource] {
			continue
		}
		seen[m.Resource] = true
		if m.Scope.Name() != meta.RESTScopeNameNamespace || len(namespaces) == 0 {
			listings = append(listings, listing{m: m})
			continue
		}
		for _, ns := range namespaces {
			listings = append(listings, listing{m: m, ns: ns})
		}
	}
	inScope := map[string]bool{}
	for _, ns := range namespaces {
		inScope[ns] = true
	}
	found := make([][]Installed, len(listings))
	errs := make([]error, len(listings))
	a.parallel(len(listings), func(i int) {
		l := listings[i]
		list, err := a.Client.Resource(l.m.Resource).Namespace(l.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			errs[i] = fmt.Errorf("list %s: %w", l.m.Resource.GroupResource(), err)
			return
		}
		for j := range list.Items {
			obj := &list.Items[j]
			if isNamespace(obj) && len(namespaces) > 0 && !inScope[obj.GetName()] {
				continue
			}
			if a.applied(obj) {
				found[i] = append(found[i], Installed{Obj: obj, Mapping: l.m})
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Installed
	for _, f := range found {
		out = append(out, f...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// applied tells whether this Applier's field manager has applied fields of obj.
func (a *Applier) applied(obj *unstructured.Unstructured) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == a.fieldManager() && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// PlanDelete decides, for each found object, whether uninstall deletes it. It keeps objects
// that existed before the plugin applied them (no CreatedAnnotation), CRDs (deleting one
// deletes every object of its kind), and namespaces that still hold anything the plugin did
// not create (a Secret or volume claim someone put there). The change set lists the plan.
func (a *Applier) PlanDelete(ctx context.Context, found []Installed) (*ChangeSet, []Installed, error) {
	cs := &ChangeSet{DryRun: DryRunNone, Changes: []Change{}}
	var del []Installed
	var namespaces []Installed
	for _, f := range found {
		switch {
		case f.Obj.GetAnnotations()[CreatedAnnotation] == "":
			cs.Changes = append(cs.Changes, changeFor(f.Obj, Kept, "existed before install; left in place"))
		case isCRD(f.Obj):
			cs.Changes = append(cs.Changes, changeFor(f.Obj, Kept, "CRDs are never deleted: that would delete every object of the kind"))
		case isNamespace(f.Obj):
			namespaces = append(namespaces, f)
		default:
			del = append(del, f)
			cs.Changes = append(cs.Changes, changeFor(f.Obj, Deleted, ""))
		}
	}
	for _, ns := range namespaces {
		foreign, err := a.foreignObjects(ctx, ns.Obj.GetName(), del)
		if err != nil {
			return nil, nil, err
		}
		if len(foreign) > 0 {
			cs.Changes = append(cs.Changes, changeFor(ns.Obj, Kept, "holds objects install did not create: "+summarise(foreign, 5)))
			continue
		}
		del = append(del, ns)
		cs.Changes = append(cs.Changes, changeFor(ns.Obj, Deleted, ""))
	}
	return cs, del, nil
}

// Delete deletes the planned objects: namespaced and cluster-scoped objects first,
// concurrently, then namespaces. Each delete is conditional on the UID that was planned,
// so an object re-created in the meantime is left alone.
func (a *Applier) Delete(ctx context.Context, del []Installed) error {
	var first, last []Installed
	for _, d := range del {
		if isNamespace(d.Obj) {
			last = append(last, d)
		} else {
			first = append(first, d)
		}
	}
	var errs []error
	for _, batch := range [][]Installed{first, last} {
		if len(batch) == 0 {
			continue
		}
		batchErrs := make([]error, len(batch))
		a.parallel(len(batch), func(i int) {
			d := batch[i]
			uid := d.Obj.GetUID()
			policy := metav1.DeletePropagationBackground
			err := a.resource(d.Mapping, d.Obj.GetNamespace()).Delete(ctx, d.Obj.GetName(), metav1.DeleteOptions{
				Preconditions:     &metav1.Preconditions{UID: &uid},
				PropagationPolicy: &policy,
			})
			if err != nil && !apierrors.IsNotFound(err) {
				batchErrs[i] = fmt.Errorf("delete %s: %w", d.ID(), err)
			}
		})
		errs = append(errs, batchErrs...)
		a.logf("deleted %d object(s)", len(batch))
	}
	return errors.Join(errs...)
}

// builtinContent are objects Kubernetes itself puts in every namespace.
func builtinContent(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Kind == "ConfigMap" && obj.GetName() == "kube-root-ca.crt":
		return true
	case gvk.Kind == "ServiceAccount" && obj.GetName() == "default":
		return true
	case gvk.Kind == "Event":
		return true
	}
	return false
}

// foreignObjects lists what namespace ns holds besides the objects to delete, the objects
// they own (transitively: a CronJob's Jobs and their Pods, an ExternalSecret's Secret) and
// what Kubernetes puts in every namespace.
func (a *Applier) foreignObjects(ctx context.Context, ns string, del []Installed) ([]string, error) {
	if a.Discovery == nil {
		return nil, errors.New("check namespace contents: no discovery client")
	}
	lists, err := a.Discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover namespaced resources: %w", err)
	}
	var gvrs []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			// Events come and go; v1 Endpoints mirror EndpointSlices of Services (and
			// listing them only draws a deprecation warning).
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || r.Kind == "Event" ||
				(gv.Group == "" && r.Name == "endpoints") {
				continue
			}
			gvrs = append(gvrs, gv.WithResource(r.Name))
		}
	}
	items := make([][]unstructured.Unstructured, len(gvrs))
	errs := make([]error, len(gvrs))
	a.parallel(len(gvrs), func(i int) {
		list, err := a.Client.Resource(gvrs[i]).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				errs[i] = fmt.Errorf("list %s in %s: %w", gvrs[i].GroupResource(), ns, err)
			}
			return
		}
		items[i] = list.Items
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	owned := map[types.UID]bool{}
	for _, d := range del {
		owned[d.Obj.GetUID()] = true
	}
	var all []*unstructured.Unstructured
	for _, l := range items {
		for j := range l {
			all = append(all, &l[j])
		}
	}
	// Ownership is transitive: repeat until no new owned object turns up.
	for changed := true; changed; {
		changed = false
		for _, o := range all {
			if owned[o.GetUID()] {
				continue
			}
			for _, ref := range o.GetOwnerReferences() {
				if owned[ref.UID] {
					owned[o.GetUID()] = true
					changed = true
					break
				}
			}
		}
	}
	var foreign []string
	for _, o := range all {
		switch {
		case owned[o.GetUID()], builtinContent(o):
		default:
			foreign = append(foreign, changeFor(o, "", "").ID())
		}
	}
	sort.Strings(foreign)
	return foreign, nil
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// summarise joins the first n items and says how many more there are.
func summarise(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
