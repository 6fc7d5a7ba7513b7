package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/backup"
	"github.com/picluster/kubectl-picluster/pkg/cmd/cmdutil"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/factory"
)

// RunOptions are the options of `backup run`.
type RunOptions struct {
	Wait    bool
	Follow  bool
	Timeout time.Duration
	Force   bool
	Attach  string

	common
}

func newCmdRun(f *factory.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RunOptions{common: common{f: f, streams: streams}}
	cmd := &cobra.Command{
		Use:   "run [--wait] [--follow] [--timeout D] [--force] [--attach JOB]",
		Short: "Start a backup Job from the backup CronJob now, and follow it to its end",
		Long: `Create a Job from the backup CronJob exactly as
kubectl create job NAME --from=cronjob/CRONJOB does (the CronJob as its owner, the
annotation cronjob.kubernetes.io/instantiate=manual, a unique name) and print its
name. A Job of the CronJob that is still running is refused (exit 1, naming it),
and so is a suspended CronJob (exit 2), unless --force.

--wait waits until the Job is Complete (exit 0) or Failed (exit 1, with the
reason, the container that failed, its exit code and its last log lines).
--follow also streams the logs of its containers to stdout as they start, the
dump (init container) first, across retries, and implies --wait. --timeout
bounds the waiting (exit 124); the Job keeps running then, and so it does on
Ctrl-C (exit 130): the command to watch it again is printed.
--attach JOB waits for and follows a Job that exists already instead of
creating one.`,
		Example: cmdutil.Examples(
			"kubectl picluster backup run",
			"kubectl picluster backup run --follow --timeout 1h",
			"kubectl picluster backup run --wait --force",
		),
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunAfter(o.Run),
	}
	cmdutil.NamespaceOverrides(cmd, namespaceMeaning)
	fl := cmd.Flags()
	fl.BoolVar(&o.Wait, "wait", false, "Wait until the Job is Complete (exit 0) or Failed (exit 1)")
	fl.BoolVarP(&o.Follow, "follow", "f", false, "Stream the logs of the Job's containers until it ends (implies --wait)")
	cmdutil.DurationVarP(fl, &o.Timeout, "timeout", "", "Stop waiting after this long (exit 124; the Job keeps running); by default wait until the Job ends")
	fl.BoolVar(&o.Force, "force", false, "Start a Job even when one of the CronJob is still running")
	fl.StringVar(&o.Attach, "attach", "", "Wait for (and with --follow, follow) this existing Job instead of creating one")
	return cmd
}

// Run creates (or attaches to) the Job and, with --wait or --follow, follows it.
func (o *RunOptions) Run(ctx context.Context) error {
	c, _, err := o.client()
	if err != nil {
		return err
	}
	name := o.Attach
	if name == "" {
		job, err := c.Start(ctx, o.Force)
		if err != nil {
			if ierr := cmdutil.Interruption(ctx, fmt.Sprintf("the backup job may or may not have been created: kubectl -n %s get jobs", c.Namespace)); ierr != nil {
				return ierr
			}
			if errors.Is(err, backup.ErrAlreadyRunning) {
				return exitcode.Failed(err)
			}
			if errors.Is(err, backup.ErrSuspended) || errors.Is(err, backup.ErrSecretMissing) {
				return exitcode.BadUsage(err)
			}
			return missing(err)
		}
		name = job.Name
	} else if _, err := c.Kube.BatchV1().Jobs(c.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return exitcode.BadUsage(fmt.Errorf("--attach %s: no such job in namespace %s", name, c.Namespace))
		}
		return fmt.Errorf("get job %s/%s: %w", c.Namespace, name, err)
	}
	fmt.Fprintln(o.streams.Out, name)
	if !o.Wait && !o.Follow {
		return nil
	}
	return o.watch(ctx, c, name)
}

// watch waits for the Job's end, streaming its logs with --follow.
func (o *RunOptions) watch(ctx context.Context, c *backup.Client, name string) error {
	began := time.Now()
	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var followErr error
	if o.Follow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			followErr = c.Follow(wctx, name, o.streams.Out, done)
		}()
	}
	if isTerminal(o.streams.ErrOut) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.progress(wctx, c, name, began, done)
		}()
	}
	job, err := c.Wait(wctx, name)
	close(done)
	wg.Wait()
	if ierr := cmdutil.Interruption(ctx, fmt.Sprintf("backup job %s keeps running; watch it again with: %s", name, o.resume(name))); ierr != nil {
		return ierr
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return exitcode.TimedOut(fmt.Errorf("backup job %s did not end within %s; it keeps running; watch it again with: %s", name, o.Timeout, o.resume(name)))
		}
		return err
	}
	if followErr != nil && !errors.Is(followErr, context.Canceled) {
		fmt.Fprintf(o.streams.ErrOut, "warning: following the logs: %v\n", followErr)
	}
	result, _, _ := backup.JobResult(job)
	if result == backup.Complete {
		fmt.Fprintf(o.streams.ErrOut, "backup job %s completed in %s\n", name, jobDuration(job, began))
		return nil
	}
	f, ferr := c.Explain(ctx, job)
	if ferr != nil {
		fmt.Fprintf(o.streams.ErrOut, "warning: %v\n", ferr)
	}
	if len(f.LastLines) > 0 {
		fmt.Fprintf(o.streams.ErrOut, "last lines of container %s of pod %s:\n", f.Container, f.Pod)
		for _, l := range f.LastLines {
			fmt.Fprintf(o.streams.ErrOut, "  %s\n", l)
		}
	}
	return exitcode.Failed(f)
}

// jobDuration is the Job's own run time when it recorded one, else the time waited.
func jobDuration(j *batchv1.Job, began time.Time) time.Duration {
	if j.Status.StartTime != nil && j.Status.CompletionTime != nil {
		return j.Status.CompletionTime.Sub(j.Status.StartTime.Time)
	}
	return time.Since(began).Round(100 * time.Millisecond)
}

// resume is the command line that watches the Job again.
func (o *RunOptions) resume(name string) string {
	words := []string{"kubectl", "picluster"}
	if path, given := o.f.SettingsPath(); given {
		words = append(words, "--config", path)
	}
	if ns, ok := cmdutil.GivenNamespace(o.f.Flags()); ok {
		words = append(words, "-n", ns)
	}
	words = append(words, "backup", "run", "--attach", name)
	if o.Follow {
		words = append(words, "--follow")
	} else {
		words = append(words, "--wait")
	}
	return strings.Join(words, " ")
}

// progress shows on a terminal's stderr, once a second, the time waited and the
// phase of the Job's newest pod.
func (o *RunOptions) progress(ctx context.Context, c *backup.Client, name string, began time.Time, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			fmt.Fprint(o.streams.ErrOut, "\r\033[K")
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		phase := "no pod yet"
		if pods, err := c.Pods(ctx, name); err == nil && len(pods) > 0 {
			p := pods[len(pods)-1]
			phase = fmt.Sprintf("pod %s %s", p.Name, p.Status.Phase)
			if len(pods) > 1 {
				phase += fmt.Sprintf(" (try %d)", len(pods))
			}
		}
		fmt.Fprintf(o.streams.ErrOut, "\r\033[K%s: %s, %s", name, duration.HumanDuration(time.Since(began)), phase)
	}
}
