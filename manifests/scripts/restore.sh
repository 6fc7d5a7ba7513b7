#!/bin/sh
# restore.sh: inspect a pg_dump -Fc archive against a PostgreSQL server, restore it into
# the database, or drill it (restore it into a scratch database that is dropped
# afterwards), and verify that every table of the dump came back with the dump's rows.
# POSIX sh: runs the same in the restore and drill Jobs (the Postgres client image)
# and on any Linux host with psql and pg_restore.
#
#   restore.sh inspect DUMP   read the dump and the server; changes nothing
#   restore.sh restore DUMP   restore DUMP into $PGDATABASE, then verify
#   restore.sh drill DUMP     restore DUMP into a scratch database on the same server,
#                             verify, and drop the scratch database (always)
#
# Environment:
#   PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE  libpq's own; PGDATABASE is required
#   RESTORE_JOBS        pg_restore --jobs, and the connections that count the restored
#                       rows (default 1)
#   RESTORE_DUMP_ROWS   restore only: the dump's tables with their rows as inspect counted
#                       them, one "<rows> <table>" per line. A restore then reads the
#                       dump's TOC, the server and the extensions again, but not the whole
#                       data section a second time. For a caller that inspected the same
#                       file, fetched again with the same sha256 (the restore command).
#   RESTORE_DUMP_SIZE   with RESTORE_DUMP_ROWS: the dump's size in bytes when it was
#                       inspected; a file of another size is refused (3), untouched
#   RESTORE_SCRATCH_DB  the drill's scratch database (default
#                       <PGDATABASE>_drill_<UTC YYYYMMDDHHMMSS>); it must not exist
#   TMPDIR              where the few small work files go (default /tmp)
#
# Output (stdout; errors on stderr). inspect prints, one per line:
#   server <version>
#   extension <name> available|missing   every EXTENSION entry of the dump, checked
#                                        against the server's pg_available_extensions
#   table <schema>.<name> <rows>         every table with data in the dump; the name as
#                                        SQL writes it (quoted where SQL needs quotes),
#                                        the rows are the last field
#   inspect: ok
# The rows are counted from the dump's data section: pg_restore --data-only -f - writes
# each table's data as one COPY block, one line per row (COPY's text format escapes
# newlines inside values), so the rows are the lines between "COPY ... FROM stdin;" and
# "\.". Reading the whole data section also proves that it can be read, so a truncated
# or damaged dump is refused before anything is touched.
# restore and drill print progress lines ("<UTC time> restore: ..."; the ones that time
# a phase say "done in <seconds>s", to a tenth of a second where /proc/uptime is), then
# one line per table of the dump, then the summary:
#   verify <schema>.<name> dump=<n> restored=<m|-> ok|differs|missing
#   verify: ok <N> tables            (or "verify: failed <K> of <N> tables")
#
# Exit status: 0 ok; 1 other error (bad usage, settings); 3 the dump cannot be read
# (corrupt or truncated); 4 the server lacks extension(s) the dump needs (named on
# stderr); 5 cannot connect or log in to the server; for 3, 4 and 5 nothing was
# touched (all of inspect's checks run before any change). 6 the restore itself failed
# (pg_restore or the extensions: the database was touched); 7 the verification found a
# table missing or with other rows than the dump's (named on stderr); 130/143 stopped
# by SIGINT/SIGTERM (pg_restore is stopped too).
#
# restore: (0) empties the database (clear_database: --clean alone leaves what the
# dump does not have, and fails on what depends on it); (1) creates the dump's
# extensions first, each in the schema the dump names (CREATE SCHEMA/EXTENSION IF NOT
# EXISTS); (2) applies the search_path fix below;
# (3) runs pg_restore --clean --if-exists --no-owner --exit-on-error --jobs
# $RESTORE_JOBS with a -L list that leaves out the extensions (and their comments and
# schemas) created in step 1, so --clean never drops them; (4) verifies: every table
# with data in the dump exists and its count(*) (ONLY the table, not its children)
# equals the dump's rows; $RESTORE_JOBS connections count, the largest tables first.
# drill: the same into a scratch database created from template0 with the live
# database's encoding and collation; $PGDATABASE is only connected to for CREATE and
# DROP DATABASE. The scratch database is dropped on every exit, failures and signals
# included. A drill refuses an existing scratch database (it would drop it).
#
# The search_path fix (immich-app/immich#5630): pg_dump's archive sets search_path to
# '' for every session pg_restore opens, and SQL functions of extensions that name
# their types and functions unqualified (earthdistance's ll_to_earth uses cube and
# earth) then fail when a generated column or an index calls them: type "earth" does
# not exist. Immich's docs rewrite search_path in the SQL stream with sed, which needs
# the plain SQL and so loses pg_restore --jobs; ALTER DATABASE/ROLE ... SET search_path
# does not help either, since the archive's own set_config overrides it. This script
# instead gives the dump's extensions' SQL functions that have no settings of their
# own a search_path (the dump's extension schemas, then pg_catalog) for the time of the
# restore (ALTER FUNCTION ... SET search_path), and resets exactly those functions
# afterwards (also on failure or signal). A function with a SET clause is not inlined
# and runs with its own search_path whatever the session's, so every pg_restore
# session, parallel ones included, works, and the archive is used as it is.
#
# Never prints the password: it reaches psql and pg_restore through PGPASSWORD only,
# and this script neither traces itself (no set -x) nor prints its environment.

