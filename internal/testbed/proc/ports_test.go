package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreePortsAreDistinctUnderConcurrency(t *testing.T) {
	const goroutines, each = 16, 8
	var (
		mu   sync.Mutex
		seen = map[int]int{}
		wg   sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for range each / 2 {
				ports, err := FreePorts(2)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, p := range ports {
					seen[p]++
					assert.Equal(t, 1, seen[p], "port %d handed out twice (goroutine %d)", p, g)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, goroutines*each)
	for p := range seen {
		assert.Greater(t, p, 1023)
		assert.Less(t, p, 65536)
	}
}

func TestFreePortsWithinOneSet(t *testing.T) {
	ports, err := FreePorts(50)
	require.NoError(t, err)
	distinct := map[int]bool{}
	for _, p := range ports {
		distinct[p] = true
	}
	assert.Len(t, distinct, 50)
}

// portServer runs this test binary as a tiny HTTP server on the port in PROC_PORT_SERVER
// (or, with PROC_PORT_SERVER=none, as a process that listens nowhere).
func portServer() {
	addr := os.Getenv("PROC_PORT_SERVER")
	if addr == "none" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err) // "listen tcp ...: bind: address already in use"
		os.Exit(1)
	}
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "self") }))
	os.Exit(0)
}

func TestMain(m *testing.M) {
	if os.Getenv("PROC_PORT_SERVER") != "" {
		portServer()
	}
	os.Exit(m.Run())
}

// foreignServer answers HTTP on port from this test process: a server that is not the
// started one, as another test package's server would be.
func foreignServer(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "foreign") })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// portServerStart starts the helper; the first attempt first lets foreignServer take the
// port (the lost race), and with listen=false the helper listens nowhere at all.
func portServerStart(t *testing.T, dir string, listen bool, attempts *[][]int) func(ports []int) (*Process, error) {
	return func(ports []int) (*Process, error) {
		*attempts = append(*attempts, ports)
		addr := "127.0.0.1:" + strconv.Itoa(ports[0])
		if len(*attempts) == 1 {
			foreignServer(t, ports[0])
			if !listen {
				addr = "none"
			}
		}
		return Start(Spec{Name: "portserver", Path: os.Args[0], Dir: dir,
			Args: []string{"-test.run=^$"}, Env: []string{"PROC_PORT_SERVER=" + addr}})
	}
}

func readyHTTP(ctx context.Context, ports []int) error {
	return WaitHTTP(ctx, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/")
}

func TestStartOnPortsRetriesALostRace(t *testing.T) {
	tests := map[string]bool{
		"server fails to bind":                       true,
		"foreign listener answers readiness instead": false,
	}
	for name, listen := range tests {
		t.Run(name, func(t *testing.T) {
			var attempts [][]int
			p, ports, err := StartOnPorts(ctxT(t, 30*time.Second), PortStart{
				Name: "portserver", Start: portServerStart(t, t.TempDir(), listen, &attempts), Ready: readyHTTP,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Stop() })
			require.Len(t, attempts, 2, "one retry after the lost race")
			assert.NotEqual(t, attempts[0], ports, "started on fresh ports")
			assert.Equal(t, attempts[1], ports)
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/")
			require.NoError(t, err)
			defer resp.Body.Close()
			body := make([]byte, 16)
			nb, _ := resp.Body.Read(body)
			assert.Equal(t, "self", string(body[:nb]), "the started server answers, not the foreign one")
			require.NoError(t, p.ownsPorts(ports))
		})
	}
}

func TestStartOnPortsFixedPortTakenFails(t *testing.T) {
	ports, err := FreePorts(1)
	require.NoError(t, err)
	var attempts [][]int
	_, _, err = StartOnPorts(ctxT(t, 30*time.Second), PortStart{
		Name: "portserver", Ports: ports, Start: portServerStart(t, t.TempDir(), false, &attempts), Ready: readyHTTP,
	})
	require.ErrorIs(t, err, ErrPortTaken)
	assert.Len(t, attempts, 1, "a fixed port is not changed")
}

func TestStartOnPortsDoesNotRetryOtherFailures(t *testing.T) {
	var attempts int
	_, _, err := StartOnPorts(ctxT(t, 30*time.Second), PortStart{
		Name: "false",
		Start: func([]int) (*Process, error) {
			attempts++
			return Start(Spec{Name: "false", Path: "/bin/sh", Args: []string{"-c", "echo broken config; exit 1"}, Dir: t.TempDir()})
		},
		Ready: readyHTTP,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "broken config", "the error carries the log's end")
	assert.Equal(t, 1, attempts)
}

func TestClosedPortRefusesAndCannotBeTaken(t *testing.T) {
	port := ClosedPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	_, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.ErrorContains(t, err, "connection refused")
	_, err = net.Listen("tcp", addr)
	require.ErrorContains(t, err, "address already in use", "no other server can take it")
}
