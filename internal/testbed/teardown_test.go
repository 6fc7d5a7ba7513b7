package testbed_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// panicChildEnv makes the test binary a child that starts a bed and panics (see TestMain).
const panicChildEnv = "PICLUSTER_TESTBED_PANIC_CHILD"

// processesIn lists the processes whose working directory is dir or below: every process
// a bed starts runs in its Dir.
func processesIn(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		found = append(found, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
	}
	return found
}

// mountsUnder lists the mount points of this machine's mount namespace under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			found = append(found, f[4])
		}
	}
	return found
}

func TestStopLeavesNothingBehind(t *testing.T) {
	bin := testbed.RequireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := testbed.Start(ctx, testbed.Options{BinDir: bin})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("bed started in %s", time.Since(began).Round(time.Millisecond))
	want := 5 // etcd, apiserver, controller-manager, scheduler, kwok
	if os.Geteuid() == 0 {
		_, err := c.StartMonitoring(ctx, testbed.MonitoringOptions{})
		require.NoError(t, err)
		_, err = c.StartNAS(ctx)
		require.NoError(t, err)
		want += 4
		// Two pods that really run, one of them with a volume mounted (the bed stops them
		// with the rest: no process, mount or pod network namespace may stay).
		for _, name := range []string{"runs-a", "runs-b"} {
			pod := shellPod("default", name, "sleep 3600")
			pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
			pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			_, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		require.NoError(t, proc.WaitFor(ctx, 100*time.Millisecond, func(context.Context) (bool, error) {
			return len(c.Runtime.PIDs()) == 2, nil
		}), "both pods run")
		want += 2
	} else {
		t.Log("not root: the network namespace part is not covered")
	}
	pids := c.PIDs()
	require.GreaterOrEqual(t, len(pids), want)
	t.Logf("bed with %d processes started in %s, RSS %d MiB", len(pids), time.Since(began).Round(time.Millisecond), c.RSS()>>20)
	dir := c.Dir

	require.NoError(t, c.Stop())
	assert.Empty(t, c.Leftovers(pids))
	assert.Empty(t, processesIn(dir))
	assert.Empty(t, mountsUnder(t, dir), "no mount of the bed is left (the pods' mounts die with their mount namespaces)")
	assert.NoDirExists(t, dir)
	if os.Geteuid() == 0 {
		assert.Empty(t, testbed.NetworkLeftovers(c.Slot))
	}
}

func TestStartFailureLeavesNothingBehind(t *testing.T) {
	bin := testbed.RequireBinaries(t)
	// A build whose kwok stages are missing fails after the control plane is up.
	broken := t.TempDir()
	for _, name := range []string{"bin", "crds", "versions.env"} {
		require.NoError(t, os.Symlink(filepath.Join(bin, name), filepath.Join(broken, name)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(broken, "kwok", "stages"), 0o755))
	dir := filepath.Join(t.TempDir(), "bed")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testbed.Start(ctx, testbed.Options{BinDir: broken, Dir: dir, KeepDir: true})
	require.Error(t, err)
	assert.Nil(t, c)
	assert.Contains(t, err.Error(), "kwok stage")
	assert.FileExists(t, filepath.Join(dir, "logs", "kube-apiserver.log"), "the control plane was started")
	assert.Empty(t, processesIn(dir))
}

// panicChild starts a bed (with the servers when root), records it, and panics, as a test
// that crashes does. It never returns.
func panicChild(dir string) {
	ctx := context.Background()
	c, err := testbed.Start(ctx, testbed.Options{Dir: dir, KeepDir: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if os.Geteuid() == 0 {
		if _, err := c.StartMonitoring(ctx, testbed.MonitoringOptions{NoPostgres: true}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "slot"), []byte(strconv.Itoa(c.Slot)), 0o644)
	panic("deliberate panic with a running test bed")
}

func TestPanicLeavesNoProcessAndTheNextBedCleansUp(t *testing.T) {
	testbed.RequireBinaries(t)
	dir := filepath.Join(t.TempDir(), "bed")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), panicChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child must die of its panic")
	require.Contains(t, string(out), "deliberate panic", string(out))
	slotData, err := os.ReadFile(filepath.Join(dir, "slot"))
	require.NoError(t, err, string(out))
	slot, err := strconv.Atoi(string(slotData))
	require.NoError(t, err)

	// The parent-death signal kills every process at once.
	require.Eventually(t, func() bool { return len(processesIn(dir)) == 0 }, 10*time.Second, 50*time.Millisecond,
		"processes left: %v", processesIn(dir))
	// Nothing ran the cleanup: the etcd data (and, as root, the network) stay until the
	// slot is taken again or RemoveLeftovers runs.
	etcdDir := fmt.Sprintf("/dev/shm/%s%d-etcd", testbed.NetNSPrefix, slot)
	assert.DirExists(t, etcdDir)
	if os.Geteuid() == 0 {
		assert.NotEmpty(t, testbed.NetworkLeftovers(slot))
	}
	removed, err := testbed.RemoveLeftovers()
	require.NoError(t, err)
	assert.Contains(t, removed, etcdDir)
	assert.NoDirExists(t, etcdDir)
	assert.Empty(t, testbed.NetworkLeftovers(slot))
}

// TestStartSurvivesLostPortRaces takes the first ports chosen for etcd, kube-apiserver and
// kwok before each starts, as another process may: each loses the race once, is started
// again on fresh ports, and the bed works on ports that are its own.
func TestStartSurvivesLostPortRaces(t *testing.T) {
	bin := testbed.RequireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	attempts := map[string][][]int{}
	c, err := testbed.Start(ctx, testbed.Options{BinDir: bin, BeforeStart: func(server string, ports []int) {
		mu.Lock()
		defer mu.Unlock()
		attempts[server] = append(attempts[server], ports)
		if len(attempts[server]) > 1 {
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(ports[0]))
		require.NoError(t, err, "take %s's port %d", server, ports[0])
		t.Cleanup(func() { _ = l.Close() })
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	for _, server := range []string{"etcd", "kube-apiserver", "kwok"} {
		require.Len(t, attempts[server], 2, "%s: one lost race, one start", server)
		assert.NotEqual(t, attempts[server][0], attempts[server][1], "%s restarted on fresh ports", server)
	}
	assert.Equal(t, "https://127.0.0.1:"+strconv.Itoa(attempts["kube-apiserver"][1][0]), c.Server)
	v, err := c.Client.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, c.KubeVersion, v.GitVersion)
	// Start waited for the node to be Ready: kwok runs it from its second port.
}
