package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/picluster/kubectl-picluster/internal/testbed/podrun"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// startTimeout bounds each component's wait for readiness.
const startTimeout = 60 * time.Second

// startControlPlane starts etcd, kube-apiserver, the controller-manager, the scheduler and
// kwok, and registers the fake node. Each server that listens gets fresh ports of its own
// and is started again on new ones when another process takes a port first.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	files, err := c.certs.writeFiles(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return err
	}
	etcdURL, err := c.startEtcd(ctx)
	if err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, files, etcdURL); err != nil {
		return err
	}
	if _, err := c.startProcess("kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig, "--controllers=*", "--use-service-account-credentials=true",
		"--service-account-private-key-file="+files["sa.key"], "--root-ca-file="+files["ca.crt"],
		"--leader-elect=false", "--secure-port=0", "--profiling=false"); err != nil {
		return err
	}
	if _, err := c.startProcess("kube-scheduler",
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--profiling=false"); err != nil {
		return err
	}
	if err := createNode(ctx, c.Client); err != nil {
		return err
	}
	return c.startKwok(ctx, files)
}

// startEtcd starts etcd on a client and a peer port and returns its client URL.
func (c *Cluster) startEtcd(ctx context.Context) (string, error) {
	url := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	_, ports, err := proc.StartOnPorts(ctx, proc.PortStart{
		Name: "etcd", N: 2,
		Start: func(ports []int) (*proc.Process, error) {
			c.beforeStart("etcd", ports)
			// A failed attempt may have written the old peer URL into the data.
			if err := resetDir(c.etcdDir); err != nil {
				return nil, err
			}
			client, peer := url(ports[0]), url(ports[1])
			return c.startProcess("etcd",
				"--name=testbed", "--data-dir="+c.etcdDir,
				"--listen-client-urls="+client, "--advertise-client-urls="+client,
				"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
				"--initial-cluster=testbed="+peer, "--unsafe-no-fsync", "--log-level=warn")
		},
		Ready: func(ctx context.Context, ports []int) error {
			return waitReady(ctx, func(ctx context.Context) error { return proc.WaitHTTP(ctx, url(ports[0])+"/health") })
		},
	})
	if err != nil {
		return "", err
	}
	return url(ports[0]), nil
}

// startAPIServer starts kube-apiserver and points the bed's kubeconfigs and clients at it.
func (c *Cluster) startAPIServer(ctx context.Context, files map[string]string, etcdURL string) error {
	_, _, err := proc.StartOnPorts(ctx, proc.PortStart{
		Name: "kube-apiserver",
		Start: func(ports []int) (*proc.Process, error) {
			c.beforeStart("kube-apiserver", ports)
			if err := c.connect("https://127.0.0.1:" + strconv.Itoa(ports[0])); err != nil {
				return nil, err
			}
			return c.startProcess("kube-apiserver",
				"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
				"--tls-cert-file="+files["apiserver.crt"], "--tls-private-key-file="+files["apiserver.key"],
				"--client-ca-file="+files["ca.crt"], "--authorization-mode=RBAC", "--anonymous-auth=false",
				"--service-cluster-ip-range=10.0.0.0/24",
				"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
				"--service-account-key-file="+files["sa.pub"], "--service-account-signing-key-file="+files["sa.key"],
				"--kubelet-client-certificate="+files["kubelet-client.crt"], "--kubelet-client-key="+files["kubelet-client.key"],
				"--kubelet-preferred-address-types=InternalIP", "--allow-privileged=true", "--profiling=false")
		},
		Ready: func(ctx context.Context, _ []int) error { return waitReady(ctx, c.waitAPIReady) },
	})
	return err
}

// connect writes the kubeconfigs for the API server at server and makes the clients.
func (c *Cluster) connect(server string) error {
	c.Server = server
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	c.NoRightsKubeconfig = filepath.Join(c.Dir, "norights.kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.Server, c.certs.CA.CertPEM, "picluster-admin", c.certs.Admin); err != nil {
		return err
	}
	if err := writeKubeconfig(c.NoRightsKubeconfig, c.Server, c.certs.CA.CertPEM, noRightsUser, c.certs.NoRights); err != nil {
		return err
	}
	c.Config = restConfig(c.Server, c.certs.CA.CertPEM, c.certs.Admin)
	var err error
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("make kube client: %w", err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("make dynamic client: %w", err)
	}
	return nil
}

// resetDir empties dir (keeping it, with mode 0700).
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("reset %s: %w", dir, err)
	}
	return nil
}

