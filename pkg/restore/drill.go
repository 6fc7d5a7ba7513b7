package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/picluster/kubectl-picluster/pkg/output"
)

// ErrDrillFailed is a drill that found a difference, or could not restore the dump.
var ErrDrillFailed = errors.New("restore drill failed")

// Drill is the result of restoring one dump into a scratch database.
type Drill struct {
	Backup string `json:"backup"`
	// Result is passed, differs (a table's rows differ from the dump's) or failed.
	Result  string       `json:"result"`
	Tables  []TableCheck `json:"tables"`
	Seconds float64      `json:"seconds"`
	Error   string       `json:"error,omitempty"`
}

// Drill restores dump name (or latest) into a scratch database on the same server in
// a Job (restore.sh drill: never the live database), compares every table's rows with
// the dump's and drops the scratch database. A drill that fails or finds a difference
// returns ErrDrillFailed with the Drill.
func (r *Restorer) Drill(ctx context.Context, name string) (*Drill, error) {
	r.init()
	cj, db, err := r.cronJob(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	d := &Drill{Backup: name, Tables: []TableCheck{}}
	job, err := scriptJob(cj, "drill-"+newID(), "drill", name, dumpLabel(db, name), "drill", r.jobs(), r.timeout())
	if err != nil {
		return nil, err
	}
	out, _, err := r.runJob(ctx, job, "drill", nil)
	d.Seconds = time.Since(start).Seconds()
	if err != nil {
		var je *JobError
		if !errors.As(err, &je) {
			return nil, err
		}
		if unknown := r.Backup.UnknownDump(ctx, name, err); unknown != nil {
			return nil, unknown
		}
		d.Result, d.Error = "failed", withLines(err).Error()
		if in, _ := ParseInspect(je.Log); in.Name != "" {
			d.Backup = in.Name
		}
		if checks, _ := ParseVerify(je.Log); len(checks) > 0 {
			d.Tables = checks
		}
		if je.ExitCode == exitDiffers {
			d.Result, d.Error = "differs", describe(Differences(d.Tables))
		}
		return d, fmt.Errorf("%w: %s: %s", ErrDrillFailed, d.Backup, d.Error)
	}
	if in, _ := ParseInspect(out); in.Name != "" {
		d.Backup = in.Name
	}
	checks, ok := ParseVerify(out)
	d.Tables = checks
	if !ok {
		d.Result, d.Error = "failed", "the drill Job ended without its verification"
		return d, fmt.Errorf("%w: %s: %s", ErrDrillFailed, d.Backup, d.Error)
	}
	if diff := Differences(checks); len(diff) > 0 {
		d.Result, d.Error = "differs", describe(diff)
		return d, fmt.Errorf("%w: %s: %s", ErrDrillFailed, d.Backup, d.Error)
	}
	d.Result = "passed"
	return d, nil
}

// PrintDrills writes drills as a table.
func PrintDrills(w io.Writer, drills []*Drill) error {
	rows := make([][]string, 0, len(drills))
	for _, d := range drills {
		var rowsTotal int64
		for _, t := range d.Tables {
			rowsTotal += t.Restored
		}
		detail := d.Error
		if detail == "" {
			detail = "every table's rows equal the dump's"
		}
		rows = append(rows, []string{d.Backup, d.Result, strconv.Itoa(len(d.Tables)), strconv.FormatInt(rowsTotal, 10), fmt.Sprintf("%.1fs", d.Seconds), detail})
	}
	return output.PrintTable(w, []string{"BACKUP", "RESULT", "TABLES", "ROWS", "TIME", "DETAIL"}, rows)
}
