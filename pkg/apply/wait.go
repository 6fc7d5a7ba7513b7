package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// WaitOptions tune Wait.
type WaitOptions struct {
	// Interval between polls (default 500ms); the first poll is immediate.
	Interval time.Duration
	// Quiet suppresses progress lines.
	Quiet bool
	// NeedsReady tells which kinds are only ready once their controller reports a Ready
	// condition. Default: Flux and External Secrets kinds (ReportsReady).
	NeedsReady func(schema.GroupKind) bool
}

// ReportsReady tells whether a kind's controller reports a Ready condition, so that a fresh
// object without status is still in progress (kstatus alone would call it Current).
func ReportsReady(gk schema.GroupKind) bool {
	return strings.HasSuffix(gk.Group, ".toolkit.fluxcd.io") || gk.Group == "external-secrets.io"
}

// NotReady is an object that is not Current, with kstatus's word on it.
type NotReady struct {
	ID      string        `json:"id"`
	Status  status.Status `json:"status"`
	Message string        `json:"message,omitempty"`
}

func (n NotReady) String() string {
	s := n.ID + " " + n.Status.String()
	if n.Message != "" {
		s += ": " + n.Message
	}
	return s
}

// WaitError says which objects failed or were still not ready; Err is the context's error
// when the wait timed out (so errors.Is(err, context.DeadlineExceeded) holds).
type WaitError struct {
	Failed  []NotReady
	Pending []NotReady
	Err     error
}

func (e *WaitError) Error() string {
	var lines []string
	if len(e.Failed) > 0 {
		lines = append(lines, fmt.Sprintf("%d object(s) failed:", len(e.Failed)))
		for _, n := range e.Failed {
			lines = append(lines, "  - "+n.String())
		}
	}
	if len(e.Pending) > 0 {
		head := fmt.Sprintf("%d object(s) not ready", len(e.Pending))
		if e.Err != nil {
			head = "timed out: " + head
		}
		lines = append(lines, head+":")
		for _, n := range e.Pending {
			lines = append(lines, "  - "+n.String())
		}
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the context's error.
func (e *WaitError) Unwrap() error { return e.Err }

// ObjectStatus is kstatus's verdict on u, made stricter for kinds that need a Ready
// condition: without Ready=True they are InProgress.
func ObjectStatus(u *unstructured.Unstructured, needsReady bool) (status.Status, string) {
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	if res.Status == status.CurrentStatus && needsReady && !readyTrue(u) {
		return status.InProgressStatus, "waiting for its controller to report Ready"
	}
	return res.Status, res.Message
}

func readyTrue(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// Wait polls objs until kstatus calls every one Current. It stops early with a *WaitError
// when one is Failed, and with a *WaitError wrapping the context's error when ctx ends.
func (a *Applier) Wait(ctx context.Context, objs []*unstructured.Unstructured, o WaitOptions) error {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.NeedsReady == nil {
		o.NeedsReady = ReportsReady
	}
	pending := make([]*target, 0, len(objs))
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("map %s to a resource: %w", changeFor(obj, "", "").ID(), err)
		}
		pending = append(pending, &target{obj: obj, mapping: m})
	}
	began := time.Now()
	var lastReport string
	var failed []NotReady
	for {
		states := make([]NotReady, len(pending))
		var mu sync.Mutex
		var readErr error
		a.parallel(len(pending), func(i int) {
			t := pending[i]
			st := NotReady{ID: t.id()}
			live, err := a.resource(t.mapping, t.obj.GetNamespace()).Get(ctx, t.obj.GetName(), metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				st.Status, st.Message = status.NotFoundStatus, "not found"
			case err != nil:
				st.Status, st.Message = status.UnknownStatus, err.Error()
				if t.lastWait.Status != "" {
					// A read cut short by the deadline says nothing new: report what was seen.
					st = t.lastWait
				}
				if ctx.Err() == nil && fatal(err) {
					mu.Lock()
					readErr = errors.Join(readErr, fmt.Errorf("read %s: %w", st.ID, err))
					mu.Unlock()
				}
			default:
				st.Status, st.Message = ObjectStatus(live, o.NeedsReady(t.obj.GroupVersionKind().GroupKind()))
			}
			states[i] = st
			t.lastWait = st
		})
		if readErr != nil {
			return readErr
		}
		var still []*target
		var notReady []NotReady
		for i, st := range states {
			switch st.Status {
			case status.CurrentStatus:
			case status.FailedStatus:
				failed = append(failed, st)
			default:
				still = append(still, pending[i])
				notReady = append(notReady, st)
			}
		}
		pending = still
		if len(failed) > 0 {
			return &WaitError{Failed: failed, Pending: notReady}
		}
		if len(pending) == 0 {
			if !o.Quiet {
				a.logf("all %d object(s) ready after %s", len(objs), time.Since(began).Round(time.Millisecond))
			}
			return nil
		}
		if report := waitReport(notReady); report != lastReport && !o.Quiet {
			a.logf("%s", report)
			lastReport = report
		}
		select {
		case <-ctx.Done():
			return &WaitError{Pending: notReady, Err: ctx.Err()}
		case <-time.After(o.Interval):
		}
	}
}

// fatal tells whether a read error will not go away by polling again (the user may not
// read the object); anything else (timeouts, throttling, a restarting API server) is
// reported as Unknown and polled again until the deadline.
func fatal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsMethodNotSupported(err) || apierrors.IsNotAcceptable(err)
}

// waitReport is one progress line about the objects still waited for.
func waitReport(notReady []NotReady) string {
	const show = 3
	parts := make([]string, 0, show)
	for i, n := range notReady {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(notReady)-show))
			break
		}
		parts = append(parts, n.String())
	}
	return fmt.Sprintf("waiting for %d object(s): %s", len(notReady), strings.Join(parts, "; "))
}