// startKwok writes kwok's config and starts it as the fake kubelet of the node; it is
// started when it serves the kubelet API on its port.
func (c *Cluster) startKwok(ctx context.Context, files map[string]string) (err error) {
	m := c.monitoringLayout()
	forwards := make([]portForward, 0, len(m))
	for _, s := range m {
		forwards = append(forwards, portForward{Namespace: s.Namespace, Pod: s.Pod, Address: s.IP, Port: s.Port})
	}
	pg := m[componentPostgres]
	execEnv := map[string][]envVar{
		pg.Namespace + "/" + pg.Pod: {
			{Name: "PGHOST", Value: pg.IP}, {Name: "PGPORT", Value: strconv.Itoa(pg.Port)},
			{Name: "PGUSER", Value: postgresUser}, {Name: "PGDATABASE", Value: postgresDatabase},
			{Name: "PGPASSWORD", Value: c.pgPassword},
		},
	}
	// The node's kubelet endpoint is ours (podrun.Server): it serves logs and exec of the
	// pods that really run and hands the rest to kwok. It holds its port from now on.
	if c.kubelet, err = podrun.Listen(files["kwok.crt"], files["kwok.key"]); err != nil {
		return err
	}
	var runSelector string
	if c.runPods {
		images, err := podrun.TableForHost()
		if err != nil {
			return err
		}
		runSelector = podrun.KwokSelector(images)
	}
	cfg, err := kwokConfig(filepath.Join(c.BinDir, "kwok", "stages"), c.LogsFile, c.Dir, forwards, execEnv, runSelector)
	if err != nil {
		return err
	}
	cfgFile := filepath.Join(c.Dir, "kwok.yaml")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	var kwok *proc.Process
	_, _, err = proc.StartOnPorts(ctx, proc.PortStart{
		Name: "kwok",
		Start: func(ports []int) (*proc.Process, error) {
			c.beforeStart("kwok", ports)
			port := strconv.Itoa(ports[0])
			kwok, err = c.startProcess("kwok",
				"--config="+cfgFile, "--kubeconfig="+c.Kubeconfig, "--manage-all-nodes=true",
				"--node-ip=127.0.0.1", "--node-port="+strconv.Itoa(c.kubelet.Port()), "--server-address=127.0.0.1:"+port,
				"--tls-cert-file="+files["kwok.crt"], "--tls-private-key-file="+files["kwok.key"],
				"--node-lease-duration-seconds=40", "--cidr="+c.slot.PodCIDR())
			return kwok, err
		},
		Ready: func(ctx context.Context, ports []int) error {
			if err := waitReady(ctx, func(ctx context.Context) error { return kwok.WaitListening(ctx, ports) }); err != nil {
				return err
			}
			c.kubelet.SetKwok(&url.URL{Scheme: "https", Host: "127.0.0.1:" + strconv.Itoa(ports[0])})
			return nil
		},
	})
	return err
}

// beforeStart calls Options.BeforeStart when set.
func (c *Cluster) beforeStart(server string, ports []int) {
	if c.opts.BeforeStart != nil {
		c.opts.BeforeStart(server, ports)
	}
}

// waitReady runs wait bounded by startTimeout.
func waitReady(ctx context.Context, wait func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return wait(ctx)
}

// waitAPIReady polls /readyz with the admin client (anonymous requests are refused).
func (c *Cluster) waitAPIReady(ctx context.Context) error {
	return proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		res := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx)
		var code int
		res.StatusCode(&code)
		return res.Error() == nil && code == 200, nil
	})
}

// waitNodeReady waits until kwok marked the node Ready and the default service account
// exists (pods are refused before it does).
func (c *Cluster) waitNodeReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err := proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for node %s to be Ready: %w\n%s", NodeName, err, c.tail("kwok"))
	}
	c.opts.Logf("testbed: node %s Ready", NodeName)
	if err := waitServiceAccount(ctx, c, "default"); err != nil {
		return fmt.Errorf("%w\n%s", err, c.tail("kube-controller-manager"))
	}
	return nil
}

// waitServiceAccount waits for the namespace's default service account, which the
// controller-manager creates; pods are refused until it exists.
func waitServiceAccount(ctx context.Context, c *Cluster, ns string) error {
	err := proc.WaitFor(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("wait for service account %s/default: %w", ns, err)
	}
	return nil
}

// tail is the end of a component's log, for error messages.
func (c *Cluster) tail(name string) string {
	return proc.TailFile(filepath.Join(c.Dir, "logs", name+".log"), 30)
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
