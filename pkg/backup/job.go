// Package backup triggers, follows and reports the Postgres backups: Jobs from the
// backup CronJob as `kubectl create job --from=cronjob/NAME` makes them, their logs and
// results, and the CronJob's status. It is handed its Kubernetes client; it knows
// nothing of flags or commands.
package backup

import (
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// InstantiateAnnotation marks a Job made by hand from a CronJob; kubectl sets it to
// "manual" (k8s.io/kubectl pkg/cmd/create/create_job.go, createJobFromCronJob).
const InstantiateAnnotation = "cronjob.kubernetes.io/instantiate"

// maxNameLength keeps a Job's name usable as the value of its pods' job-name label.
const maxNameLength = 63

// JobName returns a fresh name for a manual Job of the CronJob: its name, "-manual-"
// and a random suffix, cut so that the whole stays a valid label value.
func JobName(cronJob string) string {
	suffix := "-manual-" + utilrand.String(5)
	if len(cronJob) > maxNameLength-len(suffix) {
		cronJob = cronJob[:maxNameLength-len(suffix)]
	}
	return cronJob + suffix
}

// JobFromCronJob returns the Job that `kubectl create job NAME --from=cronjob/CJ`
// creates: the job template's labels, annotations and spec, the annotation
// cronjob.kubernetes.io/instantiate=manual, and the CronJob as controlling owner
// (without blockOwnerDeletion, which would need the cronjobs/finalizers permission).
func JobFromCronJob(cj *batchv1.CronJob, name string) *batchv1.Job {
	annotations := map[string]string{InstantiateAnnotation: "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Annotations: annotations,
			Labels:      cj.Spec.JobTemplate.Labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: batchv1.SchemeGroupVersion.String(),
				Kind:       "CronJob",
				Name:       cj.Name,
				UID:        cj.UID,
				Controller: ptr.To(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
}

// OwnedJobs returns the Jobs among jobs whose controller is the CronJob, oldest first.
func OwnedJobs(cj *batchv1.CronJob, jobs []batchv1.Job) []batchv1.Job {
	var out []batchv1.Job
	for _, j := range jobs {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		return out[a].CreationTimestamp.Before(&out[b].CreationTimestamp)
	})
	return out
}

// Result is how a Job ended, or that it has not.
type Result string

// The results of a Job.
const (
	Running  Result = "Running"
	Complete Result = "Complete"
	Failed   Result = "Failed"
)

// JobResult returns the Job's result and, when it failed, the condition's reason and
// message.
func JobResult(j *batchv1.Job) (Result, string, string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return Complete, c.Reason, c.Message
		case batchv1.JobFailed:
			return Failed, c.Reason, c.Message
		}
	}
	return Running, "", ""
}

// RunningJobs returns the names of the Jobs among jobs that have not ended.
func RunningJobs(jobs []batchv1.Job) []string {
	var names []string
	for i := range jobs {
		if r, _, _ := JobResult(&jobs[i]); r == Running {
			names = append(names, jobs[i].Name)
		}
	}
	return names
}
