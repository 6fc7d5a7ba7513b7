// Package testbed starts a local Kubernetes control plane of real servers for tests and the
// demo: etcd, kube-apiserver (RBAC, client certificates), kube-controller-manager,
// kube-scheduler and kwok as a fake kubelet with one node, all on free loopback ports, with
// the real CRDs of the bundle installed. With root it also runs real Prometheus,
// Alertmanager and Postgres inside a network namespace, behind fake pods and Services named
// as on the real cluster (see StartMonitoring). Binaries come from hack/build-testbed.sh.
//
// A test package shares one bed:
//
//	func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }
//
//	func TestX(t *testing.T) {
//		c := testbed.Require(t)       // or c, m := testbed.RequireMonitoring(t) (root)
//		ns := c.Namespace(t)          // deleted when the test ends
//		... c.Client, c.Kubeconfig, c.NoRightsKubeconfig, m.Prometheus.URL ...
//	}
//
// Without a build the tests skip, and fail when CI=true. PICLUSTER_TESTBED_DIR names the
// build (make test sets it to the output of hack/build-testbed.sh). Beds take unique slots
// (names, addresses, temp dirs), so test packages may run in parallel (go test -p N).
package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// Options tune Start. The zero value is fine.
type Options struct {
	// Dir is the working directory (certificates, kubeconfigs, logs). Default: a new
	// temporary directory that Stop removes unless KeepDir is set.
	Dir string
	// KeepDir keeps Dir after Stop (for reading logs).
	KeepDir bool
	// BinDir is the build of hack/build-testbed.sh. Default: BinDir().
	BinDir string
	// Logf reports progress; nil reports nothing.
	Logf func(format string, args ...any)
	// SkipCRDs leaves the generated CRDs out.
	SkipCRDs bool
	// SimulateAllPods leaves every pod to kwok's simulation, even as root (see package
	// podrun for the pods that run otherwise).
	SimulateAllPods bool
	// BeforeStart, when set, is called with each control-plane server's name (etcd,
	// kube-apiserver, kwok) and the ports chosen for it, before each attempt to start it:
	// tests take a port there to make the start lose a race.
	BeforeStart func(server string, ports []int)
}

// Cluster is a running bed. Stop it with Stop (idempotent).
type Cluster struct {
	// Dir is the working directory; logs are in Dir/logs.
	Dir string
	// BinDir is the build the bed runs from (bin/, crds/, kwok/stages/).
	BinDir string
	// Server is the API server URL (https://127.0.0.1:PORT).
	Server string
	// Kubeconfig is an admin kubeconfig (client certificate in group system:masters).
	Kubeconfig string
	// NoRightsKubeconfig is a kubeconfig of NoRightsUser, to whom RBAC grants nothing.
	NoRightsKubeconfig string
	// NoRightsUser is the user name of NoRightsKubeconfig.
	NoRightsUser string
	// KubeVersion is the API server's version (e.g. v1.37.2).
	KubeVersion string
	// Kubectl is the path of the matching kubectl.
	Kubectl string
	// LogsFile is the CRI-format file kwok serves as every pod's log; tests may write it.
	LogsFile string
	// Config is an admin client config; Client and Dynamic are admin clients.
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Slot is the bed's slot: it names its network namespace and veths (see NetworkLeftovers).
	Slot int
	// Runtime runs the pods whose images are in podrun's table (real processes, see package
	// podrun); nil without root, when kwok simulates every pod.
	Runtime *podrun.Runtime

	opts       Options
	ownDir     bool
	etcdDir    string
	slot       *slot
	certs      *certificates
	mu         sync.Mutex
	procs      []*proc.Process
	monitoring *Monitoring
	kubelet    *podrun.Server
	nas        []*servers.NAS
	nasMu      sync.Mutex
	bedNAS     *BedNAS
	runPods    bool
	netUp      bool
	pgPassword string
	stopOnce   sync.Once
	stopErr    error
}

// Start starts a bed and returns when the API server is ready, the node is Ready and the
// CRDs are Established. On error everything already started is stopped again.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	began := time.Now()
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.BinDir == "" {
		if o.BinDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	vers, err := versions(o.BinDir)
	if err != nil {
		return nil, err
	}
	c = &Cluster{BinDir: o.BinDir, opts: o, Dir: o.Dir, NoRightsUser: noRightsUser, KubeVersion: vers["KUBE_VERSION"]}
	defer func() {
		if r := recover(); r != nil {
			_ = c.Stop()
			panic(r)
		}
		if err != nil {
			err = fmt.Errorf("start test bed: %w", err)
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			c = nil
		}
	}()
	if err := c.prepare(); err != nil {
		return c, err
	}
	// With root, pods of the table's images really run: they need the bed's network.
	c.runPods = os.Geteuid() == 0 && !o.SimulateAllPods
	if c.runPods {
		if err := c.slot.setupNetwork(serverAddrs); err != nil {
			return c, err
		}
		c.netUp = true
	}
	if err := c.startControlPlane(ctx); err != nil {
		return c, err
	}
	o.Logf("testbed: control plane up at %s after %s", c.Server, time.Since(began).Round(time.Millisecond))
	if !o.SkipCRDs {
		if err := applyCRDs(ctx, c.Dynamic, filepath.Join(c.BinDir, "crds")); err != nil {
			return c, err
		}
		o.Logf("testbed: CRDs established after %s", time.Since(began).Round(time.Millisecond))
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return c, err
	}
	if c.runPods {
		if c.Runtime, err = podrun.Start(ctx, podrun.Config{
			Client: c.Client, NodeName: NodeName, HostIP: "127.0.0.1", Dir: filepath.Join(c.Dir, "pods"), Logf: o.Logf,
			Network: &podrun.Network{
				NodeNetNS: c.slot.NetNS(), NodeVeth: c.slot.NSVeth(), IfPrefix: VethPrefix + strconv.Itoa(c.slot.Index),
				IP: func(n int) string { return c.slot.Addr(podAddrFirst + n) }, Size: podAddrCount,
			},
		}); err != nil {
			return c, err
		}
		c.kubelet.SetRuntime(c.Runtime)
	}
	o.Logf("testbed: ready after %s (dir %s)", time.Since(began).Round(time.Millisecond), c.Dir)
	return c, nil
}

