package restore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/restore"
)

// benchSchema is an Immich-like database of about mb MB of dump (pg_dump -Fc): users,
// assets with the indexes Immich keeps on them (owner and time, owner and checksum,
// path, creation, and a GiST index on ll_to_earth), exif, two faces per asset, and
// geodata places with Immich's generated earth column and its GiST index. Its indexes
// are what a restore spends much of its time on besides the data, as Immich's do, and
// what pg_restore --jobs builds in parallel. It needs the search_path fix
// (immich-app/immich#5630): a plain pg_restore of it fails.
func benchSchema(mb int) string {
	assets := mb * 2790 // 300,000 assets made a 107.5 MB dump
	return fmt.Sprintf(`
create extension cube;
create extension earthdistance;
create table users (id uuid primary key default gen_random_uuid(), email text unique not null, name text not null);
create table assets (id uuid primary key default gen_random_uuid(),
	owner_id uuid not null references users(id) on delete cascade,
	original_path text not null, checksum bytea not null, thumbhash bytea, taken timestamptz not null,
	created_at timestamptz not null default now(), latitude float8, longitude float8);
create table exif (asset_id uuid primary key references assets(id) on delete cascade,
	make text, model text, lens text, city text, country text, description text, fnumber float8, iso int);
create table asset_faces (id uuid primary key default gen_random_uuid(), asset_id uuid not null references assets(id) on delete cascade,
	x1 int, y1 int, x2 int, y2 int, image_width int, image_height int);
create table geodata_places (id int primary key, name varchar(200) not null, admin1 text, admin2 text,
	latitude float8 not null, longitude float8 not null,
	"earthCoord" earth generated always as (ll_to_earth(latitude, longitude)) stored);
insert into users (email, name) select 'user' || g || '@example.test', 'User ' || g from generate_series(1, 25) g;
insert into assets (owner_id, original_path, checksum, thumbhash, taken, latitude, longitude)
	select (array(select id from users))[1 + g %% 25], '/photos/' || md5(g::text) || '/IMG_' || g || '.jpg',
		decode(md5(random()::text) || md5(random()::text), 'hex'), decode(md5(random()::text) || md5(random()::text), 'hex'),
		timestamptz '2010-01-01' + g * interval '17 minutes', random() * 170 - 85, random() * 350 - 175
	from generate_series(1, %[1]d) g;
insert into exif select id, 'Make ' || (random() * 20)::int, 'Model ' || (random() * 200)::int, 'Lens ' || md5(random()::text),
	'City ' || (random() * 5000)::int, 'Country ' || (random() * 200)::int, md5(random()::text) || md5(random()::text), random() * 10, (random() * 6400)::int
	from assets;
insert into asset_faces (asset_id, x1, y1, x2, y2, image_width, image_height)
	select id, (random() * 1000)::int, (random() * 1000)::int, (random() * 1000)::int, (random() * 1000)::int, 4000, 3000
	from assets, generate_series(1, 2);
insert into geodata_places select g, 'Place ' || md5(g::text), 'Admin ' || (g %% 3000), 'Area ' || (g %% 30000), random() * 170 - 85, random() * 350 - 175
	from generate_series(1, %[1]d / 5) g;
create index on assets using gist (ll_to_earth(latitude, longitude));
create index on assets (owner_id, taken desc);
create unique index on assets (owner_id, checksum);
create index on assets (original_path);
create index on assets (created_at);
create index on exif (city);
create index on exif (description);
create index on asset_faces (asset_id);
create index on geodata_places using gist ("earthCoord");
create index on geodata_places (name);
`, assets)
}

// The restore Job's detail (restoreDetail in pkg/restore).
var (
	fetchTook   = regexp.MustCompile(`fetched from the NAS in (\d+)s`)
	pgRestoreIn = regexp.MustCompile(`pg_restore --jobs \d+ done in ([0-9.]+)s`)
	countedIn   = regexp.MustCompile(`rows counted in ([0-9.]+)s`)
)

// restoreRun is one restore of the dump by the plugin: the whole command, its restore
// step, and the parts of that step.
type restoreRun struct {
	whole, step, fetch, pgRestore, count float64
}

