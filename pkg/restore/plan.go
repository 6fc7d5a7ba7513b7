package restore

import (
	"fmt"
	"io"
	"strings"
)

// PlannedStep is one step of the plan with the commands that would do it by hand.
type PlannedStep struct {
	Step  Step   `json:"step"`
	Title string `json:"title"`
	// Commands do the step by hand (kubectl and the plugin's own read commands).
	Commands []string `json:"commands"`
	// Changes tells whether the step changes anything in the cluster or the database.
	Changes bool `json:"changes"`
}

// Plan is what a restore will do.
type Plan struct {
	Database   string           `json:"database"`
	Backup     string           `json:"backup"`
	Namespace  string           `json:"namespace"`
	CronJob    string           `json:"cronJob"`
	Immich     string           `json:"immichNamespace"`
	Replicas   map[string]int32 `json:"replicas"`
	Jobs       int              `json:"jobs"`
	Steps      []PlannedStep    `json:"steps"`
	Unfinished *State           `json:"unfinished,omitempty"`
}

// MakePlan returns the plan of restoring backup (a name or latest) with the
// Deployments at replicas.
func (r *Restorer) MakePlan(database, backup string, replicas map[string]int32) *Plan {
	ns, cj, in := r.Backup.Namespace, r.Backup.CronJob, r.ImmichNamespace
	p := &Plan{Database: database, Backup: backup, Namespace: ns, CronJob: cj, Immich: in, Replicas: replicas, Jobs: r.jobs()}
	deps := sortedKeys(replicas)
	var down, wait, up, rollout, get []string
	for _, d := range deps {
		down = append(down, fmt.Sprintf("kubectl -n %s scale deployment %s --replicas=0", in, d))
		wait = append(wait, fmt.Sprintf("kubectl -n %s wait --for=delete pod --selector=%s --timeout=5m", in, r.selectorOf(d)))
		up = append(up, fmt.Sprintf("kubectl -n %s scale deployment %s --replicas=%d", in, d, replicas[d]))
		rollout = append(rollout, fmt.Sprintf("kubectl -n %s rollout status deployment %s --timeout=5m", in, d))
	}
	get = append(get, fmt.Sprintf("kubectl -n %s get deployments %s", in, strings.Join(deps, " ")))
	job := "<job>"
	p.Steps = []PlannedStep{
		{Step: StepPreflight, Title: fmt.Sprintf("Preflight: fetch %s from the NAS, check its sha256, read it with pg_restore --list, check the extensions it needs against the server, count its rows; record Immich's replicas (%s)", backup, ReplicasText(replicas)),
			Commands: append([]string{"kubectl picluster backup verify " + backup, fmt.Sprintf("kubectl -n %s get cronjob %s", ns, cj)}, get...)},
		{Step: StepRestorePoint, Title: fmt.Sprintf("Restore point: dump the live database %s now and upload it beside the backups as %s-%s-<time>.pgdump", database, database, RestorePointLabel), Changes: true,
			Commands: []string{fmt.Sprintf("kubectl -n %s create job %s-restore-point --from=cronjob/%s --dry-run=client -o yaml | kubectl set env --local -f - --containers='*' BACKUP_LABEL=%s -o yaml | kubectl create -f -", ns, cj, cj, RestorePointLabel),
				fmt.Sprintf("kubectl -n %s wait --for=condition=complete job/%s-restore-point --timeout=1h", ns, cj)}},
		{Step: StepScaleDown, Title: "Scale Immich down to 0 and wait for its pods to go", Changes: true, Commands: append(down, wait...)},
		{Step: StepRestore, Title: fmt.Sprintf("Restore %s into %s in a Job: extensions first, the search_path fix, pg_restore --clean --if-exists --no-owner --jobs %d", backup, database, r.jobs()), Changes: true,
			Commands: []string{fmt.Sprintf("kubectl -n %s create -f restore-job.yaml   # fetch %s, then sh /opt/backup/restore.sh restore /work/%s (RESTORE_JOBS=%d)", ns, backup, backup, r.jobs()),
				fmt.Sprintf("kubectl -n %s logs --follow job/%s --container=restore", ns, job)}},
		{Step: StepVerify, Title: "Verify: the restore exited 0 and every table of the dump is there with the dump's row count",
			Commands: []string{fmt.Sprintf("kubectl -n %s logs job/%s --container=restore | grep '^verify'", ns, job)}},
		{Step: StepScaleUp, Title: fmt.Sprintf("Scale Immich back up (%s) and wait for the rollout", ReplicasText(replicas)), Changes: true, Commands: append(up, rollout...)},
		{Step: StepHealth, Title: "Health: Immich's pods Ready and, when Prometheus answers, its targets up",
			Commands: append(get, "kubectl picluster targets --job "+r.MetricsJob)},
	}
	return p
}

// selectorOf is the pod selector of Deployment d as recorded, or its name label.
func (r *Restorer) selectorOf(d string) string {
	if s, ok := r.selectors[d]; ok && s != "" {
		return s
	}
	return "app.kubernetes.io/name=" + d
}

func (r *Restorer) jobs() int {
	if r.Jobs < 1 {
		return 1
	}
	return r.Jobs
}

// PrintPlan writes the plan as text: each step, numbered, with its commands.
func PrintPlan(w io.Writer, p *Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Restore plan: database %s from %s (backup CronJob %s/%s, Immich in %s)\n", p.Database, p.Backup, p.Namespace, p.CronJob, p.Immich)
	for i, s := range p.Steps {
		mark := ""
		if s.Changes {
			mark = " [changes]"
		}
		fmt.Fprintf(&b, "\n%d. %s%s\n", i+1, s.Title, mark)
		for _, c := range s.Commands {
			fmt.Fprintf(&b, "     $ %s\n", c)
		}
	}
	fmt.Fprintf(&b, "\nA failure or Ctrl-C after step 3 scales Immich back up; after step 4 began, the restore point is restored first.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