// prepare claims a slot, makes the directories (named after the slot, so the next bed
// on the slot removes what a killed run left) and writes the certificates.
func (c *Cluster) prepare() error {
	var err error
	if c.slot, err = claimSlot(); err != nil {
		return err
	}
	c.Slot = c.slot.Index
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", c.slot.tempPrefix()); err != nil {
			return fmt.Errorf("make work dir: %w", err)
		}
		c.ownDir = true
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("make log dir: %w", err)
	}
	c.etcdDir = c.slot.etcdDir()
	if err := os.MkdirAll(c.etcdDir, 0o700); err != nil {
		return fmt.Errorf("make etcd data dir: %w", err)
	}
	if c.certs, err = newCertificates(); err != nil {
		return err
	}
	if c.pgPassword, err = randomPassword(); err != nil {
		return err
	}
	c.Kubectl = filepath.Join(c.BinDir, "bin", "kubectl")
	c.LogsFile = filepath.Join(c.Dir, "pod.log")
	line := time.Now().UTC().Format(time.RFC3339Nano) + " stdout F fake container log (written by pkg/testbed)\n"
	if err := os.WriteFile(c.LogsFile, []byte(line), 0o644); err != nil {
		return fmt.Errorf("write pod log file: %w", err)
	}
	return nil
}

// startProcess starts one binary of the build with its log in Dir/logs.
func (c *Cluster) startProcess(name string, args ...string) (*proc.Process, error) {
	p, err := proc.Start(proc.Spec{
		Name:    name,
		Path:    filepath.Join(c.BinDir, "bin", name),
		Args:    args,
		Dir:     c.Dir,
		LogFile: filepath.Join(c.Dir, "logs", name+".log"),
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// Stop stops every process (monitoring servers first, etcd last), removes the network
// namespace and veth, frees the slot and removes the temporary directories. Idempotent.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	c.stopOnce.Do(func() {
		var errs []error
		if c.Runtime != nil {
			errs = append(errs, c.Runtime.Stop())
		}
		if c.monitoring != nil {
			errs = append(errs, c.monitoring.stop())
		}
		for _, n := range c.nas {
			errs = append(errs, n.Stop())
		}
		c.mu.Lock()
		procs := c.procs
		c.procs = nil
		c.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", procs[i].Spec.Name, err))
			}
		}
		if c.kubelet != nil {
			errs = append(errs, c.kubelet.Close())
		}
		if c.slot != nil {
			if os.Geteuid() == 0 {
				c.slot.removeNetwork()
			}
			c.slot.release()
		}
		if c.etcdDir != "" {
			errs = append(errs, os.RemoveAll(c.etcdDir))
		}
		if c.ownDir && !c.opts.KeepDir {
			errs = append(errs, os.RemoveAll(c.Dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// PIDs lists the live process IDs of everything the bed started, children included (for
// leak checks: take them before Stop).
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, p := range c.procs {
		pids = append(pids, p.Tree()...)
	}
	if c.monitoring != nil {
		pids = append(pids, c.monitoring.pids()...)
	}
	for _, n := range c.nas {
		if n.Process != nil {
			pids = append(pids, n.Process.Tree()...)
		}
	}
	if c.Runtime != nil {
		pids = append(pids, c.Runtime.PIDs()...)
	}
	return pids
}

// RSS is the resident memory of every process of the bed (servers included), in bytes.
func (c *Cluster) RSS() int64 {
	c.mu.Lock()
	procs := append([]*proc.Process(nil), c.procs...)
	m := c.monitoring
	c.mu.Unlock()
	if m != nil {
		procs = append(procs, m.processes()...)
	}
	for _, n := range c.nas {
		if n.Process != nil {
			procs = append(procs, n.Process)
		}
	}
	var total int64
	for _, p := range procs {
		if rss, err := p.RSS(); err == nil {
			total += rss
		}
	}
	return total
}

// Leftovers lists what of this bed still exists after Stop: processes, network namespace,
// veth. Empty means a clean teardown.
func (c *Cluster) Leftovers(pids []int) []string {
	var left []string
	for _, pid := range pids {
		if proc.Alive(pid) {
			left = append(left, "process "+strconv.Itoa(pid))
		}
	}
	return append(left, NetworkLeftovers(c.Slot)...)
}
