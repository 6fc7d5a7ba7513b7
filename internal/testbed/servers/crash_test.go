package servers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// TestCrashedTestLeavesNoServers runs this test binary as a helper that starts every
// server and exits without stopping any: all their processes must die with it.
func TestCrashedTestLeavesNoServers(t *testing.T) {
	if os.Getenv("SERVERS_CRASH_HELPER") != "" {
		crashHelper()
		return
	}
	proc.SkipServersUnderShort(t, "every server")
	proc.RequireRoot(t, "sshd and postgres as its own user")
	for _, b := range []string{"prometheus", "alertmanager", "postgres", "sshd"} {
		proc.RequireBinary(t, b)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashedTestLeavesNoServers$")
	cmd.Env = append(os.Environ(), "SERVERS_CRASH_HELPER=1", "SERVERS_DIR="+t.TempDir())
	out, err := cmd.Output()
	require.Error(t, err, "the helper exits 3 on purpose")
	line := lastLine(string(out))
	require.True(t, strings.HasPrefix(line, "pids "), "helper output: %s", out)
	var pids []int
	for _, f := range strings.Fields(strings.TrimPrefix(line, "pids ")) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	require.Greater(t, len(pids), 8)
	require.NoError(t, proc.WaitFor(ctx(t), 50*time.Millisecond, func(context.Context) (bool, error) {
		for _, pid := range pids {
			if proc.Alive(pid) {
				return false, nil
			}
		}
		return true, nil
	}), "server processes outlived the crashed test")
}

func crashHelper() {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := Options{Dir: os.Getenv("SERVERS_DIR")}
	var procs []*proc.Process
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	p, err := StartPrometheus(c, o, "", nil)
	if err != nil {
		fail(err)
	}
	a, err := StartAlertmanager(c, o, "")
	if err != nil {
		fail(err)
	}
	pg, err := StartPostgres(c, o, "immich", "pw")
	if err != nil {
		fail(err)
	}
	n, err := StartNAS(c, o)
	if err != nil {
		fail(err)
	}
	procs = append(procs, p.Process, a.Process, pg.Process, n.Process)
	var pids []string
	for _, pr := range procs {
		for _, pid := range pr.Tree() {
			pids = append(pids, strconv.Itoa(pid))
		}
	}
	fmt.Println("pids " + strings.Join(pids, " "))
	os.Exit(3)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
