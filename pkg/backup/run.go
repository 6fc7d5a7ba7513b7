package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// ErrCronJobMissing is returned when the backup CronJob does not exist.
var ErrCronJobMissing = errors.New("the backup CronJob does not exist")

// ErrSuspended is returned by Start when the CronJob is suspended (on purpose,
// perhaps for maintenance).
var ErrSuspended = errors.New("the backup CronJob is suspended")

// ErrAlreadyRunning is returned by Start when a Job of the CronJob has not ended.
var ErrAlreadyRunning = errors.New("a backup Job is already running")

// Client reaches the backup CronJob and its Jobs in one namespace.
type Client struct {
	Kube      kubernetes.Interface
	Namespace string
	CronJob   string
}

// GetCronJob returns the backup CronJob; ErrCronJobMissing when there is none.
func (c *Client) GetCronJob(ctx context.Context) (*batchv1.CronJob, error) {
	cj, err := c.Kube.BatchV1().CronJobs(c.Namespace).Get(ctx, c.CronJob, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cronjob %s/%s: %w", c.Namespace, c.CronJob, ErrCronJobMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("get cronjob %s/%s: %w", c.Namespace, c.CronJob, err)
	}
	return cj, nil
}

// Jobs returns the Jobs the CronJob controls, oldest first.
func (c *Client) Jobs(ctx context.Context, cj *batchv1.CronJob) ([]batchv1.Job, error) {
	list, err := c.Kube.BatchV1().Jobs(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", c.Namespace, err)
	}
	return OwnedJobs(cj, list.Items), nil
}

// Start creates a Job from the CronJob (JobFromCronJob) and returns it. A Job of the
// CronJob that has not ended (ErrAlreadyRunning, naming it) or a suspended CronJob
// (ErrSuspended) make it refuse unless force; a Secret its pods need that does not
// exist (ErrSecretMissing) makes it refuse always (the pod would wait for it until the
// Job's deadline).
func (c *Client) Start(ctx context.Context, force bool) (*batchv1.Job, error) {
	cj, err := c.GetCronJob(ctx)
	if err != nil {
		return nil, err
	}
	if !force && cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return nil, fmt.Errorf("%w: cronjob %s/%s (--force runs it all the same)", ErrSuspended, c.Namespace, cj.Name)
	}
	if !force {
		jobs, err := c.Jobs(ctx, cj)
		if err != nil {
			return nil, err
		}
		if running := RunningJobs(jobs); len(running) > 0 {
			return nil, fmt.Errorf("%w: %s (--force starts another one)", ErrAlreadyRunning, strings.Join(running, ", "))
		}
	}
	if err := c.RequireSecrets(ctx, &cj.Spec.JobTemplate.Spec.Template.Spec); err != nil {
		return nil, err
	}
	job := JobFromCronJob(cj, JobName(cj.Name))
	created, err := c.Kube.BatchV1().Jobs(c.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create backup job from cronjob %s/%s: %w", c.Namespace, cj.Name, err)
	}
	return created, nil
}

// Wait waits until the Job is Complete or Failed and returns it, watching it through
// the API server (no polling; a watch the server closes is started again). ctx bounds
// the wait; when it ends, its cause is returned with the Job as last seen.
func (c *Client) Wait(ctx context.Context, name string) (*batchv1.Job, error) {
	jobs := c.Kube.BatchV1().Jobs(c.Namespace)
	var last *batchv1.Job
	fail := func(err error) (*batchv1.Job, error) {
		if ctx.Err() != nil {
			return last, context.Cause(ctx)
		}
		return last, fmt.Errorf("wait for job %s/%s: %w", c.Namespace, name, err)
	}
	for {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fail(err)
		}
		last = j
		if r, _, _ := JobResult(j); r != Running {
			return j, nil
		}
		w, err := jobs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: j.ResourceVersion,
		})
		if err != nil {
			return fail(err)
		}
		ended, err := untilEnded(ctx, w, &last)
		w.Stop()
		if err != nil {
			return fail(err)
		}
		if ended {
			return last, nil
		}
	}
}

// untilEnded reads the watch until the Job ends (true), the watch closes (false) or
// ctx ends; last is kept up to date.
func untilEnded(ctx context.Context, w watch.Interface, last **batchv1.Job) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return false, errors.New("the job was deleted")
			case watch.Error:
				return false, nil // e.g. a resource version too old: start again
			}
			if j, ok := ev.Object.(*batchv1.Job); ok {
				*last = j
				if r, _, _ := JobResult(j); r != Running {
					return true, nil
				}
			}
		}
	}
}

// Pods returns the Job's pods, oldest first.
func (c *Client) Pods(ctx context.Context, job string) ([]corev1.Pod, error) {
	list, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
	if err != nil {
		return nil, fmt.Errorf("list pods of job %s/%s: %w", c.Namespace, job, err)
	}
	pods := list.Items
	sort.SliceStable(pods, func(a, b int) bool {
		return pods[a].CreationTimestamp.Before(&pods[b].CreationTimestamp)
	})
	return pods, nil
}

// Failure says why a Job failed: its condition, the container that failed last and
// how, and that container's last log lines.
type Failure struct {
	Job       string   `json:"job"`
	Reason    string   `json:"reason"`
	Message   string   `json:"message,omitempty"`
	Pod       string   `json:"pod,omitempty"`
	Container string   `json:"container,omitempty"`
	ExitCode  int32    `json:"exitCode,omitempty"`
	Detail    string   `json:"detail,omitempty"`
	LastLines []string `json:"lastLines,omitempty"`
}

