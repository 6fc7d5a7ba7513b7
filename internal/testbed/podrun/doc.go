// Package podrun is the test bed's process runtime: it makes some of kwok's fake pods real.
//
// kwok simulates every pod of the bed's node: no container runs. A backup tested there
// proves that a Job object was made, not that a dump reached the NAS. podrun runs the pods
// whose every image is in a small, explicit table (Images): the image is not pulled, its
// tag is recorded, and the programs it would hold are the host's Debian ones (the Postgres
// image's pg_dump/pg_restore/psql are Debian's PostgreSQL client of the same major version,
// the rsync-ssh image's rsync and ssh are Debian's, sh is dash). kwok's pod Stages are told
// to leave those pods alone (KwokSelector); every other pod keeps kwok's simulation.
//
// What a run pod gets, as a kubelet would give it:
//   - its own network namespace and pod IP, a veth into the bed's network namespace (which
//     routes between pods, the real servers and the host: see network.go), and a hosts file
//     in which the cluster's Service names (<svc>.<ns>.svc, .svc.cluster.local) resolve to
//     their endpoints (there is no cluster DNS and no kube-proxy on the bed);
//   - per container, a private mount, PID, UTS and IPC namespace whose root is a directory
//     of the pod (the host's /usr and /etc read-only, the rest the container's own), its
//     volumes (emptyDir, ConfigMap and Secret with items, modes and fsGroup) at their
//     mountPath, readOnlyRootFilesystem, runAsUser/runAsGroup/fsGroup/supplementalGroups,
//     runAsNonRoot and allowPrivilegeEscalation=false (no_new_privs); capabilities are not
//     narrowed for root containers (a process cannot do that without libcap: said here);
//   - env from value, secretKeyRef, configMapKeyRef, the basic fieldRefs and envFrom, with
//     $(VAR) expansion in values, command and args;
//   - init containers in order, then the containers; restartPolicy; the status a kubelet
//     reports (phase, conditions, container states with exit codes and reasons, restart
//     counts, last states); deletion ends the containers with SIGTERM, then SIGKILL after
//     the grace period (PID 1 of a container ignores SIGTERM unless it handles it, as in a
//     real container), and the pod object is removed;
//   - logs in CRI format per container run, and exec, served through the API server by the
//     node's kubelet endpoint (Server), which hands every other request to kwok.
//
// A container's process is this binary again (reexec): the runtime starts
// /proc/self/exe with ContainerInitEnv set and new namespaces; MaybeRunContainerInit, called
// first thing in TestMain (testbed.RunMain) and in the demo's main, sets the container up and
// execs its command. It serves tests and the demo only.
package podrun
