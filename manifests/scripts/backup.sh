#!/bin/sh
# backup.sh: dump a PostgreSQL database with pg_dump -Fc, check the archive with
# pg_restore --list, write its sha256, upload both to the NAS with rsync over SSH
# (no SFTP needed), and keep the newest BACKUP_RETENTION dumps there.
# POSIX sh: runs the same in the backup CronJob and on any Linux host.
#
#   backup.sh             dump, then upload (a host with pg_dump, rsync and ssh)
#   backup.sh dump        dump into $BACKUP_WORKDIR only (the CronJob's init container)
#   backup.sh upload      upload the dump in $BACKUP_WORKDIR (the CronJob's main container)
#   backup.sh list        print the complete dumps of PGDATABASE on the NAS, newest first
#   backup.sh fetch NAME  download dump NAME (or latest) and its checksum into
#                         $BACKUP_WORKDIR and verify it; prints the dump's path
#
# Environment:
#   PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE  libpq's own; PGDATABASE is required
#   BACKUP_TARGET     rsync destination, user@host:/path
#   BACKUP_RSYNC_RSH  the ssh command rsync uses (key, port, host-key options),
#                     quoted as in a shell
#   BACKUP_RETENTION  dumps of this database to keep on the NAS, 1 or more
#   BACKUP_WORKDIR    where dump writes and upload reads (dump, upload, fetch)
#   BACKUP_LABEL      optional, lower-case letters and digits: a labelled series of
#                     dumps (the restore's restore points use "restorepoint")
#
# Writes <database>-<UTC timestamp>.pgdump and <that name>.sha256 (sha256sum format,
# relative name); with BACKUP_LABEL, <database>-<label>-<UTC timestamp>.pgdump, and
# list, fetch and the retention act on that label's dumps only, while without it they
# never see labelled dumps (a label is not a timestamp), so the two series never count
# against or remove each other. Every NAS operation is rsync alone (an rsync-only
# account, as Synology gives users without an admin shell, is enough): rsync writes
# each file under a hidden temporary name and renames it when complete, and sends the dump before its checksum,
# so the checksum marks a complete dump; list, fetch and the retention count only
# dumps that have one. Refuses to dump when pg_dump is older than the server (it
# cannot dump a newer server). Uploads nothing when any step fails, and exits non-zero
# then. Never prints the password: it reaches pg_dump through PGPASSWORD only, and
# this script neither traces itself (no set -x) nor prints its environment.

set -eu
umask 077

now() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }
say() { printf '%s backup: %s\n' "$(now)" "$*"; }
fail() {
    printf '%s backup: error: %s\n' "$(now)" "$*" >&2
    exit 1
}

require() {
    for var in "$@"; do
        eval "val=\${$var:-}"
        [ -n "$val" ] || fail "$var is not set"
    done
}

# Dump files are named after the database (and the label), so both must be safe in a
# file name and in a remote shell command. Sets base, the dump names' prefix.
check_database() {
    require PGDATABASE
    case "$PGDATABASE" in
    *[!A-Za-z0-9_.-]* | .*) fail "PGDATABASE may hold only letters, digits, _ . and - (and not start with .)" ;;
    esac
    base=$PGDATABASE
    label=${BACKUP_LABEL:-}
    [ -n "$label" ] || return 0
    case "$label" in
    *[!a-z0-9]*) fail "BACKUP_LABEL may hold only lower-case letters and digits (a-z, 0-9), got '$label'" ;;
    esac
    base=$PGDATABASE-$label
}

# what names the dumps this run acts on, for messages.
what() {
    if [ -n "$label" ]; then
        printf '%s dumps of %s' "$label" "$PGDATABASE"
    else
        printf 'dumps of %s' "$PGDATABASE"
    fi
}

# ts is the pattern of a dump name's UTC timestamp.
ts='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'

# Refuses, in one line naming both versions, when pg_dump's major version is older
# than the server's: pg_dump cannot dump a newer server (a newer pg_dump dumps older
# ones).
check_versions() {
    command -v psql >/dev/null || fail "psql is not installed (needed to read the server's version)"
    client=$(pg_dump --version) || fail "pg_dump --version failed"
    set -- $client # pg_dump (PostgreSQL) 16.11 [(Debian ...)]
    client=${3:-unknown}
    client_major=${client%%.*}
    server=$(psql -XAtq --no-password -c 'SHOW server_version_num' -c 'SHOW server_version') ||
        fail "cannot read the server's version from ${PGHOST:-the local socket} port ${PGPORT:-5432}; nothing uploaded"
    set -- $server # 150014 15.14 [(Debian ...)]
    server_num=${1:-}
    server=${2:-$server_num}
    case "$client_major$server_num" in
    *[!0-9]*) fail "cannot compare pg_dump $client with server $server" ;;
    esac
    server_major=$((server_num / 10000))
    if [ "$client_major" -lt "$server_major" ]; then
        fail "pg_dump $client is older than the server (PostgreSQL $server): pg_dump cannot dump a newer server; set postgres.majorVersion to $server_major (a backup image with pg_dump $server_major or newer); nothing uploaded"
    fi
    say "pg_dump $client, server PostgreSQL $server"
}

