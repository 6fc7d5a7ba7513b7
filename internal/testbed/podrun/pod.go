package podrun

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// pod is the worker of one run pod: it owns the pod's status from its start to its removal.
type pod struct {
	r               *Runtime
	uid             types.UID
	namespace, name string
	spec            *corev1.Pod
	dir             string
	net             *podNet

	mu       sync.Mutex
	status   corev1.PodStatus
	initSt   map[string]*corev1.ContainerStatus
	ctrSt    map[string]*corev1.ContainerStatus
	running  map[string]*containerRun // the current run of each container
	previous map[string]*containerRun // the run before it (kubectl logs --previous)

	termOnce    sync.Once
	terminating chan struct{} // closed when the pod is being deleted
	grace       time.Duration
	abortOnce   sync.Once
	aborted     chan struct{} // closed when the containers must die now
	pubMu       sync.Mutex
}

func newPod(r *Runtime, po *corev1.Pod) *pod {
	p := &pod{
		r: r, uid: po.UID, namespace: po.Namespace, name: po.Name, spec: po,
		dir:         r.podDir(po.UID),
		initSt:      map[string]*corev1.ContainerStatus{},
		ctrSt:       map[string]*corev1.ContainerStatus{},
		running:     map[string]*containerRun{},
		previous:    map[string]*containerRun{},
		terminating: make(chan struct{}),
		aborted:     make(chan struct{}),
	}
	waiting := func(c corev1.Container, reason string) *corev1.ContainerStatus {
		return &corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "podrun://" + c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	for _, c := range po.Spec.InitContainers {
		p.initSt[c.Name] = waiting(c, "PodInitializing")
	}
	for _, c := range po.Spec.Containers {
		reason := "ContainerCreating"
		if len(po.Spec.InitContainers) > 0 {
			reason = "PodInitializing"
		}
		p.ctrSt[c.Name] = waiting(c, reason)
	}
	p.status = corev1.PodStatus{Phase: corev1.PodPending, HostIP: r.cfg.HostIP, QOSClass: po.Status.QOSClass}
	if r.cfg.HostIP != "" {
		p.status.HostIPs = []corev1.HostIP{{IP: r.cfg.HostIP}}
	}
	return p
}

// terminate starts the graceful end: containers get SIGTERM, then SIGKILL after the grace.
func (p *pod) terminate(po *corev1.Pod) {
	p.termOnce.Do(func() {
		grace := 30 * time.Second
		if po.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*po.DeletionGracePeriodSeconds) * time.Second
		}
		p.grace = grace
		close(p.terminating)
	})
}

// abort kills the containers now (the pod object is gone, or the runtime stops).
func (p *pod) abort() {
	p.abortOnce.Do(func() { close(p.aborted) })
	p.terminate(p.spec)
}

func (p *pod) isTerminating() bool {
	select {
	case <-p.terminating:
		return true
	default:
		return false
	}
}

// run is the pod's life: network, volumes, init containers, containers, then, once the
// pod is being deleted, the end of its containers and the removal of the object.
func (p *pod) run() {
	ctx := p.r.ctx
	defer p.cleanUp()
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		p.r.cfg.Logf("podrun: %s/%s: %v", p.namespace, p.name, err)
		return
	}
	var err error
	if p.net, err = p.r.cfg.Network.add(); err != nil {
		p.fail("NetworkNotReady", err.Error())
		p.waitDeletion()
		return
	}
	now := metav1.Now()
	p.mu.Lock()
	p.status.PodIP, p.status.PodIPs, p.status.StartTime = p.net.IP, []corev1.PodIP{{IP: p.net.IP}}, &now
	p.mu.Unlock()
	p.publish(ctx)
	if !p.retryUntilReady(ctx, "ContainerCreating", p.prepareVolumes) {
		p.waitDeletion()
		return
	}
	if !p.runInitContainers(ctx) {
		p.waitDeletion()
		return
	}
	p.runContainers(ctx)
	p.waitDeletion()
}

