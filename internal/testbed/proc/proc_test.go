package proc

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	require.NoError(t, err)
	assert.Greater(t, p, 1023)
	assert.Less(t, p, 65536)
}

func TestStartStopLeavesNothing(t *testing.T) {
	tests := map[string]struct {
		script      string
		procs       int
		stopTimeout time.Duration
		leaderOnly  bool
	}{
		"exits on SIGTERM": {script: "sleep 300 & wait", procs: 2},
		"ignores SIGTERM, killed after timeout": {
			script: `trap "" TERM; sleep 300 & sleep 300 & wait`, procs: 3, stopTimeout: 300 * time.Millisecond,
		},
		"child left the process group": {
			script: `setsid sleep 300 & sleep 300 & wait`, procs: 3,
		},
		"leader only": {script: "sleep 300 & wait", procs: 2, leaderOnly: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Start(Spec{
				Name: "sh", Path: "/bin/sh", Args: []string{"-c", tc.script}, Dir: dir,
				StopTimeout: tc.stopTimeout, SignalLeaderOnly: tc.leaderOnly,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Stop() })
			require.NoError(t, WaitFor(ctxT(t, 5*time.Second), 20*time.Millisecond, func(context.Context) (bool, error) {
				return len(p.Tree()) >= tc.procs, nil
			}))
			pids := p.Tree()
			rss, err := p.RSS()
			require.NoError(t, err)
			assert.Positive(t, rss)
			pss, err := p.PSS()
			require.NoError(t, err)
			assert.Positive(t, pss)
			assert.LessOrEqual(t, pss, rss)

			stopErr := p.Stop()
			if tc.stopTimeout > 0 {
				assert.ErrorContains(t, stopErr, "killed")
			} else {
				assert.NoError(t, stopErr)
			}
			for _, pid := range pids {
				assert.False(t, Alive(pid), "pid %d still alive", pid)
			}
			assert.Equal(t, stopErr, p.Stop(), "Stop is idempotent")
			exited, _ := p.Exited()
			assert.True(t, exited)
		})
	}
}

func TestStopConcurrent(t *testing.T) {
	p, err := Start(Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"300"}, Dir: t.TempDir()})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, p.Stop()) })
	}
	wg.Wait()
	assert.False(t, Alive(p.PID()))
}

func TestLogAndTail(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Spec{
		Name: "printer", Path: "/bin/sh", Dir: dir,
		Args: []string{"-c", `for i in 1 2 3 4 5; do echo line$i; done; echo err >&2`},
		Env:  []string{"PROC_TEST_SECRET=hunter2-secret"},
	})
	require.NoError(t, err)
	<-p.Done()
	require.NoError(t, p.Stop())
	assert.Equal(t, filepath.Join(dir, "printer.log"), p.LogFile)
	assert.Equal(t, "line4\nline5\nerr", p.Tail(3))
	data, err := os.ReadFile(p.LogFile)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "hunter2-secret", "Env is never logged")
	st, err := os.Stat(p.LogFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestStartErrors(t *testing.T) {
	tests := map[string]Spec{
		"no path":        {Name: "x", Dir: t.TempDir()},
		"no dir nor log": {Name: "x", Path: "/bin/true"},
		"missing binary": {Name: "x", Path: "/nonexistent/bin", Dir: t.TempDir()},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Start(spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "start x")
		})
	}
}

