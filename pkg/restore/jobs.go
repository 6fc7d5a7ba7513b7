package restore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/pkg/backup"
)

// RestorePointLabel is the label of the restore points' dumps on the NAS
// (<database>-restorepoint-<time>.pgdump): backup.sh keeps their names, listing and
// retention apart from the backups'.
const RestorePointLabel = "restorepoint"

// IDLabel marks the Jobs of one restore or drill.
const IDLabel = "picluster.io/restore-id"

// The exit codes of restore.sh (manifests/scripts/restore.sh).
const (
	exitUnreadable       = 3
	exitMissingExtension = 4
	exitNoServer         = 5
	exitRestoreFailed    = 6
	exitDiffers          = 7
)

// restoreScript is where the backup CronJob's script volume puts restore.sh.
const restoreScript = "/opt/backup/restore.sh"

// dumpLabel returns the NAS label of a dump name of database db: "restorepoint" for a
// restore point, "" for a backup.
func dumpLabel(db, name string) string {
	if strings.HasPrefix(name, db+"-"+RestorePointLabel+"-") {
		return RestorePointLabel
	}
	return ""
}

// withEnv returns c with the variables set (replacing ones of the same name).
func withEnv(c corev1.Container, vars ...corev1.EnvVar) corev1.Container {
	for _, v := range vars {
		replaced := false
		for i := range c.Env {
			if c.Env[i].Name == v.Name {
				c.Env[i], replaced = v, true
			}
		}
		if !replaced {
			c.Env = append(c.Env, v)
		}
	}
	return c
}

// fetchContainer downloads dump name (or latest) of label into /work and checks its
// sha256: backup.sh fetch in the upload container (rsync + ssh, the NAS's key).
func fetchContainer(cj *batchv1.CronJob, name, label string) (corev1.Container, error) {
	c, err := backup.TemplateContainer(cj, backup.UploadContainer)
	if err != nil {
		return c, err
	}
	c.Name = "fetch"
	c.Command = []string{"/bin/sh", "/opt/backup/backup.sh", "fetch", name}
	c.Args = nil
	if label != "" {
		c = withEnv(c, corev1.EnvVar{Name: "BACKUP_LABEL", Value: label})
	}
	return c, nil
}

// scriptContainer runs restore.sh MODE on the fetched dump in the dump container
// (the Postgres tools, the database's address and password).
func scriptContainer(cj *batchv1.CronJob, name, mode string, jobs int) (corev1.Container, error) {
	c, err := backup.TemplateContainer(cj, backup.DumpContainer)
	if err != nil {
		return c, err
	}
	c.Name = name
	// the one dump fetch wrote into /work
	c.Command = []string{"/bin/sh", "-c", `set -- /work/*.pgdump; [ -f "$1" ] || { echo "restore: no dump fetched" >&2; exit 1; }; echo "; File: ${1##*/} $(wc -c <"$1")"; exec /bin/sh ` + restoreScript + ` ` + mode + ` "$1"`}
	c.Args = nil
	if jobs > 0 {
		c = withEnv(c, corev1.EnvVar{Name: "RESTORE_JOBS", Value: strconv.Itoa(jobs)})
	}
	return c, nil
}

// scriptJob is a Job that fetches dump name and runs restore.sh mode on it, with env
// added to the script's.
func scriptJob(cj *batchv1.CronJob, id, purpose, name, label, mode string, jobs int, deadline time.Duration, env ...corev1.EnvVar) (*batchv1.Job, error) {
	fetch, err := fetchContainer(cj, name, label)
	if err != nil {
		return nil, err
	}
	run, err := scriptContainer(cj, purpose, mode, jobs)
	if err != nil {
		return nil, err
	}
	run = withEnv(run, env...)
	j := backup.ToolJob(cj, purpose, []corev1.Container{fetch}, []corev1.Container{run})
	limit(j, id, deadline)
	return j, nil
}