// Error is the failure in one line.
func (f *Failure) Error() string {
	s := fmt.Sprintf("backup job %s failed: %s", f.Job, f.Reason)
	if f.Message != "" {
		s += " (" + f.Message + ")"
	}
	if f.Container != "" {
		s += fmt.Sprintf("; container %s of pod %s exited with code %d", f.Container, f.Pod, f.ExitCode)
		if f.Detail != "" {
			s += " (" + f.Detail + ")"
		}
	}
	return s
}

// tailLines is how many log lines of the failing container a Failure holds.
const tailLines = 10

// Explain builds the Failure of a failed Job from its newest pod that has a container
// that exited non-zero (init containers first: a failed init container stops the rest).
func (c *Client) Explain(ctx context.Context, j *batchv1.Job) (*Failure, error) {
	_, reason, message := JobResult(j)
	f := &Failure{Job: j.Name, Reason: reason, Message: message}
	pods, err := c.Pods(ctx, j.Name)
	if err != nil {
		return f, err
	}
	for i := len(pods) - 1; i >= 0 && f.Container == ""; i-- {
		p := &pods[i]
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			t := st.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			f.Pod, f.Container, f.ExitCode = p.Name, st.Name, t.ExitCode
			f.Detail = t.Reason
			break
		}
	}
	if f.Container == "" {
		return f, nil
	}
	tail := int64(tailLines)
	raw, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(f.Pod, &corev1.PodLogOptions{Container: f.Container, TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return f, fmt.Errorf("read the logs of %s/%s container %s: %w", c.Namespace, f.Pod, f.Container, err)
	}
	if s := strings.TrimRight(string(raw), "\n"); s != "" {
		f.LastLines = strings.Split(s, "\n")
	}
	return f, nil
}

// podPollInterval is how often Follow looks for the Job's next pod and a container's
// start: logs can only be asked for once the container exists.
const podPollInterval = 200 * time.Millisecond

// Follow streams to w the logs of every container of the Job's pods, as each starts,
// init containers first, pod after pod across retries, each line prefixed with
// [pod/container] as `kubectl logs --prefix` does, until done is closed (the Job
// ended) and every pod's logs are read. A stream the node leaves open after its
// container ended is cut once the pod shows the container terminated.
func (c *Client) Follow(ctx context.Context, job string, w io.Writer, done <-chan struct{}) error {
	followed := map[string]bool{}
	ended := false
	for {
		select {
		case <-done:
			ended = true
		default:
		}
		pods, err := c.Pods(ctx, job)
		if err != nil {
			return err
		}
		next := ""
		for _, p := range pods {
			if !followed[p.Name] {
				next = p.Name
				break
			}
		}
		if next == "" {
			if ended {
				return nil
			}
			if err := sleep(ctx, done, podPollInterval); err != nil {
				return err
			}
			continue
		}
		followed[next] = true
		if err := c.followPod(ctx, next, w); err != nil {
			return err
		}
	}
}

// followPod streams the pod's containers in order as each starts, and skips those
// that never will (the pod ended first).
func (c *Client) followPod(ctx context.Context, name string, w io.Writer) error {
	pods := c.Kube.CoreV1().Pods(c.Namespace)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod %s/%s: %w", c.Namespace, name, err)
	}
	var names []string
	for _, ct := range p.Spec.InitContainers {
		names = append(names, ct.Name)
	}
	for _, ct := range p.Spec.Containers {
		names = append(names, ct.Name)
	}
	for _, container := range names {
		started := false
		for {
			p, err = pods.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("get pod %s/%s: %w", c.Namespace, name, err)
			}
			st := containerStatus(p, container)
			if st != nil && (st.State.Running != nil || st.State.Terminated != nil) {
				started = true
				break
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				break
			}
			if err := sleep(ctx, nil, podPollInterval); err != nil {
				return err
			}
		}
		if !started {
			continue
		}
		if err := c.streamContainer(ctx, name, container, w); err != nil {
			return err
		}
	}
	return nil
}

// streamContainer copies one container's logs, following, until the stream ends or
// the pod shows the container terminated (then what is left of the stream is read
// for a moment longer).
func (c *Client) streamContainer(ctx context.Context, pod, container string, w io.Writer) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true}).Stream(sctx)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("follow the logs of %s/%s container %s: %w", c.Namespace, pod, container, err)
	}
	defer stream.Close()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		prefixLines(w, stream, "["+"pod/"+pod+"/"+container+"] ")
	}()
	watchdog := time.NewTicker(time.Second)
	defer watchdog.Stop()
	var terminatedAt time.Time
	for {
		select {
		case <-finished:
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return nil
		case <-ctx.Done():
			cancel()
			<-finished
			return context.Cause(ctx)
		case <-watchdog.C:
			if !terminatedAt.IsZero() {
				if time.Since(terminatedAt) > 2*time.Second {
					cancel()
				}
				continue
			}
			p, err := c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, pod, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				cancel()
				continue
			}
			if err == nil {
				if st := containerStatus(p, container); st != nil && st.State.Terminated != nil {
					terminatedAt = time.Now()
				}
			}
		}
	}
}

// prefixLines copies r to w line by line, each line behind prefix.
func prefixLines(w io.Writer, r io.Reader, prefix string) {
	buf := make([]byte, 32*1024)
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			fmt.Fprintf(w, "%s%s\n", prefix, pending[:i])
			pending = pending[i+1:]
		}
		if err != nil {
			if len(pending) > 0 {
				fmt.Fprintf(w, "%s%s\n", prefix, pending)
			}
			return
		}
	}
}

// containerStatus returns the status of the named (init) container, or nil.
func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// sleep waits d, or until ctx ends (its cause returned) or done is closed.
func sleep(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}