func TestWaitFor(t *testing.T) {
	t.Run("becomes true", func(t *testing.T) {
		var n atomic.Int32
		err := WaitFor(ctxT(t, 5*time.Second), time.Millisecond, func(context.Context) (bool, error) {
			return n.Add(1) >= 3, nil
		})
		require.NoError(t, err)
		assert.Equal(t, int32(3), n.Load())
	})
	t.Run("error ends the wait", func(t *testing.T) {
		err := WaitFor(ctxT(t, 5*time.Second), time.Millisecond, func(context.Context) (bool, error) {
			return false, fmt.Errorf("boom")
		})
		assert.EqualError(t, err, "boom")
	})
	t.Run("timeout", func(t *testing.T) {
		err := WaitFor(ctxT(t, 50*time.Millisecond), 10*time.Millisecond, func(context.Context) (bool, error) {
			return false, nil
		})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	require.NoError(t, WaitHTTP(ctxT(t, 5*time.Second), srv.URL))

	port := ClosedPort(t)
	err := WaitHTTP(ctxT(t, 200*time.Millisecond), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestUntilExit(t *testing.T) {
	p, err := Start(Spec{Name: "false", Path: "/bin/false", Dir: t.TempDir()})
	require.NoError(t, err)
	defer p.Stop()
	ctx, cancel := UntilExit(ctxT(t, 10*time.Second), p)
	defer cancel()
	err = WaitFor(ctx, 10*time.Millisecond, func(context.Context) (bool, error) { return false, nil })
	assert.ErrorContains(t, err, "false exited during start-up")
}

// TestPdeathsig runs this test binary as a helper that starts a sleep and dies without
// stopping it: the sleep must die with it.
func TestPdeathsig(t *testing.T) {
	if os.Getenv("PROC_PDEATHSIG_HELPER") != "" {
		pdeathsigHelper()
		return
	}
	for name, netns := range map[string]bool{"plain": false, "netns as another user": true} {
		t.Run(name, func(t *testing.T) {
			env := []string{"PROC_PDEATHSIG_HELPER=1", "PROC_DIR=" + t.TempDir()}
			if netns {
				RequireRoot(t, "network namespaces")
				env = append(env, "PROC_NETNS="+testNetNS(t), "PROC_UID=65534")
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestPdeathsig$")
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.Output()
			require.Error(t, err, "helper exits 3 on purpose: %s", out)
			pid, err := strconv.Atoi(strings.TrimSpace(lastLine(string(out))))
			require.NoError(t, err, "helper output: %s", out)
			require.NoError(t, WaitFor(ctxT(t, 5*time.Second), 20*time.Millisecond, func(context.Context) (bool, error) {
				return !Alive(pid), nil
			}), "pid %d outlived its parent", pid)
		})
	}
}

func pdeathsigHelper() {
	uid, _ := strconv.Atoi(os.Getenv("PROC_UID"))
	p, err := Start(Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"300"}, Dir: os.Getenv("PROC_DIR"),
		NetNS: os.Getenv("PROC_NETNS"), UID: uid, GID: uid})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	time.Sleep(300 * time.Millisecond) // let setpriv and sleep exec
	fmt.Println(p.PID())
	os.Exit(3)
}

func TestNetNSAndUser(t *testing.T) {
	RequireRoot(t, "network namespaces and another user")
	ns := testNetNS(t)
	dir := t.TempDir()
	p, err := Start(Spec{Name: "inside", Path: "/bin/sh", Dir: dir, NetNS: ns, UID: 65534, GID: 65534,
		Args: []string{"-c", "id -u; id -g; readlink /proc/self/ns/net"}})
	require.NoError(t, err)
	<-p.Done()
	require.NoError(t, p.Stop())
	exited, werr := p.Exited()
	require.True(t, exited)
	require.NoError(t, werr, p.Tail(10))
	own, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	out := strings.Split(p.Tail(3), "\n")
	require.Len(t, out, 3)
	assert.Equal(t, []string{"65534", "65534"}, out[:2])
	assert.NotEqual(t, own, out[2], "runs in another network namespace")
}

func TestRequireBinary(t *testing.T) {
	p, err := LookBinary("sh")
	require.NoError(t, err)
	assert.Equal(t, p, RequireBinary(t, "sh"))
	for name, tc := range map[string]struct {
		ci    string
		fails bool
	}{
		"local skips": {"", false}, "CI fails": {"true", true}, "CI=1 fails": {"1", true}, "CI=false skips": {"false", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			rec := &recordingTB{TB: t}
			RequireBinary(rec, "no-such-binary-picluster")
			assert.Equal(t, !tc.fails, rec.skipped)
			assert.Equal(t, tc.fails, rec.failed)
		})
	}
}

type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Helper()               {}
func (r *recordingTB) Skipf(string, ...any)  { r.skipped = true }
func (r *recordingTB) Fatalf(string, ...any) { r.failed = true }

func TestLookBinaryPostgresPrefersVersionedDir(t *testing.T) {
	p := RequireBinary(t, "initdb")
	dirs := PostgresBinDirs()
	require.NotEmpty(t, dirs)
	assert.Equal(t, filepath.Join(dirs[0], "initdb"), p)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// testNetNS creates an empty network namespace for the test and deletes it afterwards.
func testNetNS(t *testing.T) string {
	t.Helper()
	ip := RequireBinary(t, "ip")
	name := fmt.Sprintf("proctest-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	out, err := exec.Command(ip, "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "ip netns add: %s", out)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "delete", name).Run() })
	return name
}

func TestInCI(t *testing.T) {
	tests := map[string]bool{
		"": false, " ": false, "0": false, "false": false, "FALSE": false, "no": false, "off": false,
		"true": true, "1": true, "yes": true, "True": true, "woodpecker": true,
	}
	for value, want := range tests {
		t.Run(strconv.Quote(value), func(t *testing.T) {
			t.Setenv("CI", value)
			assert.Equal(t, want, InCI())
		})
	}
	t.Run("unset", func(t *testing.T) {
		t.Setenv("CI", "x")
		require.NoError(t, os.Unsetenv("CI"))
		assert.False(t, InCI())
	})
}

func TestServerBinariesSkipUnderShort(t *testing.T) {
	if !testing.Short() {
		require.NoError(t, flag.Set("test.short", "true"))
		t.Cleanup(func() { _ = flag.Set("test.short", "false") })
	}
	for name, skips := range map[string]bool{"prometheus": true, "alertmanager": true, "postgres": true, "sshd": true, "sh": false} {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			RequireBinary(rec, name)
			assert.Equal(t, skips, rec.skipped)
		})
	}
}
