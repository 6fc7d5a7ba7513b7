package backup

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// Status is what the backup CronJob and its Jobs say about the backups.
type Status struct {
	CronJob   string `json:"cronJob"`
	Namespace string `json:"namespace"`
	Schedule  string `json:"schedule"`
	// TimeZone is the CronJob's spec.timeZone; empty means the controller's zone.
	TimeZone  string `json:"timeZone,omitempty"`
	Suspended bool   `json:"suspended"`
	// NextRun is the next scheduled run, in the CronJob's time zone (none while suspended).
	NextRun      *time.Time `json:"nextRun,omitempty"`
	LastSchedule *time.Time `json:"lastSchedule,omitempty"`
	// LastSuccess is the newest success, scheduled or manual.
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	// LastSuccessAge is how long ago LastSuccess was, in seconds.
	LastSuccessAge *int64 `json:"lastSuccessAgeSeconds,omitempty"`
	// MaxAge is the age past which the backup is stale, in seconds.
	MaxAge  int64      `json:"maxAgeSeconds"`
	LastJob *JobStatus `json:"lastJob,omitempty"`
	// NewestDump is the dump the newest successful Job wrote, when known (read from its
	// pod's log while the CronJob keeps that pod: successfulJobsHistoryLimit).
	NewestDump string `json:"newestDump,omitempty"`
	// Problems say why the backup is not healthy (exit 1); empty when it is.
	Problems []string `json:"problems"`
}

