// Package immichdb is an Immich-like database on a real Postgres server for tests: the
// shapes of Immich's schema that matter to a dump and a restore (foreign keys, uuid keys,
// earthdistance in a generated column and in an index), checksums that compare tables
// row for row, and the dumps the restore must refuse or survive.
package immichdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// Schema has the shapes of Immich's database that matter to a restore:
// foreign keys between tables, uuid keys, and geodata built on earthdistance the way
// Immich's geodata_places is (a generated earth column with a GiST index, and an
// index on ll_to_earth), which a plain pg_restore cannot restore
// (immich-app/immich#5630). About 14,000 rows.
const Schema = `
create extension cube;
create extension earthdistance;
create table users (id uuid primary key default gen_random_uuid(), email text unique not null, name text not null);
create table assets (id uuid primary key default gen_random_uuid(),
	owner_id uuid not null references users(id) on delete cascade,
	original_path text not null, taken timestamptz not null, latitude float8, longitude float8);
create index idx_assets_earth on assets using gist (ll_to_earth(latitude, longitude));
create table albums (id serial primary key, owner_id uuid not null references users(id) on delete cascade, name text not null);
create table album_assets (album_id int not null references albums(id) on delete cascade,
	asset_id uuid not null references assets(id) on delete cascade, primary key (album_id, asset_id));
create table geodata_places (id int primary key, name varchar(200) not null,
	latitude float8 not null, longitude float8 not null,
	"earthCoord" earth generated always as (ll_to_earth(latitude, longitude)) stored);
create index idx_geodata_places_gist_earthcoord on geodata_places using gist ("earthCoord");
insert into users (email, name) select 'user' || g || '@example.test', 'User ' || g from generate_series(1, 25) g;
insert into assets (owner_id, original_path, taken, latitude, longitude)
	select (select id from users order by email offset g % 25 limit 1), '/photos/IMG_' || g || '.jpg',
		timestamptz '2024-01-01' + g * interval '1 hour', (g % 170) - 85 + 0.25, (g % 350) - 175 + 0.5
	from generate_series(1, 4000) g;
insert into albums (owner_id, name) select (select id from users order by email offset g % 25 limit 1), 'Album ' || g from generate_series(1, 40) g;
insert into album_assets select 1 + (row_number() over () - 1) % 40, id from (select id from assets order by original_path limit 3000) a;
insert into geodata_places select g, 'Place ' || g, (g % 170) - 85, (g % 350) - 175 from generate_series(1, 3000) g;
`

// Tables are Schema's tables.
var Tables = []string{"public.album_assets", "public.albums", "public.assets", "public.geodata_places", "public.users"}

// DB is one database on a real Postgres server, reached with psql over TCP with the
// password, as a client would.
type DB struct {
	PG   *servers.Postgres
	Name string
}

// Psql runs sql in the database (ON_ERROR_STOP) and returns its unaligned output.
func (d DB) Psql(t testing.TB, sql string) string {
	t.Helper()
	out, err := d.psql(sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d DB) psql(sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.PG.BinDir, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql on database %s: %w: %s", d.Name, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// Env is the libpq environment for this database, and nothing else of the test's.
func (d DB) Env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for _, kv := range d.PG.Env() {
		if !strings.HasPrefix(kv, "PGDATABASE=") {
			env = append(env, kv)
		}
	}
	return append(env, "PGDATABASE="+d.Name)
}

// Create creates database name on the server (dropped, with its connections, when
// the test ends) and returns it.
func Create(t testing.TB, pg *servers.Postgres, name string) DB {
	t.Helper()
	admin := DB{PG: pg, Name: "postgres"}
	admin.Psql(t, fmt.Sprintf("drop database if exists %q with (force)", name))
	admin.Psql(t, fmt.Sprintf("create database %q", name))
	t.Cleanup(func() { _, _ = admin.psql(fmt.Sprintf("drop database if exists %q with (force)", name)) })
	return DB{PG: pg, Name: name}
}

// Checksums returns, per table that exists, its row count and an md5 of its rows in
// order: equal checksums mean equal data, row for row.
func (d DB) Checksums(t testing.TB, tables []string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, table := range tables {
		if d.Psql(t, "select to_regclass('"+table+"') is not null") != "t" {
			continue
		}
		sums[table] = d.Psql(t, "select count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from only "+table+" t")
	}
	return sums
}

// ChangeLiveData deletes rows, adds rows, changes rows and drops a table of
// Schema: what a restore must undo.
func (d DB) ChangeLiveData(t testing.TB) {
	t.Helper()
	d.Psql(t, `delete from assets where original_path like '%7.jpg';
		insert into users (email, name) values ('intruder@example.test', 'Intruder');
		update geodata_places set name = 'Renamed' where id < 100;
		drop table album_assets`)
}

// Dump writes the database with the server's own pg_dump -Fc and extra flags to path.
func (d DB) Dump(t testing.TB, path string, flags ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(d.PG.BinDir, "pg_dump"), append([]string{"-Fc", "-f", path}, flags...)...)
	cmd.Env = d.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump %s: %v: %s", d.Name, err, out)
	}
}

// BrokenDataDump writes a dump of an Schema database whose data breaks after
// the schema part: uncompressed, one value of geodata_places does not parse. It reads
// in full (pg_restore --list and --data-only pass), but a restore stops while loading
// that table's data, after it changed the database.
func (d DB) BrokenDataDump(t testing.TB, path string) {
	t.Helper()
	d.Dump(t, path, "--compress=0")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// geodata_places row 2999: id, name, latitude (2999 % 170 - 85 = 24), longitude
	row := []byte("2999\tPlace 2999\t24\t")
	if n := bytes.Count(orig, row); n != 1 {
		t.Fatalf("the dump holds geodata_places row 2999 %d times, want 1", n)
	}
	if err := os.WriteFile(path, bytes.Replace(orig, row, []byte("2999\tPlace 2999\t2x\t"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
}

// VectorDump writes a dump that needs pgvector's extension "vector", which Debian's
// server lacks: a dump of a scratch database with contrib's intagg, every "intagg"
// replaced by "vector" (same length; the archive's TOC is not compressed, so it stays
// readable).
func VectorDump(t testing.TB, pg *servers.Postgres, path string) {
	t.Helper()
	db := Create(t, pg, "withvector")
	db.Psql(t, "create extension intagg; create table embeddings (id int primary key); insert into embeddings values (1), (2)")
	db.Dump(t, path)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(orig, []byte("intagg"), []byte("vector")), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := (DB{PG: pg, Name: "postgres"}).Psql(t, "select count(*) from pg_available_extensions where name = 'vector'"); got != "0" {
		t.Fatalf("the server has extension vector (%s): the dump would not need a missing one", got)
	}
}