// retryUntilReady calls step until it succeeds, setting every waiting container's reason
// and message while it fails (a missing ConfigMap or Secret, as a kubelet waits for them).
func (p *pod) retryUntilReady(ctx context.Context, reason string, step func(context.Context) error) bool {
	for {
		err := step(ctx)
		if err == nil {
			return true
		}
		p.mu.Lock()
		for _, st := range p.allStatuses() {
			if st.State.Waiting != nil {
				st.State.Waiting.Reason, st.State.Waiting.Message = reason, err.Error()
			}
		}
		p.mu.Unlock()
		p.publish(ctx)
		select {
		case <-p.terminating:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

func (p *pod) allStatuses() []*corev1.ContainerStatus {
	var out []*corev1.ContainerStatus
	for _, c := range p.spec.Spec.InitContainers {
		out = append(out, p.initSt[c.Name])
	}
	for _, c := range p.spec.Spec.Containers {
		out = append(out, p.ctrSt[c.Name])
	}
	return out
}

// runInitContainers runs the init containers in order; false when the pod failed or is
// being deleted.
func (p *pod) runInitContainers(ctx context.Context) bool {
	policy := p.spec.Spec.RestartPolicy
	for _, c := range p.spec.Spec.InitContainers {
		for {
			if p.isTerminating() {
				return false
			}
			code, ok := p.runOne(ctx, c, true)
			if !ok || p.isTerminating() {
				return false
			}
			if code == 0 {
				break
			}
			if policy == corev1.RestartPolicyNever {
				p.mu.Lock()
				p.status.Phase = corev1.PodFailed
				p.mu.Unlock()
				p.publish(ctx)
				return false
			}
			if !p.backoff(c.Name, true) {
				return false
			}
		}
	}
	p.mu.Lock()
	p.setCondition(corev1.PodInitialized, corev1.ConditionTrue, "")
	for _, c := range p.spec.Spec.Containers {
		if st := p.ctrSt[c.Name]; st.State.Waiting != nil {
			st.State.Waiting.Reason = "ContainerCreating"
		}
	}
	p.mu.Unlock()
	return true
}

// runContainers runs the containers side by side, each restarted as restartPolicy says,
// and sets the pod's final phase when all have ended for good.
func (p *pod) runContainers(ctx context.Context) {
	policy := p.spec.Spec.RestartPolicy
	var wg sync.WaitGroup
	for _, c := range p.spec.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				code, ok := p.runOne(ctx, c, false)
				if !ok || p.isTerminating() {
					return
				}
				if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && code == 0) {
					return
				}
				if !p.backoff(c.Name, false) {
					return
				}
			}
		}()
	}
	wg.Wait()
	if p.isTerminating() {
		return
	}
	p.mu.Lock()
	p.status.Phase = corev1.PodSucceeded
	for _, c := range p.spec.Spec.Containers {
		if t := p.ctrSt[c.Name].State.Terminated; t == nil || t.ExitCode != 0 {
			p.status.Phase = corev1.PodFailed
		}
	}
	p.setCondition(corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted")
	p.setCondition(corev1.PodReady, corev1.ConditionFalse, "PodCompleted")
	p.mu.Unlock()
	p.publish(ctx)
	// A finished pod keeps its logs, not its network (a kubelet tears the sandbox down).
	if p.net != nil {
		p.r.cfg.Network.remove(p.net)
		p.net = nil
	}
}

// backoff waits before a restart (CrashLoopBackOff, shortened to 1 s on the bed); false
// when the pod is being deleted meanwhile.
func (p *pod) backoff(name string, init bool) bool {
	p.mu.Lock()
	st := p.ctrSt[name]
	if init {
		st = p.initSt[name]
	}
	st.LastTerminationState = st.State
	st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
		Message: "back-off 1s restarting failed container=" + name + " pod=" + p.name}}
	st.RestartCount++
	p.mu.Unlock()
	p.publish(p.r.ctx)
	select {
	case <-p.terminating:
		return false
	case <-time.After(time.Second):
		return true
	}
}

// runOne runs one container once and records its states; ok is false when it could not
// start because the pod is being deleted.
func (p *pod) runOne(ctx context.Context, c corev1.Container, init bool) (code int32, ok bool) {
	var cr *containerRun
	started := p.retryUntilReady(ctx, "CreateContainerConfigError", func(ctx context.Context) error {
		var err error
		cr, err = p.startContainer(ctx, c, init)
		return err
	})
	if !started {
		return 0, false
	}
	p.mu.Lock()
	if prev := p.running[c.Name]; prev != nil {
		p.previous[c.Name] = prev
	}
	p.running[c.Name] = cr
	st := p.ctrSt[c.Name]
	if init {
		st = p.initSt[c.Name]
	}
	st.ContainerID = "podrun://" + cr.id
	st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cr.started)}}
	st.Started = ptr.To(true)
	if !init {
		st.Ready = true
		p.status.Phase = corev1.PodRunning
		p.updateReady()
	}
	p.mu.Unlock()
	p.publish(ctx)

	cr.wait(p.terminating, p.aborted, func() time.Duration { return p.grace })

	p.mu.Lock()
	st.State = corev1.ContainerState{Terminated: cr.terminated(c)}
	st.Ready = false
	st.Started = ptr.To(false)
	if !init {
		p.updateReady()
	}
	p.mu.Unlock()
	if !p.isTerminating() {
		p.publish(ctx)
	}
	return st.State.Terminated.ExitCode, true
}

