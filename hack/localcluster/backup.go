package main

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

const roleBackup = "backup"

// jobFromCronJob builds the Job that `kubectl create job NAME --from=cronjob/CJ`
// creates: the CronJob's job template, marked as a manual run and owned by the
// CronJob, so the CronJob controller counts it.
func jobFromCronJob(cj *batchv1.CronJob, name string) *batchv1.Job {
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	maps.Copy(annotations, cj.Spec.JobTemplate.Annotations)
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace,
			Annotations: annotations,
			Labels:      maps.Clone(cj.Spec.JobTemplate.Labels),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
}

// playBackup runs the backup CronJob once when it has never succeeded: a Job from the
// CronJob, whose pod really runs backup.sh (pg_dump of the bed's Postgres, rsync to the
// bed's NAS) when its images are the bed's (internal/testbed/podrun; with the demo's
// settings they are) and is simulated by kwok otherwise; the real Job controller marks
// it Complete and the real CronJob controller records lastSuccessfulTime, which
// kube-state-metrics then exports.
func (si *standIns) playBackup(ctx context.Context, log *passLog) error {
	ns, name := si.settings.Namespaces.Backup, si.settings.Backup.CronJob
	cjs := si.kube.BatchV1().CronJobs(ns)
	cj, err := cjs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		log.saw(roleBackup, "no CronJob %s/%s: nothing to run (install it first)", ns, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read CronJob %s/%s: %w", ns, name, err)
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		log.saw(roleBackup, "CronJob %s/%s last succeeded %s ago: no new backup", ns, name, time.Since(t.Time).Round(time.Second))
		return nil
	}
	job, err := si.unfinishedJob(ctx, cj)
	if err != nil {
		return err
	}
	began := time.Now()
	if job == nil {
		job = jobFromCronJob(cj, name+"-manual-"+strconv.FormatInt(time.Now().Unix(), 10))
		if job, err = si.kube.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create a Job from CronJob %s/%s: %w", ns, name, err)
		}
		log.did(roleBackup, "Job %s created from CronJob %s/%s (kubectl create job --from=cronjob/%s)", ref(job), ns, name, name)
	} else {
		log.did(roleBackup, "Job %s of CronJob %s/%s is running: waiting for it", ref(job), ns, name)
	}
	final, err := si.waitJobFinished(ctx, job)
	if err != nil {
		return err
	}
	if final != batchv1.JobComplete {
		return fmt.Errorf("backup Job %s failed: see kubectl -n %s describe job %s", ref(job), ns, job.Name)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = proc.WaitFor(wctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		cj, err = cjs.Get(ctx, name, metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the CronJob controller to record the success of Job %s: %w", ref(job), err)
	}
	log.did(roleBackup, "Job %s Complete after %s; the CronJob controller recorded lastSuccessfulTime %s",
		ref(job), time.Since(began).Round(100*time.Millisecond), cj.Status.LastSuccessfulTime.UTC().Format(time.RFC3339))
	return nil
}

// unfinishedJob returns a Job of the CronJob that has not finished, if any.
func (si *standIns) unfinishedJob(ctx context.Context, cj *batchv1.CronJob) (*batchv1.Job, error) {
	jobs, err := si.kube.BatchV1().Jobs(cj.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the Jobs in %s: %w", cj.Namespace, err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if metav1.IsControlledBy(j, cj) && finished(j) == "" {
			return j, nil
		}
	}
	return nil, nil
}

// finished returns JobComplete or JobFailed once the Job ended, else "".
func finished(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.Type
		}
	}
	return ""
}

// waitJobFinished waits (at most two minutes) until the Job completes or fails.
func (si *standIns) waitJobFinished(ctx context.Context, job *batchv1.Job) (batchv1.JobConditionType, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var final batchv1.JobConditionType
	err := proc.WaitFor(ctx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		j, err := si.kube.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		final = finished(j)
		return final != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("wait for Job %s to finish: %w", ref(job), err)
	}
	return final, nil
}
