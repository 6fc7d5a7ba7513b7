package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Options tune Apply.
type Options struct {
	// DryRun: client compares with the live objects and writes nothing; server asks the API
	// server to run the apply without persisting it.
	DryRun DryRun
	// Force takes over fields owned by other managers and objects managed by Flux.
	Force bool
	// Required are CRDs the objects need; missing ones are named with how to get them.
	Required []CRD
	// StageTimeout bounds the wait for the first stage (CRDs Established); default 2 minutes.
	StageTimeout time.Duration
}

// target is one object on its way: the desired state, its resource and the live state.
type target struct {
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping // nil while its kind awaits a CRD of the first stage
	live    *unstructured.Unstructured
	// nsPending: its namespace does not exist yet; the first stage creates it.
	nsPending bool
	change    Change
	// lastWait is what the previous poll of Wait saw.
	lastWait NotReady
}

// Apply server-side applies objs: CRDs and Namespaces first (waited on), then the rest, each
// stage concurrently. Before writing anything it checks that every kind is served (else a
// *MissingError) and that no object is managed by Flux (else a *RefusedError unless Force).
// Objects that conflict or fail are reported in the change set and in an *ApplyError; the
// others are applied. The change set lists the objects in the order given.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured, o Options) (*ChangeSet, error) {
	if o.DryRun == "" {
		o.DryRun = DryRunNone
	}
	cs := &ChangeSet{DryRun: o.DryRun, Changes: []Change{}}
	if err := CheckKinds(a.Mapper, objs, o.Required); err != nil {
		return cs, err
	}
	targets, err := a.preflight(ctx, objs)
	if err != nil {
		return cs, err
	}
	if err := a.refuseFlux(targets, o, cs); err != nil {
		return cs, err
	}
	var first, second []*target
	for _, t := range targets {
		if isCRD(t.obj) || isNamespace(t.obj) {
			first = append(first, t)
		} else {
			second = append(second, t)
		}
	}
	began := time.Now()
	a.applyStage(ctx, "CRDs and namespaces", first, o)
	if err := a.stageErrors(first); err != nil {
		collect(cs, targets, objs)
		return cs, err
	}
	if len(first) > 0 && o.DryRun == DryRunNone {
		if err := a.settleFirstStage(ctx, first, second, o); err != nil {
			collect(cs, targets, objs)
			return cs, err
		}
	}
	a.applyStage(ctx, "the rest", second, o)
	collect(cs, targets, objs)
	a.logf("applied %d object(s) in %s: %s", len(targets), time.Since(began).Round(time.Millisecond), cs.Summary())
	return cs, a.stageErrors(targets)
}

// collect puts every target's change into cs, in the objects' order.
func collect(cs *ChangeSet, targets []*target, objs []*unstructured.Unstructured) {
	cs.Changes = cs.Changes[:0]
	for _, t := range targets {
		if t.change.Action != "" {
			cs.Changes = append(cs.Changes, t.change)
		}
	}
	sortLike(cs.Changes, objs)
}

// stageErrors returns an *ApplyError when any target conflicted or failed.
func (a *Applier) stageErrors(targets []*target) error {
	e := &ApplyError{}
	for _, t := range targets {
		switch t.change.Action {
		case Conflict:
			e.Conflicts = append(e.Conflicts, t.change)
		case Failed:
			e.Failures = append(e.Failures, t.change)
		}
	}
	if len(e.Conflicts) == 0 && len(e.Failures) == 0 {
		return nil
	}
	return e
}