dump() {
    check_database
    command -v pg_dump >/dev/null || fail "pg_dump is not installed"
    check_versions
    # a retried dump starts clean
    # shellcheck disable=SC2086 # $ts is a pattern
    rm -f "$work/$base"-$ts.pgdump "$work/$base"-$ts.pgdump.sha256 "$work"/.*.partial
    name="$base-$(date -u '+%Y%m%dT%H%M%SZ').pgdump"
    partial="$work/.$name.partial"
    say "dumping database $PGDATABASE from ${PGHOST:-the local socket} port ${PGPORT:-5432}"
    if ! pg_dump --format=custom --no-password --file="$partial"; then
        rm -f "$partial"
        fail "pg_dump failed; nothing uploaded"
    fi
    if ! toc=$(pg_restore --list "$partial"); then
        rm -f "$partial"
        fail "pg_restore --list cannot read the dump; nothing uploaded"
    fi
    entries=$(printf '%s\n' "$toc" | grep -vc '^;' || true)
    mv "$partial" "$work/$name"
    (cd "$work" && sha256sum "$name" >"$name.sha256") || fail "cannot write the checksum of $name"
    say "dumped $name: $(wc -c <"$work/$name" | tr -d ' ') bytes, $entries archive entries, checksum written"
}

# Checks the NAS settings and sets remote (user@host), dir (the NAS folder) and rsh.
check_nas() {
    check_database
    require BACKUP_TARGET BACKUP_RSYNC_RSH
    case "$BACKUP_TARGET" in
    ?*@?*:/*) ;;
    *) fail "BACKUP_TARGET must look like user@host:/path" ;;
    esac
    remote=${BACKUP_TARGET%%:*}
    dir=${BACKUP_TARGET#*:}
    case "$dir" in
    *"'"* | *" "* | *"*"* | *"?"* | *"["*) fail "the NAS path must not contain quotes, spaces or wildcards" ;;
    esac
    [ "$dir" = / ] || dir=${dir%/}
    rsh=$BACKUP_RSYNC_RSH
}

# Checks the upload settings (before anything is dumped, in the all mode).
check_target() {
    check_nas
    require BACKUP_RETENTION
    case "$BACKUP_RETENTION" in
    *[!0-9]*) fail "BACKUP_RETENTION must be a whole number of dumps to keep, 1 or more" ;;
    esac
    [ "$BACKUP_RETENTION" -ge 1 ] || fail "BACKUP_RETENTION must keep at least 1 dump"
}

# nas_rsync runs rsync with the NAS's ssh command.
nas_rsync() {
    rsync --rsh="$rsh" "$@"
}

# nas_names prints the names of this database's dump files (of the label, or without
# one) in the NAS folder (dumps and checksums, complete or not), sorted. The names are
# checked against the dump pattern, so they are safe as words and in filter rules.
nas_names() {
    listing=$(nas_rsync --list-only --dirs "$remote:$dir/") || return 1
    set -f
    printf '%s\n' "$listing" | while read -r perms size day time name rest; do
        [ -z "$rest" ] || continue
        case "$perms" in -*) ;; *) continue ;; esac
        # shellcheck disable=SC2254 # $ts is a pattern
        case "$name" in
        "$base"-$ts.pgdump | "$base"-$ts.pgdump.sha256)
            printf '%s\n' "$name"
            ;;
        esac
    done | LC_ALL=C sort
    set +f
}

# complete_dumps prints, newest first, the dumps among the names (nas_names) that have
# their checksum beside them.
complete_dumps() {
    names=$1
    set -f
    for n in $names; do
        case "$n" in *.sha256) ;; *) continue ;; esac
        case "
$names
" in *"
${n%.sha256}
"*) printf '%s\n' "${n%.sha256}" ;; esac
    done | LC_ALL=C sort -r
    set +f
}

# stamp prints the UTC time in a dump's name as one number (YYYYMMDDHHMMSS).
stamp() {
    t=${1#"$base"-}
    t=${t%%Z*}
    printf '%s%s\n' "${t%T*}" "${t#*T}"
}

# nas_delete removes exactly the named files from the NAS folder, through rsync: an
# empty folder is synced onto it with --delete, with filters that include only those
# names (anchored, no wildcards in them) and exclude everything else, and
# --max-delete as a second guard.
nas_delete() {
    [ $# -gt 0 ] || return 0
    empty="$work/.empty"
    mkdir -p "$empty"
    filters=$work/.filters
    : >"$filters"
    for f in "$@"; do
        printf '+ /%s\n' "$f" >>"$filters"
    done
    printf '%s\n' '- *' >>"$filters"
    nas_rsync --dirs --delete --max-delete="$#" --filter="merge $filters" "$empty/" "$remote:$dir/"
}

upload() {
    check_target
    # shellcheck disable=SC2086 # $ts is a pattern
    set -- "$work/$base"-$ts.pgdump
    [ -e "$1" ] || fail "no $(what) in $work; nothing uploaded"
    [ $# -eq 1 ] || fail "$# $(what) in $work, expected one; nothing uploaded"
    name=${1##*/}
    (cd "$work" && sha256sum -c "$name.sha256" >/dev/null) || fail "$name does not match its checksum; nothing uploaded"

    # One rsync: it sends the files in name order, the dump before its checksum, each
    # under a hidden temporary name renamed when complete. So the checksum, the
    # marker of a complete dump, appears only after the whole dump has.
    say "uploading $name to $BACKUP_TARGET"
    if ! (cd "$work" && nas_rsync --times --chmod=F0640 -- "$name" "$name.sha256" "$remote:$dir/"); then
        nas_delete "$name" "$name.sha256" >/dev/null 2>&1 || true
        fail "rsync to $remote failed; nothing uploaded"
    fi
    say "uploaded $name and $name.sha256"
    retain
}

