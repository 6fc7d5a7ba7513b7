package restore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/restore"
)

// benchSchema is four tables of random text (md5, which deflate halves), about
// PICLUSTER_BENCH_RESTORE_MB of dump in all (default 1024).
func benchSchema(mb int) string {
	rows := mb * 1024 * 1024 / 4 / 150 // ~150 bytes of dump per row
	s := ""
	for i := 1; i <= 4; i++ {
		s += fmt.Sprintf("create table big_%d as select g as id, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) as payload from generate_series(1, %d) g;\n", i, rows)
		s += fmt.Sprintf("alter table big_%d add primary key (id);\n", i)
	}
	return s
}

var pgRestoreTook = regexp.MustCompile(`pg_restore --jobs \d+ done in (\d+)s`)

// BenchmarkRestore1GB restores a dump of about 1 GB (four tables, so that --jobs 2 has
// work to share) on the bed, side by side with pg_restore called directly on the same
// server with the same flags and the same file, serial and --jobs 2, then drills it.
// Run: go test ./pkg/cmd/restore -run '^$' -bench Restore1GB -benchtime 1x -timeout 60m
func BenchmarkRestore1GB(b *testing.B) {
	mb := 1024
	if v, err := strconv.Atoi(os.Getenv("PICLUSTER_BENCH_RESTORE_MB")); err == nil && v > 0 {
		mb = v
	}
	began := time.Now()
	bd := newBedWith(b, benchSchema(mb))
	b.Logf("database made in %s: %s MB", time.Since(began).Round(time.Second), bd.db.Psql(b, "select pg_database_size(current_database()) / 1048576"))
	began = time.Now()
	dump := bd.backup(b)
	info, err := os.Stat(filepath.Join(bd.Folder, dump))
	if err != nil {
		b.Fatal(err)
	}
	dumpMB := float64(info.Size()) / (1 << 20)
	b.Logf("backup run --wait: %s for a %.0f MB dump", time.Since(began).Round(time.Second), dumpMB)

	direct := func(jobs int) float64 {
		start := time.Now()
		cmd := exec.Command(filepath.Join(bd.Monitoring.Postgres.BinDir, "pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error",
			"--jobs", strconv.Itoa(jobs), "-d", bd.db.Name, filepath.Join(bd.Folder, dump))
		cmd.Env = bd.db.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_restore: %v: %s", err, out)
		}
		return time.Since(start).Seconds()
	}
	ours := func(jobs int) (step, pgRestore, whole float64) {
		start := time.Now()
		r := plugintest.Runner{Timeout: 30 * time.Minute}.Run(b, append(bd.base(), "restore", "--backup", dump, "--yes", "--jobs", strconv.Itoa(jobs), "--timeout", "30m", "-o", "json")...)
		whole = time.Since(start).Seconds()
		if r.Code != 0 {
			b.Fatalf("restore: %s", r.All())
		}
		var rep restore.Report
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			b.Fatal(err)
		}
		for _, s := range rep.Steps {
			if s.Step == restore.StepRestore {
				step = s.Seconds
				if m := pgRestoreTook.FindStringSubmatch(s.Detail); m != nil {
					pgRestore, _ = strconv.ParseFloat(m[1], 64)
				}
			}
		}
		return step, pgRestore, whole
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d1 := direct(1)
		o1, p1, w1 := ours(1)
		d2 := direct(2)
		o2, p2, w2 := ours(2)
		start := time.Now()
		r := plugintest.Runner{Timeout: 30 * time.Minute}.Run(b, append(bd.base(), "restore", "--drill", "--backup", dump, "--jobs", "2", "--timeout", "30m")...)
		if r.Code != 0 {
			b.Fatalf("drill: %s", r.All())
		}
		drill := time.Since(start).Seconds()
		mbps := func(s float64) float64 { return dumpMB / s }
		b.Logf("dump %.0f MB", dumpMB)
		b.Logf("pg_restore direct   --jobs 1: %6.1fs %6.1f MB/s", d1, mbps(d1))
		b.Logf("restore step        --jobs 1: %6.1fs %6.1f MB/s (its pg_restore %3.0fs; the whole restore %5.1fs)", o1, mbps(o1), p1, w1)
		b.Logf("pg_restore direct   --jobs 2: %6.1fs %6.1f MB/s", d2, mbps(d2))
		b.Logf("restore step        --jobs 2: %6.1fs %6.1f MB/s (its pg_restore %3.0fs; the whole restore %5.1fs)", o2, mbps(o2), p2, w2)
		b.Logf("drill               --jobs 2: %6.1fs %6.1f MB/s", drill, mbps(drill))
		b.Logf("ratios: step/direct jobs1 %.2f, jobs2 %.2f; pg_restore in the Job/direct jobs1 %.2f, jobs2 %.2f; jobs2/jobs1 speed-up direct %.2f, ours %.2f",
			d1/o1, d2/o2, d1/p1, d2/p2, d1/d2, o1/o2)
		b.ReportMetric(d1/o1, "ratio-step/direct-j1")
		b.ReportMetric(d2/o2, "ratio-step/direct-j2")
		b.ReportMetric(o1/o2, "speedup-j2/j1")
		b.ReportMetric(mbps(drill), "MB/s-drill")
	}
}
