package servers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// TestServersInNetNS runs every server inside a network namespace of its own address, as
// the cluster test bed does, and reaches each from the host over a veth pair.
func TestServersInNetNS(t *testing.T) {
	proc.SkipServersUnderShort(t, "every server in a network namespace")
	proc.RequireRoot(t, "network namespaces")
	addr := testNetwork(t)
	own, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	inNS := func(t *testing.T, p *proc.Process) {
		t.Helper()
		ns, err := os.Readlink("/proc/" + strconv.Itoa(p.PID()) + "/ns/net")
		require.NoError(t, err)
		assert.NotEqual(t, own, ns, "%s runs in the test's network namespace", p.Spec.Name)
	}

	t.Run("prometheus", func(t *testing.T) {
		o := Options{NetNS: addr.ns, Host: addr.ip(2)}
		started := time.Now()
		p := PrometheusT(t, o, "", nil)
		logStart(t, "prometheus in netns", started, p.Process)
		inNS(t, p.Process)
		assert.Equal(t, "http://"+addr.ip(2)+":"+strconv.Itoa(p.Port), p.URL)
		var q promResponse
		getJSON(t, p.URL+"/api/v1/query?query=vector(1)", &q)
		assert.Equal(t, "success", q.Status)
		pids := p.Process.Tree()
		require.NoError(t, p.Stop())
		assertGone(t, pids)
	})
	t.Run("alertmanager", func(t *testing.T) {
		a := AlertmanagerT(t, Options{NetNS: addr.ns, Host: addr.ip(3)}, "")
		inNS(t, a.Process)
		var status struct{ Cluster struct{ Status string } }
		getJSON(t, a.URL+"/api/v2/status", &status)
		assert.Equal(t, "disabled", status.Cluster.Status)
	})
	t.Run("postgres", func(t *testing.T) {
		started := time.Now()
		p := PostgresT(t, Options{NetNS: addr.ns, Host: addr.ip(4)}, "immich", "netns-secret")
		logStart(t, "postgres in netns", started, p.Process)
		inNS(t, p.Process)
		got, err := p.Exec(ctx(t), "SELECT current_database()")
		require.NoError(t, err)
		assert.Equal(t, "immich", got)
		pids := p.Process.Tree()
		require.NoError(t, p.Stop())
		assertGone(t, pids)
	})
	t.Run("nas", func(t *testing.T) {
		n := NAST(t, Options{NetNS: addr.ns, Host: addr.ip(5)})
		inNS(t, n.Process)
		src := filepath.Join(t.TempDir(), "f.txt")
		require.NoError(t, os.WriteFile(src, []byte("hello"), 0o600))
		out, err := exec.Command("rsync", "-e", n.RsyncRSH(), src, n.Target()+"/").CombinedOutput()
		require.NoError(t, err, string(out))
		got, err := os.ReadFile(filepath.Join(n.Path, "f.txt"))
		require.NoError(t, err)
		assert.Equal(t, "hello", string(got))
	})
}

// testNet is a network namespace joined to the host by a veth pair: host .1, servers .2+.
type testNet struct {
	ns, prefix string
}

func (n testNet) ip(i int) string { return n.prefix + strconv.Itoa(i) }

// testNetwork creates a namespace and veth pair in 10.251.<pid%250>.0/24 (the cluster test
// bed uses 10.250/16) and removes both at cleanup.
func testNetwork(t *testing.T) testNet {
	t.Helper()
	ip := proc.RequireBinary(t, "ip")
	id := os.Getpid() % 10000
	n := testNet{ns: fmt.Sprintf("picluster-srv%d", id), prefix: fmt.Sprintf("10.251.%d.", os.Getpid()%250)}
	host, peer := fmt.Sprintf("pisrv%dh", id), fmt.Sprintf("pisrv%dn", id)
	run := func(args ...string) {
		out, err := exec.Command(ip, args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	_ = exec.Command(ip, "link", "del", host).Run() // leftovers of a killed run
	_ = exec.Command(ip, "netns", "del", n.ns).Run()
	t.Cleanup(func() {
		_ = exec.Command(ip, "link", "del", host).Run()
		_ = exec.Command(ip, "netns", "del", n.ns).Run()
	})
	run("netns", "add", n.ns)
	run("link", "add", host, "type", "veth", "peer", "name", peer)
	run("link", "set", peer, "netns", n.ns)
	run("addr", "add", n.ip(1)+"/24", "dev", host)
	run("link", "set", host, "up")
	run("-n", n.ns, "link", "set", "lo", "up")
	run("-n", n.ns, "link", "set", peer, "up")
	for i := 2; i <= 5; i++ {
		run("-n", n.ns, "addr", "add", n.ip(i)+"/24", "dev", peer)
	}
	return n
}
