// Package restore is the guided, resumable Postgres restore and the restore drills.
//
// A restore goes through seven steps (Steps), each recorded in a ConfigMap beside the
// backup CronJob before the next begins, so that a restore cut off by a crash, a
// closed laptop or SIGKILL continues with Resume where it stopped:
//
//  1. preflight: a short-lived Job fetches the dump from the NAS (the bundled
//     backup.sh fetch, which checks its sha256) and reads it with restore.sh inspect:
//     the archive's table of contents, the extensions it needs (refused when the server
//     lacks one), every table's row count and the server's version; Immich's replicas
//     are recorded.
//  2. restore point: a fresh dump of the live database, made and uploaded by the
//     backup CronJob's own containers under the label "restorepoint" (its own names,
//     its own retention: it never removes a backup, nor counts as one).
//  3. scale down: Immich's Deployments to 0, waiting until their pods are gone.
//  4. restore: restore.sh restore in a Job: extensions first, the search_path fix for
//     Immich's earthdistance objects, pg_restore --clean --if-exists --no-owner with
//     --jobs N, then every table's rows compared with the dump's.
//  5. verify: the Job's comparison, table by table, read back from its log.
//  6. scale up: back to the recorded replicas, waiting for the rollout.
//  7. health: the Deployments available and, when Prometheus answers, Immich's
//     scrape targets up.
//
// A failure or an interrupt after step 3 always scales Immich back up; after the
// database was touched (step 4 began) the restore point is restored first. One
// restore runs at a time: a coordination.k8s.io Lease beside the CronJob, renewed
// while the restore runs; a Lease whose holder stopped renewing it is taken over by
// Resume of the same restore, or by another one only when forced.
//
// Drills restore a dump into a scratch database on the same server (never the live
// one), compare every table's row count with the dump's and drop it.
//
// The package is handed its clients and writers; it knows nothing of flags or commands.
package restore
