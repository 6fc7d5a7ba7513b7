package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// LeaseDuration is how long a restore's Lease stays valid without renewal: a process
// that died (SIGKILL, a closed laptop) frees it after this long.
const LeaseDuration = 20 * time.Second

// renewEvery is how often a running restore renews its Lease.
const renewEvery = LeaseDuration / 4

// ErrBusy is returned when another restore holds the Lease.
var ErrBusy = errors.New("another restore is running")

// ErrLeaseLost ends a restore whose Lease another process took over.
var ErrLeaseLost = errors.New("the restore's lease was taken over by another process")

// lease is the one-restore-at-a-time Lease beside the backup CronJob.
type lease struct {
	kube      kubernetes.Interface
	namespace string
	name      string
	holder    string

	mu  sync.Mutex // guards obj: keep renews it while the restore runs
	obj *coordinationv1.Lease
}

func (l *lease) current() *coordinationv1.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.obj
}

func (l *lease) set(o *coordinationv1.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.obj = o
}

// expiry is when the Lease ends unless renewed.
func expiry(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
}

// acquire takes the Lease for l.holder. A Lease held by nobody, or by l.holder in a
// process that died (resume: waited for until it expires, with a line on progress),
// is taken; one another restore holds is refused with ErrBusy while it is renewed,
// and after its holder stopped renewing it is taken over only when force is set.
func (l *lease) acquire(ctx context.Context, force bool, progress io.Writer) error {
	leases := l.kube.CoordinationV1().Leases(l.namespace)
	waited := false
	var lastRenew time.Time
	for {
		cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		now := metav1.NewMicroTime(time.Now())
		if apierrors.IsNotFound(err) {
			obj := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-picluster", "app.kubernetes.io/component": "restore"}},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(l.holder),
					LeaseDurationSeconds: ptr.To(int32(LeaseDuration / time.Second)),
					AcquireTime:          &now,
					RenewTime:            &now,
				},
			}
			created, err := leases.Create(ctx, obj, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("take the restore lease %s/%s: %w", l.namespace, l.name, err)
			}
			l.set(created)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the restore lease %s/%s: %w", l.namespace, l.name, err)
		}
		holder := ptr.Deref(cur.Spec.HolderIdentity, "")
		until := expiry(cur)
		held := holder != "" && time.Now().Before(until)
		switch {
		case !held:
		case holder == l.holder:
			// This restore's previous process, killed before it could let go, or
			// still running: its lease is renewed then.
			if waited && cur.Spec.RenewTime != nil && !cur.Spec.RenewTime.Time.Equal(lastRenew) {
				return fmt.Errorf("%w: restore %s is still running in another process (it renewed lease %s/%s at %s)", ErrBusy, holder, l.namespace, l.name, cur.Spec.RenewTime.UTC().Format(time.RFC3339))
			}
			if !waited {
				fmt.Fprintf(progress, "The previous process of restore %s held its lease until %s; waiting for it to expire.\n", holder, until.UTC().Format(time.RFC3339))
				waited = true
			}
			if cur.Spec.RenewTime != nil {
				lastRenew = cur.Spec.RenewTime.Time
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(time.Until(until) + 100*time.Millisecond):
			}
			continue
		default:
			return fmt.Errorf("%w: restore %s holds lease %s/%s (renewed until %s); one restore at a time", ErrBusy, holder, l.namespace, l.name, until.UTC().Format(time.RFC3339))
		}
		if holder != "" && holder != l.holder && !force {
			return fmt.Errorf("%w: restore %s stopped renewing lease %s/%s at %s: if its process is gone, take over with --force (or continue it with --resume)", ErrBusy, holder, l.namespace, l.name, until.UTC().Format(time.RFC3339))
		}
		cur = cur.DeepCopy()
		cur.Spec.HolderIdentity = ptr.To(l.holder)
		cur.Spec.LeaseDurationSeconds = ptr.To(int32(LeaseDuration / time.Second))
		cur.Spec.AcquireTime = &now
		cur.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("take the restore lease %s/%s: %w", l.namespace, l.name, err)
		}
		l.set(updated)
		return nil
	}
}

// keep renews the Lease until ctx ends; when another process took it over, or it
// cannot be renewed before it expires, it calls lost.
func (l *lease) keep(ctx context.Context, lost func(error)) {
	leases := l.kube.CoordinationV1().Leases(l.namespace)
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mine := l.current()
		if mine == nil {
			return
		}
		cur := mine.DeepCopy()
		now := metav1.NewMicroTime(time.Now())
		cur.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			l.set(updated)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			got, gerr := leases.Get(ctx, l.name, metav1.GetOptions{})
			if gerr == nil && ptr.Deref(got.Spec.HolderIdentity, "") == l.holder {
				l.set(got)
				continue
			}
			lost(fmt.Errorf("%w (lease %s/%s)", ErrLeaseLost, l.namespace, l.name))
			return
		}
		if time.Now().After(expiry(mine)) {
			lost(fmt.Errorf("%w: cannot renew lease %s/%s: %v", ErrLeaseLost, l.namespace, l.name, err))
			return
		}
	}
}

// release lets go of the Lease: it is deleted only while it is as this process last
// wrote it (a Lease another process took over stays).
func (l *lease) release(ctx context.Context) {
	mine := l.current()
	if mine == nil {
		return
	}
	l.set(nil)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = l.kube.CoordinationV1().Leases(l.namespace).Delete(ctx, l.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &mine.UID, ResourceVersion: &mine.ResourceVersion},
	})
}

// busy returns ErrBusy when another restore holds the Lease and renews it.
func (l *lease) busy(ctx context.Context) error {
	cur, err := l.kube.CoordinationV1().Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the restore lease %s/%s: %w", l.namespace, l.name, err)
	}
	holder, until := ptr.Deref(cur.Spec.HolderIdentity, ""), expiry(cur)
	if holder != "" && time.Now().Before(until) {
		return fmt.Errorf("%w: restore %s holds lease %s/%s (renewed until %s); one restore at a time", ErrBusy, holder, l.namespace, l.name, until.UTC().Format(time.RFC3339))
	}
	return nil
}