// dumpRows gives restore.sh the dump's tables and rows that preflight counted in the
// same file (RESTORE_DUMP_ROWS, RESTORE_DUMP_SIZE), so that the restore does not read
// the whole data section a second time.
func dumpRows(tables map[string]int64, size int64) []corev1.EnvVar {
	var b strings.Builder
	for _, t := range sortedKeys(tables) {
		fmt.Fprintf(&b, "%d %s\n", tables[t], t)
	}
	env := []corev1.EnvVar{{Name: "RESTORE_DUMP_ROWS", Value: b.String()}}
	if size > 0 {
		env = append(env, corev1.EnvVar{Name: "RESTORE_DUMP_SIZE", Value: strconv.FormatInt(size, 10)})
	}
	return env
}

// restorePointJob dumps the live database and uploads it as a restore point: the
// CronJob's own dump and upload containers, with BACKUP_LABEL=restorepoint.
func restorePointJob(cj *batchv1.CronJob, id string, deadline time.Duration) (*batchv1.Job, error) {
	label := corev1.EnvVar{Name: "BACKUP_LABEL", Value: RestorePointLabel}
	dump, err := backup.TemplateContainer(cj, backup.DumpContainer)
	if err != nil {
		return nil, err
	}
	up, err := backup.TemplateContainer(cj, backup.UploadContainer)
	if err != nil {
		return nil, err
	}
	j := backup.ToolJob(cj, "restore-point", []corev1.Container{withEnv(dump, label)}, []corev1.Container{withEnv(up, label)})
	limit(j, id, deadline)
	return j, nil
}

// limit gives a restore's Job its deadline, its restore ID and a day of life after it
// ended (Resume may still read it).
func limit(j *batchv1.Job, id string, deadline time.Duration) {
	j.Labels[IDLabel] = id
	j.Spec.Template.Labels[IDLabel] = id
	j.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	j.Spec.TTLSecondsAfterFinished = ptr.To(int32(24 * 3600))
}

// JobError is a restore Job that failed: the script's exit code and its last lines.
type JobError struct {
	*backup.Failure
	// Log is the whole log of the container that failed.
	Log string
}

func (e *JobError) Error() string { return e.Failure.Error() }

// Unwrap returns the Failure.
func (e *JobError) Unwrap() error { return e.Failure }

// runJob creates job (or, when a Job of that name exists, adopts it: a resumed
// restore), waits for it and returns the whole log of container and the pod that ran
// it. A Job that failed is a *JobError. The Job is deleted afterwards, also when ctx
// ends (an interrupt stops its pod).
func (r *Restorer) runJob(ctx context.Context, job *batchv1.Job, container string, started func(name string) error) (string, *corev1.Pod, error) {
	b := r.Backup
	jobs := b.Kube.BatchV1().Jobs(b.Namespace)
	if err := b.RequireSecrets(ctx, &job.Spec.Template.Spec); err != nil {
		return "", nil, err
	}
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = jobs.Get(ctx, job.Name, metav1.GetOptions{})
	}
	if err != nil {
		return "", nil, fmt.Errorf("create job %s/%s: %w", b.Namespace, job.Name, err)
	}
	defer r.deleteJob(ctx, created.Name)
	if started != nil {
		if err := started(created.Name); err != nil {
			return "", nil, err
		}
	}
	return r.waitJob(ctx, created.Name, container)
}

// waitJob waits for the Job and returns container's log and pod (a *JobError when it
// failed).
func (r *Restorer) waitJob(ctx context.Context, name, container string) (string, *corev1.Pod, error) {
	b := r.Backup
	done, err := b.Wait(ctx, name)
	if err != nil {
		return "", nil, err
	}
	if res, _, _ := backup.JobResult(done); res == backup.Failed {
		f, ferr := b.Explain(ctx, done)
		if ferr != nil {
			return "", nil, fmt.Errorf("%v (%w)", f, ferr)
		}
		log := ""
		if f.Pod != "" {
			log, _ = r.logs(ctx, f.Pod, f.Container)
		}
		return "", nil, &JobError{Failure: f, Log: log}
	}
	pods, err := b.Pods(ctx, name)
	if err != nil || len(pods) == 0 {
		return "", nil, fmt.Errorf("job %s/%s completed without a pod to read: %v", b.Namespace, name, err)
	}
	pod := &pods[len(pods)-1]
	log, err := r.logs(ctx, pod.Name, container)
	return log, pod, err
}

