package apply

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// PermissionError says which permissions the user lacks, once each, instead of one
// "forbidden" line per object: the verbs and resources, as check's permissions line
// names them ("get deployments.apps in immich"). It exits 2.
type PermissionError struct {
	// Missing are the permissions the API server refused, sorted and without repeats.
	Missing []string
	// Doing is what needed them ("read the objects install applies").
	Doing string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s: the API server refused %s: %s (kubectl auth can-i --list shows what you may do; install needs cluster-admin or the rights to create those objects)",
		e.Doing, permissionCount(len(e.Missing)), strings.Join(e.Missing, "; "))
}

// ExitCode is 2: the user's rights, not the setup, are at fault.
func (e *PermissionError) ExitCode() int { return exitcode.Usage }

func permissionCount(n int) string {
	if n == 1 {
		return "1 permission"
	}
	return fmt.Sprintf("%d permissions", n)
}

// permission names verb on a resource, in namespace when it is namespaced.
func permission(verb string, gvr schema.GroupVersionResource, namespace string) string {
	res := gvr.Resource
	if gvr.Group != "" {
		res += "." + gvr.Group
	}
	if namespace == "" {
		return verb + " " + res
	}
	return fmt.Sprintf("%s %s in %s", verb, res, namespace)
}

// newPermissionError sorts and dedupes missing; nil when there are none.
func newPermissionError(doing string, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return &PermissionError{Doing: doing, Missing: slices.Compact(missing)}
}