// preflight maps every object to its resource and reads its live state, and checks that
// each namespace exists or is created by the objects. It writes nothing.
func (a *Applier) preflight(ctx context.Context, objs []*unstructured.Unstructured) ([]*target, error) {
	defined := definedKinds(objs)
	created := map[string]bool{}
	for _, o := range objs {
		if isNamespace(o) {
			created[o.GetName()] = true
		}
	}
	targets := make([]*target, len(objs))
	needNS := map[string]bool{}
	for i, o := range objs {
		t := &target{obj: o.DeepCopy()}
		targets[i] = t
		gvk := o.GroupVersionKind()
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		switch {
		case err == nil:
			t.mapping = m
		case meta.IsNoMatchError(err) && defined[gvk.GroupKind()]:
			// Its CRD comes in the first stage; map it after that.
		default:
			return nil, fmt.Errorf("map %s to a resource: %w", t.id(), err)
		}
		if t.mapping != nil && t.mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			t.obj.SetNamespace("")
		} else if t.obj.GetNamespace() == "" {
			return nil, fmt.Errorf("%s has no namespace", t.id())
		} else if !created[t.obj.GetNamespace()] {
			needNS[t.obj.GetNamespace()] = true
		}
	}
	a.logf("reading %d object(s) from the cluster", len(targets))
	nsNames := sortedKeys(needNS)
	errs := make([]error, len(targets)+len(nsNames))
	denied := make([]string, len(targets)+len(nsNames)) // summarised once, not one line per object
	nsExists := make([]bool, len(nsNames))
	a.parallel(len(targets)+len(nsNames), func(i int) {
		if i >= len(targets) {
			j := i - len(targets)
			_, err := a.Client.Resource(namespacesGVR).Get(ctx, nsNames[j], metav1.GetOptions{})
			nsExists[j] = err == nil
			switch {
			case apierrors.IsForbidden(err):
				denied[i] = permission("get", namespacesGVR, "")
			case err != nil && !apierrors.IsNotFound(err):
				errs[i] = fmt.Errorf("read namespace %s: %w", nsNames[j], err)
			}
			return
		}
		t := targets[i]
		if t.mapping == nil {
			return
		}
		live, err := a.resource(t.mapping, t.obj.GetNamespace()).Get(ctx, t.obj.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			t.live = live
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			denied[i] = permission("get", t.mapping.Resource, t.obj.GetNamespace())
		default:
			errs[i] = fmt.Errorf("read %s: %w", t.id(), err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := newPermissionError("read the objects to apply", slices.DeleteFunc(denied, func(s string) bool { return s == "" })); err != nil {
		return nil, err
	}
	var missingNS []string
	for j, ns := range nsNames {
		if !nsExists[j] {
			missingNS = append(missingNS, ns)
		}
	}
	if len(missingNS) > 0 {
		return nil, &MissingError{Namespaces: missingNS}
	}
	for _, t := range targets {
		t.nsPending = t.obj.GetNamespace() != "" && created[t.obj.GetNamespace()] && !a.namespaceLive(targets, t.obj.GetNamespace())
	}
	return targets, nil
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// namespaceLive tells whether the Namespace object among targets already exists.
func (a *Applier) namespaceLive(targets []*target, ns string) bool {
	for _, t := range targets {
		if isNamespace(t.obj) && t.obj.GetName() == ns {
			return t.live != nil
		}
	}
	return true
}

func (t *target) id() string { return changeFor(t.obj, "", "").ID() }

// refuseFlux marks objects whose live state carries Flux labels. Without Force that stops
// the apply before anything is written; with Force it warns and goes on.
func (a *Applier) refuseFlux(targets []*target, o Options, cs *ChangeSet) error {
	var refused []Change
	for _, t := range targets {
		if t.live == nil {
			continue
		}
		owner := FluxOwner(t.live)
		if owner == "" {
			continue
		}
		if o.Force {
			a.logf("warning: %s is managed by %s, which will revert changes; taking it over because of --force-conflicts", t.id(), owner)
			continue
		}
		refused = append(refused, changeFor(t.obj, Refused, "managed by "+owner))
	}
	if len(refused) == 0 {
		return nil
	}
	cs.Changes = refused
	return &RefusedError{Changes: refused}
}

// settleFirstStage waits until the first stage's CRDs are Established and namespaces are
// active, then maps the kinds those CRDs define.
func (a *Applier) settleFirstStage(ctx context.Context, first, second []*target, o Options) error {
	timeout := o.StageTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	objs := make([]*unstructured.Unstructured, len(first))
	for i, t := range first {
		objs[i] = t.obj
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := a.Wait(wctx, objs, WaitOptions{Quiet: true}); err != nil {
		return fmt.Errorf("wait for CRDs and namespaces: %w", err)
	}
	var hasCRD bool
	for _, t := range first {
		hasCRD = hasCRD || isCRD(t.obj)
	}
	if !hasCRD {
		return nil
	}
	a.Mapper.Reset()
	for _, t := range second {
		if t.mapping != nil {
			continue
		}
		gvk := t.obj.GroupVersionKind()
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("map %s after its CRD was applied: %w", t.id(), err)
		}
		t.mapping = m
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			t.obj.SetNamespace("")
		}
	}
	return nil
}

// applyStage applies targets concurrently, recording each one's change.
func (a *Applier) applyStage(ctx context.Context, name string, targets []*target, o Options) {
	if len(targets) == 0 {
		return
	}
	a.logf("applying %d object(s): %s", len(targets), name)
	a.parallel(len(targets), func(i int) {
		targets[i].change = a.applyOne(ctx, targets[i], o)
	})
}

// applyOne applies one object and says what changed.
func (a *Applier) applyOne(ctx context.Context, t *target, o Options) Change {
	desired := t.obj.DeepCopy()
	if t.live == nil || t.live.GetAnnotations()[CreatedAnnotation] != "" {
		ann := desired.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[CreatedAnnotation] = a.fieldManager()
		desired.SetAnnotations(ann)
	}
	switch {
	case o.DryRun == DryRunClient:
		return a.clientDiff(t)
	case o.DryRun == DryRunServer && (t.mapping == nil || t.nsPending):
		why := "namespace " + t.obj.GetNamespace() + " does not exist yet"
		if t.mapping == nil {
			why = "its CRD does not exist yet"
		}
		return changeFor(t.obj, Created, "not validated by the server: "+why)
	}
	opts := metav1.ApplyOptions{FieldManager: a.fieldManager(), Force: o.Force}
	if o.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	res, err := a.resource(t.mapping, desired.GetNamespace()).Apply(ctx, desired.GetName(), desired, opts)
	if err != nil {
		if apierrors.IsConflict(err) {
			return changeFor(t.obj, Conflict, conflictMessage(err))
		}
		return changeFor(t.obj, Failed, err.Error())
	}
	// A dry run never bumps the resourceVersion, so only content tells there. Compare
	// content after a real apply too: the first update after a create
	// persists what CRD defaulting added on read (e.g. a HelmRepository's
	// status.observedGeneration: -1), a write that changes nothing anyone can see.
	switch {
	case t.live == nil:
		return changeFor(t.obj, Created, "")
	case o.DryRun == DryRunNone && res.GetResourceVersion() == t.live.GetResourceVersion(), sameExceptVersion(t.live, res):
		return changeFor(t.obj, Unchanged, "")
	}
	return changeFor(t.obj, Configured, "")
}

// clientDiff guesses the change without asking the server to apply anything.
func (a *Applier) clientDiff(t *target) Change {
	switch {
	case t.live == nil:
		return changeFor(t.obj, Created, "")
	case isSubset(t.obj.Object, t.live.Object):
		return changeFor(t.obj, Unchanged, "")
	}
	return changeFor(t.obj, Configured, "")
}

// conflictMessage lists the conflicting fields and their managers from the API server's
// answer, e.g. `.data.key (conflict with "kubectl-edit" using v1)`.
func conflictMessage(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return err.Error()
	}
	var parts []string
	for _, c := range status.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Field, c.Message))
	}
	if len(parts) == 0 {
		return err.Error()
	}
	return "fields owned by another manager: " + strings.Join(parts, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
