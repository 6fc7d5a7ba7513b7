#!/bin/sh
# backup.sh: dump a PostgreSQL database with pg_dump -Fc, check the archive with
# pg_restore --list, write its sha256, upload both to the NAS with rsync over SSH
# (no SFTP needed), and keep the newest BACKUP_RETENTION dumps there.
# POSIX sh: runs the same in the backup CronJob and on any Linux host.
#
#   backup.sh          dump, then upload (a host with pg_dump, rsync and ssh)
#   backup.sh dump     dump into $BACKUP_WORKDIR only (the CronJob's init container)
#   backup.sh upload   upload the dump in $BACKUP_WORKDIR (the CronJob's main container)
#
# Environment:
#   PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE  libpq's own; PGDATABASE is required
#   BACKUP_TARGET     rsync destination, user@host:/path
#   BACKUP_RSYNC_RSH  the ssh command rsync uses (key, port, host-key options),
#                     quoted as in a shell
#   BACKUP_RETENTION  dumps of this database to keep on the NAS, 1 or more
#   BACKUP_WORKDIR    where dump writes and upload reads (dump and upload modes)
#
# Writes <database>-<UTC timestamp>.pgdump and <that name>.sha256 (sha256sum format,
# relative name). A dump appears in the NAS folder only together with its checksum.
# Uploads nothing when any step fails, and exits non-zero then. Never prints the
# password: it reaches pg_dump through PGPASSWORD only, and this script neither
# traces itself (no set -x) nor prints its environment.

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

# Dump files are named after the database, so its name must be safe in a file
# name and in a remote shell command.
check_database() {
    require PGDATABASE
    case "$PGDATABASE" in
    *[!A-Za-z0-9_.-]* | .*) fail "PGDATABASE may hold only letters, digits, _ . and - (and not start with .)" ;;
    esac
}

dump() {
    check_database
    command -v pg_dump >/dev/null || fail "pg_dump is not installed"
    # a retried dump starts clean
    rm -f "$work/$PGDATABASE"-*.pgdump "$work/$PGDATABASE"-*.pgdump.sha256 "$work"/.*.partial
    name="$PGDATABASE-$(date -u '+%Y%m%dT%H%M%SZ').pgdump"
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

# Checks the upload settings (before anything is dumped, in the all mode) and sets
# remote (user@host), dir (the NAS folder) and rsh.
check_target() {
    check_database
    require BACKUP_TARGET BACKUP_RSYNC_RSH BACKUP_RETENTION
    case "$BACKUP_RETENTION" in
    *[!0-9]*) fail "BACKUP_RETENTION must be a whole number of dumps to keep, 1 or more" ;;
    esac
    [ "$BACKUP_RETENTION" -ge 1 ] || fail "BACKUP_RETENTION must keep at least 1 dump"
    case "$BACKUP_TARGET" in
    ?*@?*:/*) ;;
    *) fail "BACKUP_TARGET must look like user@host:/path" ;;
    esac
    remote=${BACKUP_TARGET%%:*}
    dir=${BACKUP_TARGET#*:}
    case "$dir" in
    *"'"* | *" "*) fail "the NAS path must not contain quotes or spaces" ;;
    esac
    [ "$dir" = / ] || dir=${dir%/}
    rsh=$BACKUP_RSYNC_RSH
}

# Runs one shell command on the NAS over ssh, the way rsync reaches it: the
# BACKUP_RSYNC_RSH command line (quoted as in a shell), then the host and the command.
on_nas() {
    eval "$rsh" '"$remote"' '"$1"' </dev/null
}

upload() {
    check_target
    set -- "$work/$PGDATABASE"-*.pgdump
    [ -e "$1" ] || fail "no dump of $PGDATABASE in $work; nothing uploaded"
    [ $# -eq 1 ] || fail "$# dumps of $PGDATABASE in $work, expected one; nothing uploaded"
    name=${1##*/}
    (cd "$work" && sha256sum -c "$name.sha256" >/dev/null) || fail "$name does not match its checksum; nothing uploaded"

    # Upload into a hidden folder first, then move both files in with one command:
    # the NAS folder never holds a dump without its checksum, nor a partial dump.
    incoming="$dir/.incoming-$name"
    say "uploading $name to $BACKUP_TARGET"
    on_nas "mkdir -p '$incoming'" || fail "cannot create $incoming on the NAS; nothing uploaded"
    if ! rsync --times --chmod=F0640 --rsh="$rsh" "$work/$name" "$work/$name.sha256" "$remote:$incoming/"; then
        on_nas "rm -rf '$incoming'" || true
        fail "rsync to $remote failed; nothing uploaded"
    fi
    if ! on_nas "mv -f '$incoming/$name' '$incoming/$name.sha256' '$dir/' && rmdir '$incoming'"; then
        on_nas "rm -rf '$incoming'" || true
        fail "cannot move $name into $dir on the NAS"
    fi
    say "uploaded $name and $name.sha256"
    retain
}

# Keep the newest BACKUP_RETENTION dumps of this database (names sort by time) and
# remove older ones with their checksums; other files in the folder are left alone.
retain() {
    listing=$(on_nas "ls -1 '$dir'") || fail "cannot list $dir on the NAS for the retention"
    kept=0
    old=""
    set -f # the listing is data: no globbing of its words
    for f in $(printf '%s\n' "$listing" | sort -r); do
        case "$f" in
        "$PGDATABASE"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.pgdump) ;;
        *) continue ;;
        esac
        kept=$((kept + 1))
        [ "$kept" -le "$BACKUP_RETENTION" ] || old="$old '$dir/$f' '$dir/$f.sha256'"
    done
    set +f
    if [ -z "$old" ]; then
        say "retention $BACKUP_RETENTION: $kept dumps on the NAS, none removed"
        return
    fi
    on_nas "rm -f --$old" || fail "retention: cannot remove old dumps from the NAS"
    say "retention $BACKUP_RETENTION: removed$old"
}

mode=${1:-all}
case "$mode" in
dump | upload)
    require BACKUP_WORKDIR
    work=$BACKUP_WORKDIR
    [ -d "$work" ] || fail "BACKUP_WORKDIR $work is not a folder"
    "$mode"
    ;;
all)
    work=$(mktemp -d "${TMPDIR:-/tmp}/backup.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    check_target
    dump
    upload
    ;;
*) fail "unknown mode $mode: use dump, upload, or nothing for both" ;;
esac