set -eu
umask 077

now() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }
# clock prints seconds since boot to a hundredth (/proc/uptime), or date's whole
# seconds; took prints the seconds since a clock reading, to a tenth.
clock() {
    if [ -r /proc/uptime ]; then cut -d ' ' -f 1 /proc/uptime; else date +%s; fi
}
took() { awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '%s restore: %s\n' "$(now)" "$*"; }
# fail CODE MESSAGE: says what went wrong on stderr and exits with CODE.
fail() {
    code=$1
    shift
    printf '%s restore: error: %s\n' "$(now)" "$*" >&2
    exit "$code"
}

# Database names go into SQL as quoted identifiers and into -d as plain names, so they
# must be plain names.
check_dbname() {
    case "$1" in
    "" | *[!A-Za-z0-9_.-]* | .*) fail 1 "database name '$1' may hold only letters, digits, _ . and - (and not start with .)" ;;
    esac
    [ "${#1}" -le 63 ] || fail 1 "database name $1 is longer than PostgreSQL's 63 characters"
}

# sql_literal prints $1 as a SQL string literal.
sql_literal() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# q runs one SQL text with psql against database $1 (unaligned, tuples only, stopping
# at the first error).
q() {
    db=$1
    shift
    psql -X -A -t -q --no-password -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# in_background runs a command in the background and waits for it, so that a signal
# is handled at once (the trap stops the command) instead of after the command ends.
# $child holds the pids the trap stops.
child=""
in_background() {
    "$@" &
    child=$!
    rc=0
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

# --- inspect: the dump, the server, the extensions, the tables -------------------------

read_toc() {
    pg_restore --list "$dump" >"$tmp/toc" 2>"$tmp/err" ||
        fail 3 "pg_restore --list cannot read $dump (corrupt or truncated?): $(head -n 3 "$tmp/err")"
    # EXTENSION entries: "2; 3079 16385 EXTENSION - cube owner"
    awk '$4 == "EXTENSION" && $5 == "-" { print $6 }' "$tmp/toc" >"$tmp/extensions"
    # the schema each extension goes into, as pg_restore writes it
    awk '$4 == "EXTENSION" && $5 == "-"' "$tmp/toc" >"$tmp/ext.list"
    : >"$tmp/ext.sql"
    if [ -s "$tmp/ext.list" ]; then
        pg_restore -L "$tmp/ext.list" -f - "$dump" 2>"$tmp/err" |
            grep '^CREATE EXTENSION IF NOT EXISTS .* WITH SCHEMA .*;$' >"$tmp/ext.sql" ||
            fail 3 "cannot read the extensions of $dump: $(head -n 3 "$tmp/err")"
    fi
}

connect() {
    server=$(q "$PGDATABASE" -c 'SHOW server_version' 2>"$tmp/err") ||
        fail 5 "cannot connect to database $PGDATABASE on ${PGHOST:-the local socket} port ${PGPORT:-5432} as ${PGUSER:-the default user}: $(head -n 3 "$tmp/err")"
    set -- $server # 15.14 (Debian ...)
    server=$1
}

# check_extensions prints one line per extension of the dump and fails (4) when the
# server lacks any.
check_extensions() {
    prefix=$1
    q "$PGDATABASE" -c 'SELECT name FROM pg_available_extensions' >"$tmp/available" 2>"$tmp/err" ||
        fail 1 "cannot read the server's available extensions: $(head -n 3 "$tmp/err")"
    missing=""
    while read -r ext; do
        if grep -Fqx -- "$ext" "$tmp/available"; then
            printf '%sextension %s available\n' "$prefix" "$ext"
        else
            printf '%sextension %s missing\n' "$prefix" "$ext"
            missing="$missing $ext"
        fi
    done <"$tmp/extensions"
    [ -z "$missing" ] ||
        fail 4 "the server (PostgreSQL $server) lacks extension(s) the dump needs:$missing; install them on the server first; nothing restored"
}

# count_rows writes "<rows> <table>" for every table with data in the dump into
# $tmp/tables, reading the whole data section.
count_rows() {
    rm -f "$tmp/count.rc"
    rc=0
    # grep picks the COPY and end lines with their numbers (fast), awk counts the lines
    # between them; inside a block only "\." ends it, so a row that reads like a COPY
    # line is a row
    in_background sh -c '{ pg_restore --data-only -f - "$1" 2>"$2/err" || echo $? >"$2/count.rc"; } |
        { LC_ALL=C grep -n -a -E "^(COPY .* FROM stdin;|\\\\\.)\$" || true; } |
        awk '"'"'
            { i = index($0, ":"); ln = substr($0, 1, i - 1) + 0; l = substr($0, i + 1) }
            copy { if (l == "\\.") { print ln - start - 1, name; copy = 0 }; next }
            l ~ /^COPY .* FROM stdin;$/ {
                s = substr(l, 6); j = index(s, " ("); if (j == 0) j = index(s, " FROM stdin;")
                name = substr(s, 1, j - 1); start = ln; copy = 1
            }
            END { if (copy) exit 1 }
        '"'"' >"$2/tables"' sh "$dump" "$tmp" || rc=$?
    [ ! -e "$tmp/count.rc" ] || fail 3 "cannot read the data section of $dump (corrupt or truncated?): $(head -n 3 "$tmp/err")"
    [ "$rc" = 0 ] || fail 3 "the data section of $dump ends inside a table's data (truncated?)"
}

# given_rows takes the dump's rows from RESTORE_DUMP_ROWS instead of reading the data
# section (see the header), after checking the file's size against RESTORE_DUMP_SIZE.
given_rows() {
    if [ -n "${RESTORE_DUMP_SIZE:-}" ]; then
        size=$(wc -c <"$dump" | tr -d ' ')
        [ "$size" = "$RESTORE_DUMP_SIZE" ] ||
            fail 3 "$dump has $size bytes, but $RESTORE_DUMP_SIZE when it was inspected: not the inspected dump; nothing restored"
    fi
    printf '%s\n' "$RESTORE_DUMP_ROWS" | awk 'NF { if ($1 !~ /^[0-9]+$/ || NF < 2) exit 1; print }' >"$tmp/tables" ||
        fail 1 "RESTORE_DUMP_ROWS must hold one \"<rows> <table>\" per line"
    say "the dump's rows as its inspection counted them; its data section is not read again"
}

# inspect runs every check that comes before a change: 3, 4 or 5 leave all untouched.
inspect() {
    prefix=$1
    read_toc
    connect
    printf '%sserver %s\n' "$prefix" "$server"
    check_extensions "$prefix"
    if [ "$mode" = restore ] && [ -n "${RESTORE_DUMP_ROWS:-}" ]; then
        given_rows
    else
        start=$(clock)
        count_rows
        [ "$mode" = inspect ] || say "read the dump's data section in $(took "$start")s"
    fi
}

# --- restore ----------------------------------------------------------------------------

# ext_schemas prints the schemas the dump's extensions go into, as SQL identifiers.
ext_schemas() {
    sed 's/^CREATE EXTENSION IF NOT EXISTS .* WITH SCHEMA \(.*\);$/\1/' "$tmp/ext.sql" | awk '!seen[$0]++'
}

create_extensions() {
    [ -s "$tmp/ext.sql" ] || return 0
    {
        ext_schemas | while read -r s; do
            [ "$s" = pg_catalog ] || printf 'CREATE SCHEMA IF NOT EXISTS %s;\n' "$s"
        done
        cat "$tmp/ext.sql"
    } >"$tmp/create.sql"
    q "$target" -f "$tmp/create.sql" >/dev/null 2>"$tmp/err" ||
        fail 6 "cannot create the dump's extensions in $target: $(head -n 3 "$tmp/err")"
    say "extensions created (or already there): $(tr '\n' ' ' <"$tmp/extensions")"
}

# fix_search_path gives the extensions' SQL functions a search_path for the restore and
# writes the statements that undo it into $tmp/reset.sql (see the header).
fix_search_path() {
    [ -s "$tmp/extensions" ] || return 0
    path=$(ext_schemas | awk '{ printf "%s, ", $0 } END { printf "pg_catalog" }')
    names=$(awk -v q="'" '{ gsub(q, q q); printf "%s%s%s%s", (NR > 1 ? ", " : ""), q, $0, q }' "$tmp/extensions")
    q "$target" -c "SET search_path = ''" -c "
        SELECT format('ALTER FUNCTION %s SET search_path = %s;', p.oid::regprocedure, $(sql_literal "$path")),
               format('ALTER FUNCTION %s RESET search_path;', p.oid::regprocedure)
        FROM pg_proc p
        JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid
        JOIN pg_language l ON l.oid = p.prolang
        WHERE e.extname IN ($names) AND l.lanname = 'sql' AND p.proconfig IS NULL
        ORDER BY 1" -F "$(printf '\t')" >"$tmp/fix.tsv" 2>"$tmp/err" ||
        fail 6 "cannot list the extensions' SQL functions in $target: $(head -n 3 "$tmp/err")"
    [ -s "$tmp/fix.tsv" ] || return 0
    cut -f 1 "$tmp/fix.tsv" >"$tmp/fix.sql"
    cut -f 2 "$tmp/fix.tsv" >"$tmp/reset.sql"
    resetdb=$target
    q "$target" -f "$tmp/fix.sql" >/dev/null 2>"$tmp/err" ||
        fail 6 "cannot set the search_path of the extensions' functions in $target: $(head -n 3 "$tmp/err")"
    say "search_path fix: $(wc -l <"$tmp/fix.sql" | tr -d ' ') SQL functions of the extensions run with search_path $path during the restore"
}

reset_search_path() {
    [ -n "$resetdb" ] || return 0
    if q "$resetdb" -f "$tmp/reset.sql" >/dev/null 2>"$tmp/err"; then
        say "search_path fix undone: the extensions' functions are as before"
        resetdb=""
    else
        printf '%s restore: error: cannot reset the search_path of the extensions'"'"' functions in %s (run %s by hand): %s\n' \
            "$(now)" "$resetdb" "$(tr '\n' ' ' <"$tmp/reset.sql")" "$(head -n 3 "$tmp/err")" >&2
        return 1
    fi
}

# restore_list is the dump's TOC without the extensions created by create_extensions,
# their comments, and the schemas they were created in (--clean would drop them).
restore_list() {
    ext_schemas | sed 's/^"\(.*\)"$/\1/; s/""/"/g' >"$tmp/ext.schemas"
    awk -v exts="$tmp/extensions" -v schemas="$tmp/ext.schemas" '
        BEGIN {
            while ((getline l < exts) > 0) ext[l] = 1
            while ((getline l < schemas) > 0) if (l != "public") sch[l] = 1
        }
        $4 == "EXTENSION" && $5 == "-" && ($6 in ext) { next }
        $4 == "COMMENT" && $5 == "-" && $6 == "EXTENSION" && ($7 in ext) { next }
        $4 == "SCHEMA" && $5 == "-" && ($6 in sch) { next }
        { print }
    ' "$tmp/toc" >"$tmp/restore.list"
}

run_pg_restore() {
    restore_list
    say "pg_restore --clean --if-exists --no-owner --exit-on-error --jobs $jobs into $target"
    start=$(clock)
    if ! in_background pg_restore --clean --if-exists --no-owner --exit-on-error --no-password \
        --jobs "$jobs" -L "$tmp/restore.list" -d "$target" "$dump"; then
        reset_search_path || true
        fail 6 "pg_restore into $target failed (its error is above); the database was touched"
    fi
    say "pg_restore done in $(took "$start")s"
    reset_search_path || fail 6 "the restore finished but the search_path fix could not be undone"
}

# verify compares every table of the dump with the restored one (count(*) of ONLY the
# table: a parent's count would include its children's rows). $jobs connections count
# at once, the largest tables dealt first.
verify() {
    tab=$(printf '\t')
    values=$(awk -v q="'" '{ n = $0; sub(/^[0-9]+ /, "", n); gsub(q, q q, n); printf "%s(%s%s%s, %d)", (NR > 1 ? ", " : ""), q, n, q, $1 }' "$tmp/tables")
    : >"$tmp/restored"
    if [ -n "$values" ]; then
        start=$(clock)
        # the names are the dump's, qualified and quoted as SQL needs; the sessions keep
        # the server's search_path (with '' even count(*) of a table whose generated
        # column uses ll_to_earth fails, see the header)
        q "$target" -c "SELECT format('SELECT %L, count(*) FROM ONLY %s;', n, n)
            FROM (VALUES $values) v(n, rows) WHERE to_regclass(n) IS NOT NULL ORDER BY rows DESC, n" >"$tmp/counts" 2>"$tmp/err" ||
            fail 1 "cannot look up the restored tables in $target: $(head -n 3 "$tmp/err")"
        i=0
        child=""
        while [ "$i" -lt "$jobs" ]; do
            awk -v n="$jobs" -v i="$i" '(NR - 1) % n == i' "$tmp/counts" >"$tmp/counts.$i"
            if [ -s "$tmp/counts.$i" ]; then
                q "$target" -F "$tab" -f "$tmp/counts.$i" >"$tmp/restored.$i" 2>"$tmp/err.$i" &
                child="$child $!"
            fi
            i=$((i + 1))
        done
        counted=0
        for pid in $child; do
            wait "$pid" || counted=$?
        done
        child=""
        [ "$counted" = 0 ] || fail 1 "cannot count the restored rows in $target: $(cat "$tmp"/err.* | head -n 3)"
        cat "$tmp"/restored.* >"$tmp/restored" 2>/dev/null || true
        say "counted the restored rows of $(wc -l <"$tmp/counts" | tr -d ' ') tables in $(took "$start")s with $jobs connection(s)"
    fi
    awk -F "$tab" -v tables="$tmp/tables" -v bad="$tmp/bad" '
        { restored[$1] = $2 }
        END {
            total = 0; failed = 0
            while ((getline l < tables) > 0) {
                rows = l; sub(/ .*/, "", rows); name = l; sub(/^[0-9]+ /, "", name); total++
                if (!(name in restored)) { status = "missing"; got = "-" }
                else { got = restored[name]; status = (got == rows) ? "ok" : "differs" }
                printf "verify %s dump=%s restored=%s %s\n", name, rows, got, status
                if (status != "ok") {
                    failed++
                    printf "%s%s %s (dump %s rows, restored %s)", (failed > 1 ? ", " : ""), name, status, rows, got > bad
                }
            }
            if (failed) printf "verify: failed %d of %d tables\n", failed, total
            else printf "verify: ok %d tables\n", total
        }
    ' "$tmp/restored"
    [ ! -s "$tmp/bad" ] || fail 7 "the restored data differs from the dump: $(cat "$tmp/bad")"
}

# clear_database empties $target before a restore into the live database: --clean drops
# only the objects the dump has, so a table made since the dump would stay, and so would
# whatever depends on the dump's objects from outside it (a foreign key to one of its
# tables stops the drops: cannot drop constraint ... because other objects depend on
# it). Every schema but the system ones is dropped with all it holds, extensions
# included (create_extensions makes the dump's again), and public is made again as it
# was: its owner, its privileges and its comment. The restore point taken before holds
# what is dropped here.
clear_database() {
    q "$target" -f - >/dev/null 2>"$tmp/err" <<'SQL' || fail 6 "cannot clear $target before the restore: $(head -n 3 "$tmp/err")"
DO $clear$
DECLARE
    s record;
    g record;
    owner regrole;
    acl aclitem[];
    note text;
BEGIN
    SELECT nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace')
        INTO owner, acl, note FROM pg_namespace WHERE nspname = 'public';
    FOR s IN SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
    END LOOP;
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', coalesce(owner::text, 'CURRENT_USER'));
    FOR g IN SELECT * FROM aclexplode(acl) WHERE owner IS NULL OR grantee <> owner LOOP
        EXECUTE format('GRANT %s ON SCHEMA public TO %s', g.privilege_type,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
    IF note IS NOT NULL THEN
        EXECUTE format('COMMENT ON SCHEMA public IS %L', note);
    END IF;
END
$clear$;
SQL
    say "cleared $target: its schemas dropped, public made again with its owner and privileges"
}

restore_into() {
    target=$1
    [ "$target" != "$PGDATABASE" ] || clear_database
    create_extensions
    fix_search_path
    run_pg_restore
    verify
}

# --- drill: a scratch database, always dropped ------------------------------------------

drop_scratch() {
    [ -n "$scratch" ] || return 0
    if q "$PGDATABASE" -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" >/dev/null 2>"$tmp/err"; then
        say "scratch database $scratch dropped"
        scratch=""
    else
        printf '%s restore: error: cannot drop the scratch database %s (drop it by hand): %s\n' "$(now)" "$scratch" "$(head -n 3 "$tmp/err")" >&2
        return 1
    fi
}

drill() {
    name=${RESTORE_SCRATCH_DB:-${PGDATABASE}_drill_$(date -u '+%Y%m%d%H%M%S')}
    check_dbname "$name"
    [ "$name" != "$PGDATABASE" ] || fail 1 "RESTORE_SCRATCH_DB is the live database $PGDATABASE; a drill never restores into it"
    exists=$(q "$PGDATABASE" -c "SELECT count(*) FROM pg_database WHERE datname = $(sql_literal "$name")" 2>"$tmp/err") ||
        fail 1 "cannot look for the scratch database: $(head -n 3 "$tmp/err")"
    [ "$exists" = 0 ] || fail 1 "the scratch database $name exists already; a drill drops its scratch database, so it uses only one it creates (drop it or choose another RESTORE_SCRATCH_DB)"
    # the live database's encoding and collation, from a clean template
    like=$(q "$PGDATABASE" -c "SELECT format('ENCODING %L LC_COLLATE %L LC_CTYPE %L', pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = current_database()" 2>"$tmp/err") ||
        fail 1 "cannot read the encoding of $PGDATABASE: $(head -n 3 "$tmp/err")"
    scratch=$name
    q "$PGDATABASE" -c "CREATE DATABASE \"$name\" TEMPLATE template0 $like" >/dev/null 2>"$tmp/err" || {
        scratch=""
        fail 1 "cannot create the scratch database $name: $(head -n 3 "$tmp/err")"
    }
    say "scratch database $name created on ${PGHOST:-the local socket}; the live database $PGDATABASE is not written"
    restore_into "$name"
}

# --- main -------------------------------------------------------------------------------

cleanup() {
    rc=$?
    trap - EXIT INT TERM
    for pid in $child; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    reset_search_path || true
    drop_scratch || true
    rm -rf "$tmp"
    exit "$rc"
}

mode=${1:-}
dump=${2:-}
case "$mode" in
inspect | restore | drill) ;;
*) fail 1 "usage: restore.sh inspect|restore|drill DUMP" ;;
esac
[ -n "$dump" ] || fail 1 "$mode needs a dump file"
[ -f "$dump" ] && [ -r "$dump" ] || fail 3 "cannot read the dump file $dump"
[ -n "${PGDATABASE:-}" ] || fail 1 "PGDATABASE is not set"
check_dbname "$PGDATABASE"
jobs=${RESTORE_JOBS:-1}
case "$jobs" in
"" | *[!0-9]* | 0*) fail 1 "RESTORE_JOBS must be a whole number of parallel jobs, 1 or more" ;;
esac
for tool in psql pg_restore; do
    command -v "$tool" >/dev/null || fail 1 "$tool is not installed"
done

child=""
scratch=""
resetdb=""
target=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/restore.XXXXXX") || fail 1 "cannot create a work folder in ${TMPDIR:-/tmp}"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "$mode" in
inspect)
    inspect ""
    while read -r rows name; do
        printf 'table %s %s\n' "$name" "$rows"
    done <"$tmp/tables"
    echo "inspect: ok"
    ;;
restore | drill)
    say "checking $dump against ${PGHOST:-the local socket} port ${PGPORT:-5432} before changing anything"
    inspect "$(now) restore: "
    say "the dump holds $(wc -l <"$tmp/tables" | tr -d ' ') tables with $(awk '{ n += $1 } END { print n + 0 }' "$tmp/tables") rows"
    if [ "$mode" = restore ]; then
        restore_into "$PGDATABASE"
    else
        drill
    fi
    ;;
esac
