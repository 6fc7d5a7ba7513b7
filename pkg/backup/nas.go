package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// The containers of the CronJob's pod template that the short-lived Jobs reuse: the
// Postgres tools (init container dump) and rsync + ssh with the NAS's key (upload).
const (
	DumpContainer   = "dump"
	UploadContainer = "upload"
)

// ComponentLabel tells the short-lived Jobs (list, verify) apart from backups.
const ComponentLabel = "app.kubernetes.io/component"

// toolDeadline bounds a short-lived Job on the server, whatever happens to its caller.
const toolDeadline = 300

// ToolJob returns a short-lived Job that runs containers (and initContainers) with
// the CronJob's pod template around them: its volumes (the script, the SSH Secret,
// the scratch folders), security context and images. It is not owned by the
// CronJob (so it never counts as a backup), is never retried, and the server
// removes it after toolDeadline at the latest.
func ToolJob(cj *batchv1.CronJob, purpose string, initContainers, containers []corev1.Container) *batchv1.Job {
	tpl := cj.Spec.JobTemplate.Spec.Template.DeepCopy()
	tpl.Spec.InitContainers = initContainers
	tpl.Spec.Containers = containers
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	labels := map[string]string{"app.kubernetes.io/name": cj.Name, ComponentLabel: "backup-" + purpose}
	tpl.Labels = labels
	suffix, prefix := "-"+purpose+"-"+utilrand.String(5), cj.Name
	if len(prefix)+len(suffix) > maxNameLength {
		prefix = prefix[:maxNameLength-len(suffix)]
	}
	name := prefix + suffix
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cj.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To[int64](toolDeadline),
			TTLSecondsAfterFinished: ptr.To[int32](toolDeadline),
			Template:                *tpl,
		},
	}
}

// TemplateContainer returns a copy of the CronJob template's (init) container name.
func TemplateContainer(cj *batchv1.CronJob, name string) (corev1.Container, error) {
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if c.Name == name {
			return *c.DeepCopy(), nil
		}
	}
	return corev1.Container{}, fmt.Errorf("cronjob %s/%s has no container %s: reinstall it with kubectl picluster install --component backup", cj.Namespace, cj.Name, name)
}

// runTool creates the Job, waits for it and returns the logs of container; the Job
// is deleted afterwards whatever happens (also when ctx ended).
func (c *Client) runTool(ctx context.Context, job *batchv1.Job, container string) (string, error) {
	if err := c.RequireSecrets(ctx, &job.Spec.Template.Spec); err != nil {
		return "", err
	}
	created, err := c.Kube.BatchV1().Jobs(c.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create job %s/%s: %w", c.Namespace, job.Name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.Kube.BatchV1().Jobs(c.Namespace).Delete(dctx, created.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	}()
	done, err := c.Wait(ctx, created.Name)
	if err != nil {
		return "", err
	}
	if r, _, _ := JobResult(done); r == Failed {
		f, ferr := c.Explain(ctx, done)
		if ferr != nil {
			return "", fmt.Errorf("%v (%w)", f, ferr)
		}
		return "", f
	}
	pods, err := c.Pods(ctx, created.Name)
	if err != nil || len(pods) == 0 {
		return "", fmt.Errorf("job %s/%s completed without a pod to read: %v", c.Namespace, created.Name, err)
	}
	raw, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(pods[len(pods)-1].Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("read the logs of job %s/%s: %w", c.Namespace, created.Name, err)
	}
	return string(raw), nil
}

// ErrSecretMissing is returned when a Secret the backup's pods need does not exist:
// their pods would wait for it for ever.
var ErrSecretMissing = errors.New("a Secret the backup needs is missing")

// RequireSecrets checks that every Secret the pod spec mounts or reads exists, before
// a Job is created whose pod would otherwise wait for it. The operators' role may not
// read Secrets (rbac/10-clusterrole.yaml): a refused read skips the check, it does not
// fail the command.
func (c *Client) RequireSecrets(ctx context.Context, spec *corev1.PodSpec) error {
	names := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.Secret != nil && (v.Secret.Optional == nil || !*v.Secret.Optional) {
			names[v.Secret.SecretName] = true
		}
	}
	for _, ct := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range ct.Env {
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && (r.SecretKeyRef.Optional == nil || !*r.SecretKeyRef.Optional) {
				names[r.SecretKeyRef.Name] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		_, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsForbidden(err) {
			continue
		}
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: secret %s/%s does not exist (External Secrets syncs it: kubectl -n %s get externalsecrets)", ErrSecretMissing, c.Namespace, name, c.Namespace)
		}
		if err != nil {
			return fmt.Errorf("get secret %s/%s: %w", c.Namespace, name, err)
		}
	}
	return nil
}

