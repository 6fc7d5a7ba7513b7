package apply

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Action is what happened (or, in a dry run, would happen) to one object.
type Action string

// The actions of a change set.
const (
	// Created: the object did not exist and was created.
	Created Action = "created"
	// Configured: the object existed and the apply changed it.
	Configured Action = "configured"
	// Unchanged: the object existed and the apply changed nothing.
	Unchanged Action = "unchanged"
	// Conflict: another field manager owns fields the apply sets; nothing was written.
	Conflict Action = "conflict"
	// Refused: the object is managed by Flux; nothing was written.
	Refused Action = "refused"
	// Failed: the API server refused the object for another reason.
	Failed Action = "failed"
	// Deleted: uninstall deleted the object.
	Deleted Action = "deleted"
	// Kept: uninstall left the object in place (see the message for why).
	Kept Action = "kept"
)

// Change is one line of a change set.
type Change struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Action     Action `json:"action"`
	// Message explains conflicts, refusals, failures and kept objects.
	Message string `json:"message,omitempty"`
}

// changeFor starts a change set line for obj.
func changeFor(obj *unstructured.Unstructured, action Action, msg string) Change {
	return Change{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
		Action:     action,
		Message:    msg,
	}
}

// ID names the object as Flux does: Kind/namespace/name, or Kind/name when cluster scoped.
func (c Change) ID() string {
	if c.Namespace == "" {
		return c.Kind + "/" + c.Name
	}
	return c.Kind + "/" + c.Namespace + "/" + c.Name
}

// ChangeSet is what `install` and `uninstall` print: one line per object.
type ChangeSet struct {
	// DryRun is "none", "client" or "server".
	DryRun DryRun `json:"dryRun"`
	// Changes are sorted in the order the objects were given.
	Changes []Change `json:"changes"`
}

// Count returns how many changes have the action.
func (cs *ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// With returns the changes that have one of the actions.
func (cs *ChangeSet) With(actions ...Action) []Change {
	var out []Change
	for _, c := range cs.Changes {
		for _, a := range actions {
			if c.Action == a {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// Summary says how many objects got each action, e.g. "2 created, 14 unchanged".
func (cs *ChangeSet) Summary() string {
	order := []Action{Created, Configured, Unchanged, Deleted, Kept, Conflict, Refused, Failed}
	var parts []string
	for _, a := range order {
		if n := cs.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "no objects"
	}
	s := strings.Join(parts, ", ")
	if cs.DryRun != DryRunNone && cs.DryRun != "" {
		s += " (" + string(cs.DryRun) + " dry run)"
	}
	return s
}

// WriteText prints one line per object, as `flux` does: "Kind/ns/name created".
// Dry runs are marked as kubectl marks them.
func (cs *ChangeSet) WriteText(w io.Writer) error {
	suffix := ""
	if cs.DryRun != DryRunNone && cs.DryRun != "" {
		suffix = " (" + string(cs.DryRun) + " dry run)"
	}
	for _, c := range cs.Changes {
		line := c.ID() + " " + string(c.Action) + suffix
		if c.Message != "" {
			line += ": " + c.Message
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// sortLike orders changes as the objects were given (the bundle's order), which is stable
// across runs although the objects were applied concurrently.
func sortLike(changes []Change, objs []*unstructured.Unstructured) {
	pos := make(map[string]int, len(objs))
	for i, o := range objs {
		pos[changeFor(o, "", "").key()] = i
	}
	sort.SliceStable(changes, func(i, j int) bool {
		pi, iok := pos[changes[i].key()]
		pj, jok := pos[changes[j].key()]
		if iok != jok {
			return iok
		}
		if !iok {
			return changes[i].ID() < changes[j].ID()
		}
		return pi < pj
	})
}

func (c Change) key() string {
	return c.APIVersion + "|" + c.ID()
}