// ranFor is how long the pod's (init) container name ran, to the second of its status;
// ok is false when its status does not say.
func ranFor(pod *corev1.Pod, name string) (took time.Duration, ok bool) {
	if pod == nil {
		return 0, false
	}
	for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if t := s.State.Terminated; s.Name == name && t != nil && !t.StartedAt.IsZero() {
			return t.FinishedAt.Sub(t.StartedAt.Time), true
		}
	}
	return 0, false
}

func (r *Restorer) logs(ctx context.Context, pod, container string) (string, error) {
	b := r.Backup
	raw, err := b.Kube.CoreV1().Pods(b.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("read the logs of %s/%s container %s: %w", b.Namespace, pod, container, err)
	}
	return string(raw), nil
}

func (r *Restorer) deleteJob(ctx context.Context, name string) {
	b := r.Backup
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = b.Kube.BatchV1().Jobs(b.Namespace).Delete(dctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
}

// exitCode is the script's exit code of a failed Job (0 when err is none of those).
func exitCode(err error) int32 {
	var je *JobError
	if errors.As(err, &je) {
		return je.ExitCode
	}
	return 0
}

// Inspection is what preflight read from a dump and the server (restore.sh inspect).
type Inspection struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Server string `json:"server"`
	// Extensions the dump needs; Missing those the server lacks.
	Extensions []string `json:"extensions"`
	Missing    []string `json:"missing,omitempty"`
	// Tables with data, with their rows in the dump.
	Tables map[string]int64 `json:"tables"`
}

var fileLine = regexp.MustCompile(`^; File: (\S+) (\d+)$`)

// ParseInspect reads restore.sh inspect's output (after the "; File: NAME SIZE" line);
// ok is false without its closing "inspect: ok".
func ParseInspect(out string) (in *Inspection, ok bool) {
	in = &Inspection{Tables: map[string]int64{}, Extensions: []string{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if m := fileLine.FindStringSubmatch(line); m != nil {
			in.Name = m[1]
			in.Size, _ = strconv.ParseInt(m[2], 10, 64)
			continue
		}
		f := strings.Fields(line)
		switch {
		case line == "inspect: ok":
			ok = true
		case len(f) >= 2 && f[0] == "server":
			in.Server = strings.Join(f[1:], " ")
		case len(f) == 3 && f[0] == "extension":
			in.Extensions = append(in.Extensions, f[1])
			if f[2] == "missing" {
				in.Missing = append(in.Missing, f[1])
			}
		case len(f) >= 3 && f[0] == "table":
			// the name as SQL writes it (quoted where it must be), the rows last
			if n, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil {
				in.Tables[strings.Join(f[1:len(f)-1], " ")] = n
			}
		}
	}
	return in, ok
}

// TableCheck is one table of a restore's verification.
type TableCheck struct {
	Table    string `json:"table"`
	Dump     int64  `json:"dump"`
	Restored int64  `json:"restored"`
	// Result is ok, differs or missing.
	Result string `json:"result"`
}

var verifyLine = regexp.MustCompile(`^verify (.+) dump=(\d+) restored=(\d+|-) (ok|differs|missing)$`)

// ParseVerify reads the verification lines of restore.sh restore|drill; ok is true
// with its closing "verify: ok N tables".
func ParseVerify(out string) (checks []TableCheck, ok bool) {
	checks = []TableCheck{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "verify: ok ") {
			ok = true
			continue
		}
		m := verifyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		d, _ := strconv.ParseInt(m[2], 10, 64)
		r, _ := strconv.ParseInt(m[3], 10, 64)
		checks = append(checks, TableCheck{Table: m[1], Dump: d, Restored: r, Result: m[4]})
	}
	return checks, ok
}

// Differences are the checks that are not ok.
func Differences(checks []TableCheck) []TableCheck {
	var out []TableCheck
	for _, c := range checks {
		if c.Result != "ok" {
			out = append(out, c)
		}
	}
	return out
}

// dumpedLine is the line backup.sh's dump step prints for the dump it wrote.
var dumpedLine = regexp.MustCompile(`backup: dumped (\S+\.pgdump):`)