// Dump is one dump on the NAS.
type Dump struct {
	Name string `json:"name"`
	// Size is in bytes.
	Size int64 `json:"size"`
	// Time is when the dump was made (from its name, UTC).
	Time time.Time `json:"time"`
	// Checksum tells whether its .sha256 is beside it (the mark of a complete upload).
	Checksum bool `json:"checksum"`
}

// List returns the dumps of the database on the NAS, newest first, through a
// short-lived Job that runs `rsync --list-only` with the CronJob's upload image and SSH
// Secret (an rsync-only account is enough).
func (c *Client) List(ctx context.Context) ([]Dump, error) {
	cj, err := c.GetCronJob(ctx)
	if err != nil {
		return nil, err
	}
	up, err := TemplateContainer(cj, UploadContainer)
	if err != nil {
		return nil, err
	}
	db := envValue(up, "PGDATABASE")
	up.Name = "list"
	up.Command = []string{"/bin/sh", "-c", `exec rsync --rsh="$BACKUP_RSYNC_RSH" --list-only --dirs --no-human-readable "$BACKUP_TARGET/"`}
	up.Args = nil
	out, err := c.runTool(ctx, ToolJob(cj, "list", nil, []corev1.Container{up}), up.Name)
	if err != nil {
		return nil, fmt.Errorf("list the dumps on the NAS: %w", err)
	}
	dumps, ok := ParseListing(out, db)
	if !ok {
		return nil, fmt.Errorf("list the dumps on the NAS: the list Job printed no rsync listing of the folder")
	}
	return dumps, nil
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// ParseListing reads `rsync --list-only` output (perms size date time name) and
// returns the dumps of database db, newest first: <db>-<YYYYMMDDTHHMMSSZ>.pgdump, with
// whether their .sha256 is there. Checksums without their dump are left out. ok is
// false when the listing lacks the folder itself (".": rsync always lists it), so that
// output that is no listing is not taken for an empty folder.
func ParseListing(listing, db string) (dumps []Dump, ok bool) {
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(db) + `-(\d{8}T\d{6}Z)\.pgdump(\.sha256)?$`)
	found := map[string]*Dump{}
	sums := map[string]bool{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && strings.HasPrefix(f[0], "d") && f[4] == "." {
			ok = true
		}
		if len(f) != 5 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		m := pattern.FindStringSubmatch(f[4])
		if m == nil {
			continue
		}
		if m[2] != "" {
			sums[strings.TrimSuffix(f[4], ".sha256")] = true
			continue
		}
		size, _ := strconv.ParseInt(strings.ReplaceAll(f[1], ",", ""), 10, 64)
		t, _ := time.Parse("20060102T150405Z", m[1])
		found[f[4]] = &Dump{Name: f[4], Size: size, Time: t}
	}
	dumps = []Dump{}
	for name, d := range found {
		d.Checksum = sums[name]
		dumps = append(dumps, *d)
	}
	sort.Slice(dumps, func(a, b int) bool { return dumps[a].Name > dumps[b].Name })
	return dumps, ok
}

// PrintDumps writes the dumps as a table.
func PrintDumps(w io.Writer, dumps []Dump) error {
	rows := make([][]string, 0, len(dumps))
	for _, d := range dumps {
		sum := "no"
		if d.Checksum {
			sum = "yes"
		}
		rows = append(rows, []string{d.Name, strconv.FormatInt(d.Size, 10), d.Time.Format(time.RFC3339), sum})
	}
	return output.PrintTable(w, []string{"NAME", "SIZE", "TIME", "CHECKSUM"}, rows)
}
