package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// handedOut records every port FreePorts returned in this process: none is handed out
// twice, so two servers of one test process never get the same port from it, even after
// the first one stopped.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment ago and that
// this process never handed out before. It holds every probe listener until the whole set
// is chosen, so the kernel cannot hand the same port out twice within the set. Another
// process may still take a port before the server binds it: StartOnPorts retries then.
func FreePorts(n int) ([]int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	// Skipped ports stay held too, so the kernel moves on; the bound keeps a starved
	// range from looping forever.
	for tries := 0; len(ports) < n; tries++ {
		if tries >= n+1000 {
			return nil, fmt.Errorf("find %d free ports: only %d not handed out before", n, len(ports))
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find %d free ports: %w", n, err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if handedOut.ports[port] {
			continue
		}
		ports = append(ports, port)
	}
	for _, p := range ports {
		handedOut.ports[p] = true
	}
	return ports, nil
}

// FreePort returns one port as FreePorts does.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// PortStart says how to start one server on TCP ports: StartOnPorts calls Start with the
// ports, then Ready until the server answers.
type PortStart struct {
	// Name names the server in errors.
	Name string
	// Ports are fixed ports; empty: N fresh ones from FreePorts, new ones on every attempt.
	Ports []int
	// N is how many fresh ports the server needs when Ports is empty (default 1).
	N int
	// Attempts bounds the tries on fresh ports (default 5); fixed ports are tried once.
	Attempts int
	// Start starts one attempt; it may also write files that name the ports.
	Start func(ports []int) (*Process, error)
	// Ready waits until the server on ports answers; it runs with a context that ends
	// when the process exits.
	Ready func(ctx context.Context, ports []int) error
}

// ErrPortTaken says a server could not listen on its ports because another process holds one.
var ErrPortTaken = errors.New("port taken by another process")

// StartOnPorts starts a server and waits until it is ready and listens on all its ports
// itself: a readiness answer from a foreign process that holds the port does not count,
// since the kernel shows the listening socket among the fds of the server's own processes.
// When the server lost a port to another process (it exited saying "address already in
// use", or another process holds the listening socket) it is stopped and started again on
// fresh ports. The error of the last attempt carries the end of the server's log.
func StartOnPorts(ctx context.Context, s PortStart) (*Process, []int, error) {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	n := s.N
	if n <= 0 {
		n = 1
	}
	if len(s.Ports) > 0 {
		attempts = 1
	}
	var lastErr error
	for range attempts {
		ports := s.Ports
		if len(ports) == 0 {
			var err error
			if ports, err = FreePorts(n); err != nil {
				return nil, nil, fmt.Errorf("start %s: %w", s.Name, err)
			}
		}
		p, err := s.Start(ports)
		if err != nil {
			return nil, nil, err
		}
		wctx, cancel := UntilExit(ctx, p)
		err = s.Ready(wctx, ports)
		cancel()
		if err == nil {
			err = p.ownsPorts(ports)
		}
		if err == nil {
			return p, ports, nil
		}
		tail := p.Tail(20)
		_ = p.Stop()
		exited, _ := p.Exited()
		lost := errors.Is(err, ErrPortTaken) ||
			(exited && strings.Contains(strings.ToLower(tail), "address already in use"))
		lastErr = fmt.Errorf("start %s on ports %v: %w\n--- end of %s:\n%s", s.Name, ports, err, p.LogFile, tail)
		if !lost || ctx.Err() != nil {
			break
		}
	}
	return nil, nil, lastErr
}

// WaitListening waits until p's own processes listen on all ports, for servers without a
// readiness endpoint; it fails at once with ErrPortTaken when another process holds one.
func (p *Process) WaitListening(ctx context.Context, ports []int) error {
	return WaitFor(ctx, 50*time.Millisecond, func(context.Context) (bool, error) {
		err := p.ownsPorts(ports)
		if errors.Is(err, ErrPortTaken) {
			return false, err
		}
		return err == nil, nil
	})
}

// ownsPorts checks that a live process of p's tree holds a listening TCP socket on each port
// (in p's network namespace).
func (p *Process) ownsPorts(ports []int) error {
	listening, err := ListeningSockets(p.PID())
	if err != nil {
		return fmt.Errorf("check the ports of %s: %w", p.Spec.Name, err)
	}
	mine := map[string]bool{}
	for _, pid := range p.Tree() {
		for _, inode := range socketInodes(pid) {
			mine[inode] = true
		}
	}
	for _, port := range ports {
		inodes := listening[port]
		if len(inodes) == 0 {
			return fmt.Errorf("%s is ready but nothing listens on port %d", p.Spec.Name, port)
		}
		owned := false
		for _, inode := range inodes {
			owned = owned || mine[inode]
		}
		if !owned {
			return fmt.Errorf("%s: port %d: %w", p.Spec.Name, port, ErrPortTaken)
		}
	}
	return nil
}

// ListeningSockets maps each TCP port with a listening socket in the network namespace of
// pid to the inodes of those sockets (IPv4 and IPv6), from /proc/PID/net/tcp{,6}.
func ListeningSockets(pid int) (map[int][]string, error) {
	out := map[int][]string{}
	for _, file := range []string{"tcp", "tcp6"} {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/" + file)
		if errors.Is(err, os.ErrNotExist) && file == "tcp6" {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, fmt.Errorf("read listening sockets: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if err != nil {
				continue
			}
			out[int(port)] = append(out[int(port)], fields[9])
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read listening sockets: %w", err)
		}
	}
	return out, nil
}

// socketInodes lists the inodes of the sockets pid has open (empty when it is gone).
func socketInodes(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			out = append(out, strings.TrimSuffix(inode, "]"))
		}
	}
	return out
}

// ClosedPort returns a port of 127.0.0.1 on which nothing listens for the rest of the test:
// it holds a socket bound to the port without listening (and without SO_REUSEADDR), so
// every connection is refused and no other process can bind the port until the test ends.
// A port that FreePort found free could be taken by another process meanwhile.
func ClosedPort(t testing.TB) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("closed port: socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("closed port: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("closed port: getsockname: %v", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	handedOut.Lock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	handedOut.ports[port] = true
	handedOut.Unlock()
	return port
}