// updateReady sets ContainersReady and Ready from the containers' readiness (there are no
// probes: a running container is ready).
func (p *pod) updateReady() {
	ready := true
	for _, c := range p.spec.Spec.Containers {
		if !p.ctrSt[c.Name].Ready {
			ready = false
		}
	}
	s, reason := corev1.ConditionFalse, "ContainersNotReady"
	if ready {
		s, reason = corev1.ConditionTrue, ""
	}
	p.setCondition(corev1.ContainersReady, s, reason)
	p.setCondition(corev1.PodReady, s, reason)
}

// setCondition sets one of the conditions the runtime owns.
func (p *pod) setCondition(t corev1.PodConditionType, s corev1.ConditionStatus, reason string) {
	for i := range p.status.Conditions {
		if p.status.Conditions[i].Type == t {
			if p.status.Conditions[i].Status != s {
				p.status.Conditions[i].LastTransitionTime = metav1.Now()
			}
			p.status.Conditions[i].Status, p.status.Conditions[i].Reason = s, reason
			return
		}
	}
	p.status.Conditions = append(p.status.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()})
}

// fail marks the pod Failed with a reason (the runtime could not run it at all).
func (p *pod) fail(reason, message string) {
	p.mu.Lock()
	p.status.Phase, p.status.Reason, p.status.Message = corev1.PodFailed, reason, message
	p.mu.Unlock()
	p.publish(p.r.ctx)
}

// publish writes the pod's status to the API server (the conditions the runtime does not
// own, such as PodScheduled, are kept).
func (p *pod) publish(ctx context.Context) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	pods := p.r.cfg.Client.CoreV1().Pods(p.namespace)
	for range 10 {
		cur, err := pods.Get(ctx, p.name, metav1.GetOptions{})
		if err != nil || cur.UID != p.uid {
			return
		}
		p.mu.Lock()
		st := *p.status.DeepCopy()
		p.mu.Unlock()
		owned := map[corev1.PodConditionType]bool{}
		for _, c := range st.Conditions {
			owned[c.Type] = true
		}
		for _, c := range cur.Status.Conditions {
			if !owned[c.Type] {
				st.Conditions = append(st.Conditions, c)
			}
		}
		p.mu.Lock()
		st.InitContainerStatuses, st.ContainerStatuses = nil, nil
		for _, c := range p.spec.Spec.InitContainers {
			st.InitContainerStatuses = append(st.InitContainerStatuses, *p.initSt[c.Name].DeepCopy())
		}
		for _, c := range p.spec.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, *p.ctrSt[c.Name].DeepCopy())
		}
		p.mu.Unlock()
		cur.Status = st
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			p.r.cfg.Logf("podrun: %s/%s: update status: %v", p.namespace, p.name, err)
		}
		return
	}
}

// waitDeletion waits until the pod is being deleted (its containers have ended by then).
func (p *pod) waitDeletion() {
	select {
	case <-p.terminating:
	case <-p.r.ctx.Done():
	}
}

// cleanUp removes the pod's network and directory and, unless the runtime is stopping,
// the pod object (a kubelet's final delete with grace period 0).
func (p *pod) cleanUp() {
	if p.net != nil {
		p.r.cfg.Network.remove(p.net)
		p.net = nil
	}
	_ = os.RemoveAll(p.dir)
	if p.r.ctx.Err() != nil {
		return
	}
	err := p.r.cfg.Client.CoreV1().Pods(p.namespace).Delete(p.r.ctx, p.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &p.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		p.r.cfg.Logf("podrun: %s/%s: delete: %v", p.namespace, p.name, fmt.Errorf("%w", err))
	}
}

// pids lists the host PIDs of the pod's running containers.
func (p *pod) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, cr := range p.running {
		if !cr.ended() {
			pids = append(pids, cr.pid)
		}
	}
	return pids
}
