package restore

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// pollEvery is how often the scale steps look at the Deployments and their pods.
const pollEvery = 500 * time.Millisecond

// ErrDeploymentMissing is an Immich Deployment of the settings that does not exist.
var ErrDeploymentMissing = fmt.Errorf("an Immich Deployment of the settings does not exist")

// recordReplicas reads the replicas of Immich's Deployments.
func (r *Restorer) recordReplicas(ctx context.Context) (map[string]int32, error) {
	out := map[string]int32{}
	for _, name := range r.Deployments {
		s, err := r.Kube.AppsV1().Deployments(r.ImmichNamespace).GetScale(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: deployment %s/%s (settings immich.deployments, namespaces.immich)", ErrDeploymentMissing, r.ImmichNamespace, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read the replicas of deployment %s/%s: %w", r.ImmichNamespace, name, err)
		}
		out[name] = s.Spec.Replicas
	}
	return out, nil
}

// scale sets every Deployment of replicas to its count (through the scale
// subresource, as kubectl scale does).
func (r *Restorer) scale(ctx context.Context, replicas map[string]int32) error {
	deps := r.Kube.AppsV1().Deployments(r.ImmichNamespace)
	for _, name := range sortedKeys(replicas) {
		err := retryConflict(ctx, func() error {
			s, err := deps.GetScale(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if s.Spec.Replicas == replicas[name] {
				return nil
			}
			s.Spec.Replicas = replicas[name]
			_, err = deps.UpdateScale(ctx, name, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("scale deployment %s/%s to %d: %w", r.ImmichNamespace, name, replicas[name], err)
		}
	}
	return nil
}

func retryConflict(ctx context.Context, f func() error) error {
	for {
		err := f()
		if !apierrors.IsConflict(err) || ctx.Err() != nil {
			return err
		}
	}
}

// waitRollout waits until every Deployment of replicas has rolled out to its count:
// observed, updated and available, and no pod of it left beyond (none at all for 0).
// It says on progress what it waits for, once a second at most.
func (r *Restorer) waitRollout(ctx context.Context, replicas map[string]int32, progress io.Writer) error {
	last := ""
	lastSaid := time.Time{}
	return wait.PollUntilContextCancel(ctx, pollEvery, true, func(ctx context.Context) (bool, error) {
		var waiting []string
		for _, name := range sortedKeys(replicas) {
			d, err := r.Kube.AppsV1().Deployments(r.ImmichNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Errorf("read deployment %s/%s: %w", r.ImmichNamespace, name, err)
			}
			pods, err := r.podsOf(ctx, d)
			if err != nil {
				return false, err
			}
			if msg := rolledOut(d, replicas[name], pods); msg != "" {
				waiting = append(waiting, name+": "+msg)
			}
		}
		if len(waiting) == 0 {
			return true, nil
		}
		msg := strings.Join(waiting, "; ")
		if msg != last && time.Since(lastSaid) > time.Second {
			fmt.Fprintf(progress, "  waiting: %s\n", msg)
			last, lastSaid = msg, time.Now()
		}
		return false, nil
	})
}

// rolledOut says what a Deployment still lacks to run want replicas ("" when none).
func rolledOut(d *appsv1.Deployment, want int32, pods int) string {
	st := d.Status
	switch {
	case d.Spec.Replicas == nil || *d.Spec.Replicas != want:
		return fmt.Sprintf("spec.replicas is not %d", want)
	case st.ObservedGeneration < d.Generation:
		return "the controller has not seen the change yet"
	case want == 0 && pods > 0:
		return fmt.Sprintf("%d pods still there", pods)
	case want == 0:
		return ""
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d updated", st.UpdatedReplicas, want)
	case st.AvailableReplicas < want:
		return fmt.Sprintf("%d of %d available", st.AvailableReplicas, want)
	case st.Replicas > want:
		return fmt.Sprintf("%d old pods terminating", st.Replicas-want)
	}
	return ""
}

// podsOf counts the pods the Deployment's selector matches.
func (r *Restorer) podsOf(ctx context.Context, d *appsv1.Deployment) (int, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return 0, fmt.Errorf("deployment %s/%s: bad selector: %w", d.Namespace, d.Name, err)
	}
	pods, err := r.Kube.CoreV1().Pods(r.ImmichNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, fmt.Errorf("list the pods of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return len(pods.Items), nil
}

// zeroes returns the same Deployments at 0 replicas.
func zeroes(replicas map[string]int32) map[string]int32 {
	out := map[string]int32{}
	for k := range replicas {
		out[k] = 0
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ReplicasText is "a=1, b=0", in name order.
func ReplicasText(replicas map[string]int32) string {
	var parts []string
	for _, k := range sortedKeys(replicas) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, replicas[k]))
	}
	return strings.Join(parts, ", ")
}