// BenchmarkRestore1GB restores an Immich-like dump of about 1 GB on the bed (real pods,
// the real Postgres, the rsync-only NAS) with the plugin, side by side with pg_restore
// called directly on the same server with the same flags and the same file, serial
// and --jobs 2, in rounds that alternate their order; then drills it. It prints the
// medians and the ratios: pg_restore inside the restore Job against pg_restore
// called directly (the data path, target >= 0.95), the whole restore step (which
// also fetches the dump from the NAS and counts the restored rows) against it, and
// --jobs 2 against serial.
// Run: hack/bench-restore.sh (PICLUSTER_BENCH_RESTORE_MB, PICLUSTER_BENCH_ROUNDS).
func BenchmarkRestore1GB(b *testing.B) {
	mb, rounds := envInt("PICLUSTER_BENCH_RESTORE_MB", 1024), envInt("PICLUSTER_BENCH_ROUNDS", 2)
	began := time.Now()
	bd := newBedWith(b, "select 1")
	bd.psqlLong(b, benchSchema(mb))
	b.Logf("database made in %s: %s MB", time.Since(began).Round(time.Second), bd.db.Psql(b, "select pg_database_size(current_database()) / 1048576"))
	began = time.Now()
	dump := bd.backup(b)
	path := filepath.Join(bd.Folder, dump)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	dumpMB := float64(info.Size()) / (1 << 20)
	b.Logf("backup run --wait: %s for a %.0f MB dump", time.Since(began).Round(time.Second), dumpMB)
	list := bd.restoreList(b, path)

	direct := func(jobs int) float64 {
		bd.searchPath(b, true)
		defer bd.searchPath(b, false)
		start := time.Now()
		cmd := exec.Command(filepath.Join(bd.Monitoring.Postgres.BinDir, "pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error",
			"--jobs", strconv.Itoa(jobs), "-L", list, "-d", bd.db.Name, path)
		cmd.Env = bd.db.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_restore: %v: %s", err, out)
		}
		return time.Since(start).Seconds()
	}
	ours := func(jobs int) restoreRun {
		start := time.Now()
		r := plugintest.Runner{Timeout: 30 * time.Minute}.Run(b, append(bd.base(), "restore", "--backup", dump, "--yes", "--jobs", strconv.Itoa(jobs), "--timeout", "30m", "-o", "json")...)
		run := restoreRun{whole: time.Since(start).Seconds()}
		if r.Code != 0 {
			b.Fatalf("restore: %s", r.All())
		}
		var rep restore.Report
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			b.Fatal(err)
		}
		for _, s := range rep.Steps {
			if s.Step != restore.StepRestore {
				continue
			}
			run.step = s.Seconds
			for re, v := range map[*regexp.Regexp]*float64{fetchTook: &run.fetch, pgRestoreIn: &run.pgRestore, countedIn: &run.count} {
				m := re.FindStringSubmatch(s.Detail)
				if m == nil {
					b.Fatalf("the restore step's detail has no %s: %s", re, s.Detail)
				}
				*v, _ = strconv.ParseFloat(m[1], 64)
			}
		}
		return run
	}

	var d1, d2 []float64
	var o1, o2 []restoreRun
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			arms := []func(){
				func() { d1 = append(d1, direct(1)) },
				func() { o1 = append(o1, ours(1)) },
				func() { d2 = append(d2, direct(2)) },
				func() { o2 = append(o2, ours(2)) },
			}
			if round%2 == 1 {
				for l, r := 0, len(arms)-1; l < r; l, r = l+1, r-1 {
					arms[l], arms[r] = arms[r], arms[l]
				}
			}
			for _, arm := range arms {
				arm()
			}
		}
	}
	b.StopTimer()
	start := time.Now()
	r := plugintest.Runner{Timeout: 30 * time.Minute}.Run(b, append(bd.base(), "restore", "--drill", "--backup", dump, "--jobs", "2", "--timeout", "30m")...)
	if r.Code != 0 {
		b.Fatalf("drill: %s", r.All())
	}
	drill := time.Since(start).Seconds()

	md1, md2 := median(d1), median(d2)
	part := func(runs []restoreRun, f func(restoreRun) float64) float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return median(v)
	}
	pg1, pg2 := part(o1, func(r restoreRun) float64 { return r.pgRestore }), part(o2, func(r restoreRun) float64 { return r.pgRestore })
	st1, st2 := part(o1, func(r restoreRun) float64 { return r.step }), part(o2, func(r restoreRun) float64 { return r.step })
	mbps := func(s float64) float64 { return dumpMB / s }
	b.Logf("dump %.0f MB; %d rounds; medians (every run: direct j1 %v, j2 %v; ours j1 %v, j2 %v)", dumpMB, len(d1), d1, d2, o1, o2)
	for _, arm := range []struct {
		jobs   int
		direct float64
		runs   []restoreRun
	}{{1, md1, o1}, {2, md2, o2}} {
		pg, step := part(arm.runs, func(r restoreRun) float64 { return r.pgRestore }), part(arm.runs, func(r restoreRun) float64 { return r.step })
		b.Logf("--jobs %d: pg_restore direct %6.1fs %5.1f MB/s | in the restore Job %6.1fs %5.1f MB/s | restore step %6.1fs %5.1f MB/s (fetch %3.0fs, count %4.1fs) | whole restore %6.1fs",
			arm.jobs, arm.direct, mbps(arm.direct), pg, mbps(pg), step, mbps(step),
			part(arm.runs, func(r restoreRun) float64 { return r.fetch }), part(arm.runs, func(r restoreRun) float64 { return r.count }),
			part(arm.runs, func(r restoreRun) float64 { return r.whole }))
	}
	b.Logf("drill --jobs 2: %6.1fs %5.1f MB/s", drill, mbps(drill))
	b.Logf("ratios (throughput, ours/direct): pg_restore in the restore Job j1 %.2f, j2 %.2f; the whole restore step j1 %.2f, j2 %.2f",
		md1/pg1, md2/pg2, md1/st1, md2/st2)
	b.Logf("--jobs 2 speed-up over serial: direct %.2f, in the restore Job %.2f, the restore step %.2f", md1/md2, pg1/pg2, st1/st2)
	b.ReportMetric(md1/pg1, "ratio-job/direct-j1")
	b.ReportMetric(md2/pg2, "ratio-job/direct-j2")
	b.ReportMetric(md2/st2, "ratio-step/direct-j2")
	b.ReportMetric(pg1/pg2, "speedup-j2/j1")
	b.ReportMetric(mbps(drill), "MB/s-drill")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// psqlLong runs sql in the bed's database with psql, without psql's usual two minutes:
// making a database of a gigabyte takes longer.
func (b *bed) psqlLong(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(b.Monitoring.Postgres.BinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
	cmd.Env, cmd.Stdin = b.db.Env(), strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
}

// restoreList writes the -L list that a direct pg_restore needs to keep the search_path
// fix (searchPath): the dump's TOC without its extensions and their comments (--clean
// would drop and make them again, without the fix), as restore.sh leaves them out.
func (b *bed) restoreList(t testing.TB, dump string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(b.Monitoring.Postgres.BinDir, "pg_restore"), "--list", dump).Output()
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "-" && (f[3] == "EXTENSION" || f[3] == "COMMENT" && f[5] == "EXTENSION") {
			continue
		}
		keep = append(keep, line)
	}
	path := filepath.Join(t.TempDir(), "restore.list")
	if err := os.WriteFile(path, []byte(strings.Join(keep, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// searchPath sets (on) or resets the search_path of earthdistance's and cube's SQL
// functions, as an operator restoring Immich's database by hand with pg_restore
// --jobs must (the way restore.sh does it; see its header): without it the direct
// pg_restore of benchSchema fails with type "earth" does not exist.
func (b *bed) searchPath(t testing.TB, on bool) {
	t.Helper()
	set, where := "SET search_path = public, pg_catalog", "p.proconfig IS NULL"
	if !on {
		set, where = "RESET search_path", "p.proconfig IS NOT NULL"
	}
	b.psqlLong(t, fmt.Sprintf(`SELECT format('ALTER FUNCTION %%s %s', p.oid::regprocedure)
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
JOIN pg_language l ON l.oid = p.prolang
WHERE e.extname IN ('cube', 'earthdistance') AND l.lanname = 'sql' AND %s \gexec`, set, where))
}