// JobStatus is one Job of the CronJob.
type JobStatus struct {
	Name     string     `json:"name"`
	Manual   bool       `json:"manual"`
	Result   Result     `json:"result"`
	Reason   string     `json:"reason,omitempty"`
	Message  string     `json:"message,omitempty"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
}

// Healthy tells whether the status shows no problem.
func (s *Status) Healthy() bool { return len(s.Problems) == 0 }

// StatusFrom builds the Status of the CronJob from its Jobs (OwnedJobs, oldest first)
// at now; maxAge is the age past which the last success is stale. A CronJob younger
// than maxAge that has not succeeded yet is not stale.
func StatusFrom(cj *batchv1.CronJob, jobs []batchv1.Job, now time.Time, maxAge time.Duration) *Status {
	s := &Status{
		CronJob: cj.Name, Namespace: cj.Namespace, Schedule: cj.Spec.Schedule,
		Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend,
		MaxAge:    int64(maxAge / time.Second), Problems: []string{},
	}
	if cj.Spec.TimeZone != nil {
		s.TimeZone = *cj.Spec.TimeZone
	}
	if !s.Suspended {
		if next, err := NextRun(cj.Spec.Schedule, s.TimeZone, now); err == nil {
			s.NextRun = &next
		}
	}
	if t := cj.Status.LastScheduleTime; t != nil {
		s.LastSchedule = utc(t.Time)
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		s.LastSuccess = utc(t.Time)
	}
	for i := range jobs {
		j := &jobs[i]
		r, _, _ := JobResult(j)
		if r == Complete && j.Status.CompletionTime != nil && (s.LastSuccess == nil || j.Status.CompletionTime.After(*s.LastSuccess)) {
			s.LastSuccess = utc(j.Status.CompletionTime.Time)
		}
	}
	if n := len(jobs); n > 0 {
		j := &jobs[n-1]
		r, reason, message := JobResult(j)
		js := &JobStatus{Name: j.Name, Manual: j.Annotations[InstantiateAnnotation] == "manual", Result: r, Reason: reason}
		if r == Failed {
			js.Message = message
		}
		if j.Status.StartTime != nil {
			js.Started = utc(j.Status.StartTime.Time)
		}
		if j.Status.CompletionTime != nil {
			js.Finished = utc(j.Status.CompletionTime.Time)
		} else if r == Failed {
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobFailed {
					js.Finished = utc(c.LastTransitionTime.Time)
				}
			}
		}
		s.LastJob = js
		if r == Failed {
			p := fmt.Sprintf("the last backup job %s failed: %s", j.Name, reason)
			if message != "" {
				p += " (" + message + ")"
			}
			s.Problems = append(s.Problems, p)
		}
	}
	switch {
	case s.LastSuccess != nil:
		age := now.Sub(*s.LastSuccess)
		secs := int64(age / time.Second)
		s.LastSuccessAge = &secs
		if age > maxAge {
			s.Problems = append(s.Problems, fmt.Sprintf("the last successful backup is %s old, more than the allowed %s", duration.HumanDuration(age), duration.HumanDuration(maxAge)))
		}
	case now.Sub(cj.CreationTimestamp.Time) > maxAge:
		s.Problems = append(s.Problems, fmt.Sprintf("no successful backup on record, and the CronJob is %s old, more than the allowed %s", duration.HumanDuration(now.Sub(cj.CreationTimestamp.Time)), duration.HumanDuration(maxAge)))
	}
	return s
}

// NextRun returns the schedule's next time after now, read in the time zone tz
// (an IANA name; empty: UTC, as the controller of a k3s node usually runs).
func NextRun(schedule, tz string, now time.Time) (time.Time, error) {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse schedule %q: %w", schedule, err)
	}
	loc := time.UTC
	if tz != "" {
		if loc, err = time.LoadLocation(tz); err != nil {
			return time.Time{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
	}
	return sched.Next(now.In(loc)), nil
}

func utc(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

// PrintStatus writes the status as one row of a table, as kubectl get cronjob does;
// -o wide (on w) adds the time zone, the last schedule and the last job's reason.
func PrintStatus(w io.Writer, s *Status, now time.Time) error {
	header := []string{"NAME", "SCHEDULE", "SUSPEND", "NEXT RUN", "LAST SUCCESS", "LAST JOB", "RESULT"}
	next := "-"
	if s.NextRun != nil {
		next = s.NextRun.Format("2006-01-02 15:04 MST")
		if loc, err := time.LoadLocation(s.TimeZone); err == nil && s.TimeZone != "" {
			next = s.NextRun.In(loc).Format("2006-01-02 15:04 MST")
		}
		next += " (in " + duration.HumanDuration(s.NextRun.Sub(now)) + ")"
	}
	last := "never"
	if s.LastSuccess != nil {
		last = duration.HumanDuration(now.Sub(*s.LastSuccess)) + " ago"
	}
	job, result, reason := "-", "-", ""
	if s.LastJob != nil {
		job, result, reason = s.LastJob.Name, string(s.LastJob.Result), s.LastJob.Reason
		if s.LastJob.Result == Failed && reason != "" {
			result += " (" + reason + ")"
		}
	}
	newest := s.NewestDump
	if newest == "" {
		newest = "-"
	}
	row := []string{s.CronJob, s.Schedule, strconv.FormatBool(s.Suspended), next, last, job, result}
	if output.IsWide(w) {
		tz := s.TimeZone
		if tz == "" {
			tz = "-"
		}
		sched := "-"
		if s.LastSchedule != nil {
			sched = duration.HumanDuration(now.Sub(*s.LastSchedule)) + " ago"
		}
		msg := "-"
		if s.LastJob != nil && s.LastJob.Message != "" {
			msg = s.LastJob.Message
		}
		header = append(header, "TIME ZONE", "LAST SCHEDULE", "NEWEST DUMP", "MESSAGE")
		row = append(row, tz, sched, newest, msg)
	}
	return output.PrintTable(w, header, [][]string{row})
}

// dumpedLine is the line backup.sh's dump step prints for the dump it wrote.
var dumpedLine = regexp.MustCompile(`backup: dumped (\S+\.pgdump):`)

// NewestDump reads the name of the dump the newest successful Job of jobs wrote from its
// pod's dump log; "" when no such pod or line is left (not an error: "when known").
func (c *Client) NewestDump(ctx context.Context, jobs []batchv1.Job) string {
	var newest *batchv1.Job
	for i := range jobs {
		j := &jobs[i]
		if j.Status.CompletionTime == nil || j.Status.Succeeded == 0 {
			continue
		}
		if newest == nil || j.Status.CompletionTime.After(newest.Status.CompletionTime.Time) {
			newest = j
		}
	}
	if newest == nil {
		return ""
	}
	pods, err := c.Pods(ctx, newest.Name)
	if err != nil {
		return ""
	}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded {
			continue
		}
		data, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: DumpContainer}).DoRaw(ctx)
		if err != nil {
			continue
		}
		if m := dumpedLine.FindSubmatch(data); m != nil {
			return string(m[1])
		}
	}
	return ""
}