# Keep the newest BACKUP_RETENTION complete dumps of this database (names sort by
# time) and remove older ones with their checksums, and pieces of uploads that never
# completed older than the newest complete dump. Other files are left alone.
retain() {
    names=$(nas_names) || fail "cannot list $dir on the NAS for the retention"
    complete=$(complete_dumps "$names")
    kept=0
    newest=""
    old=""
    set -f
    for d in $complete; do
        [ -n "$newest" ] || newest=$d
        kept=$((kept + 1))
        [ "$kept" -le "$BACKUP_RETENTION" ] || old="$old $d $d.sha256"
    done
    for n in $names; do
        case " $old " in *" $n "*) continue ;; esac
        case "
$complete
" in *"
${n%.sha256}
"*) continue ;; esac
        # a piece of an upload that never completed, older than the newest dump
        if [ -n "$newest" ] && [ "$(stamp "$n")" -lt "$(stamp "$newest")" ]; then
            old="$old $n"
        fi
    done
    if [ -z "$old" ]; then
        set +f
        say "retention $BACKUP_RETENTION: $kept complete dumps on the NAS, none removed"
        return
    fi
    # shellcheck disable=SC2086 # the names are checked words
    nas_delete $old || fail "retention: cannot remove old dumps from the NAS"
    set +f
    say "retention $BACKUP_RETENTION: removed$old"
}

list() {
    check_nas
    names=$(nas_names) || fail "cannot list $dir on the NAS"
    complete_dumps "$names"
}

fetch() {
    check_nas
    want=${1:-}
    [ -n "$want" ] || fail "fetch needs a dump name (or latest)"
    names=$(nas_names) || fail "cannot list $dir on the NAS"
    complete=$(complete_dumps "$names")
    if [ "$want" = latest ]; then
        set -- $complete
        [ $# -gt 0 ] || fail "no complete $(what) on the NAS"
        want=$1
    fi
    case "
$complete
" in *"
$want
"*) ;;
    *) fail "no complete dump $want among the $(what) on the NAS (backup.sh list shows them)" ;;
    esac
    nas_rsync --times -- "$remote:$dir/$want" "$remote:$dir/$want.sha256" "$work/" ||
        fail "rsync from $remote failed"
    (cd "$work" && sha256sum -c "$want.sha256" >/dev/null) || fail "$want does not match its checksum"
    printf '%s\n' "$work/$want"
}

mode=${1:-all}
case "$mode" in
dump | upload | fetch)
    require BACKUP_WORKDIR
    work=$BACKUP_WORKDIR
    [ -d "$work" ] || fail "BACKUP_WORKDIR $work is not a folder"
    shift
    "$mode" "$@"
    ;;
list) list ;;
all)
    work=$(mktemp -d "${TMPDIR:-/tmp}/backup.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    check_target
    dump
    upload
    ;;
*) fail "unknown mode $mode: use dump, upload, list, fetch NAME, or nothing for dump and upload" ;;
esac
