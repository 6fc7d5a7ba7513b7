package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// bedNetwork is the bed's network namespace as the stand-ins use it: the servers of
// pkg/testbed sit on .2 (Prometheus), .3 (Alertmanager) and .4 (Postgres) of a /24 on
// one veth; the stand-ins add addresses after those for the fake pods they serve.
type bedNetwork struct {
	NetNS  string
	Device string     // the namespace side of the veth
	Subnet *net.IPNet // the veth's /24
}

// findBedNetwork finds the device of the namespace that holds serverIP (Prometheus's
// address) and its subnet, so the stand-ins need not know pkg/testbed's naming scheme.
func findBedNetwork(netns, serverIP string) (*bedNetwork, error) {
	out, err := exec.Command("ip", "-n", netns, "-o", "-4", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("list the addresses of network namespace %s: %w", netns, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "3: pictb0n    inet 10.250.0.2/24 scope global pictb0n\ ..."
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "inet" {
			continue
		}
		ip, subnet, err := net.ParseCIDR(f[3])
		if err != nil || ip.String() != serverIP {
			continue
		}
		dev, _, _ := strings.Cut(f[1], "@")
		return &bedNetwork{NetNS: netns, Device: dev, Subnet: subnet}, nil
	}
	return nil, fmt.Errorf("network namespace %s has no device with address %s", netns, serverIP)
}

// Addr is host i of the bed's subnet (the servers are .2 to .4).
func (b *bedNetwork) Addr(i int) string {
	ip := make(net.IP, 4)
	copy(ip, b.Subnet.IP.To4())
	ip[3] = byte(i)
	return ip.String()
}

// addAddr adds address i of the subnet to the namespace's device; the namespace goes,
// and the address with it, when the bed stops.
func (b *bedNetwork) addAddr(i int) (string, error) {
	ones, _ := b.Subnet.Mask.Size()
	addr := b.Addr(i)
	out, err := exec.Command("ip", "-n", b.NetNS, "addr", "replace", fmt.Sprintf("%s/%d", addr, ones), "dev", b.Device).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("add address %s to %s in network namespace %s: %w: %s", addr, b.Device, b.NetNS, err, strings.TrimSpace(string(out)))
	}
	return addr, nil
}

// listenInNetNS opens a TCP listener inside a network namespace from this process: the
// calling OS thread enters the namespace, creates the socket (which stays in that
// namespace for good) and comes back. A thread that cannot come back is never reused:
// it stays locked and ends with this goroutine.
func listenInNetNS(netns, addr string) (l net.Listener, err error) {
	runtime.LockOSThread()
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		restored = true
		return nil, fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer home.Close()
	target, err := os.Open(filepath.Join("/run/netns", netns))
	if err != nil {
		restored = true
		return nil, fmt.Errorf("open network namespace %s: %w", netns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		restored = true
		return nil, fmt.Errorf("enter network namespace %s: %w", netns, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
		if l != nil {
			_ = l.Close()
		}
		return nil, fmt.Errorf("leave network namespace %s: %w", netns, err)
	}
	restored = true
	if lerr != nil {
		return nil, fmt.Errorf("listen on %s in network namespace %s: %w", addr, netns, lerr)
	}
	return l, nil
}
