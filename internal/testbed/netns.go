package testbed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Each bed takes a slot k (0..maxSlots-1) held by an exclusive flock for its lifetime, so
// two test packages (go test runs packages in parallel) never share names or addresses:
//
//	network namespace  picluster-tb<k>
//	veth pair          pictb<k>h (host side) / pictb<k>n (namespace side)
//	veth subnet        10.250.<2k>.0/24: host .1, servers .2 .3 .4, the demo's stand-ins .5
//	                   to .8, the NAS .9
//	kwok pod CIDR      10.250.<2k+1>.0/24, a local route inside the namespace, so a dial to
//	                   any other fake pod IP is refused there and never leaves the machine.
//	run pods           10.250.<2k>.100-199, each in a namespace picluster-tb<k>-p<n> with a
//	                   veth into the bed's namespace (package podrun, network.go).
//
// A slot whose lock is free but whose netns or veth still exists was left by a killed run:
// taking the slot removes them first.
const maxSlots = 120

// The real servers take .2 to .1+serverAddrs of the veth subnet (Prometheus, Alertmanager,
// Postgres), the demo's stand-ins the next ones (hack/localcluster), the NAS
// .nasAddrOffset, and the pods that really run podAddrCount addresses from .podAddrFirst.
const (
	serverAddrs   = 3
	nasAddrOffset = 9
	podAddrFirst  = 100
	podAddrCount  = 100
)

// NetNSPrefix starts the name of every network namespace a bed creates; VethPrefix the name
// of every veth (CI's cleanup may remove what matches).
const (
	NetNSPrefix = "picluster-tb"
	VethPrefix  = "pictb"
)

// slot is a bed's claim on a set of unique names and addresses.
type slot struct {
	Index int
	lock  *os.File
}

// NetNS is the name of the slot's network namespace.
func (s *slot) NetNS() string { return NetNSPrefix + strconv.Itoa(s.Index) }

// HostVeth is the host side of the slot's veth pair.
func (s *slot) HostVeth() string { return VethPrefix + strconv.Itoa(s.Index) + "h" }

// NSVeth is the namespace side of the slot's veth pair.
func (s *slot) NSVeth() string { return VethPrefix + strconv.Itoa(s.Index) + "n" }

// HostIP is the host's address on the veth.
func (s *slot) HostIP() string { return s.Addr(1) }

// Addr is address i (2, 3, ...: the servers) of the slot's veth subnet.
func (s *slot) Addr(i int) string { return fmt.Sprintf("10.250.%d.%d", 2*s.Index, i) }

// PodCIDR is kwok's pod CIDR for this slot.
func (s *slot) PodCIDR() string { return fmt.Sprintf("10.250.%d.0/24", 2*s.Index+1) }

// etcdDir is etcd's data dir, on tmpfs when there is one (etcd is fastest there).
func (s *slot) etcdDir() string {
	dir := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir = "/dev/shm"
	}
	return filepath.Join(dir, s.NetNS()+"-etcd")
}

// tempPrefix starts the name of the slot's temporary work dirs.
func (s *slot) tempPrefix() string { return s.NetNS() + "-" }

// leftoverFiles lists the slot's etcd data and temporary work dirs that exist.
func (s *slot) leftoverFiles() []string {
	found, _ := filepath.Glob(filepath.Join(os.TempDir(), s.tempPrefix()+"*"))
	if _, err := os.Stat(s.etcdDir()); err == nil {
		found = append(found, s.etcdDir())
	}
	return found
}

// removeFiles removes the etcd data and temporary work dirs a killed bed left on this slot.
func (s *slot) removeFiles() {
	for _, dir := range s.leftoverFiles() {
		_ = os.RemoveAll(dir)
	}
}

// lockDir holds the slot locks; /run/lock is shared by every user of the machine.
func lockDir() string {
	for _, d := range []string{"/run/lock", os.TempDir()} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dir := filepath.Join(d, "picluster-testbed")
			if os.MkdirAll(dir, 0o777) == nil {
				_ = os.Chmod(dir, 0o1777) // shared by every user's beds
				return dir
			}
		}
	}
	return os.TempDir()
}

// openLock opens slot i's lock file; flock needs no write access, so any user can lock
// a file another user created.
func openLock(dir string, i int) (*os.File, error) {
	path := filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o666)
	if err == nil {
		_ = os.Chmod(path, 0o666)
	}
	return f, err
}

// claimSlot takes the first free slot.
func claimSlot() (*slot, error) {
	dir := lockDir()
	for i := range maxSlots {
		f, err := openLock(dir, i)
		if err != nil {
			return nil, fmt.Errorf("open slot lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close()
			continue
		}
		s := &slot{Index: i, lock: f}
		s.removeFiles() // leftovers of a killed run
		if os.Geteuid() == 0 {
			s.removeNetwork()
		}
		return s, nil
	}
	return nil, fmt.Errorf("no free test bed slot among %d in %s", maxSlots, dir)
}

// release frees the slot for another bed.
func (s *slot) release() {
	if s != nil && s.lock != nil {
		_ = s.lock.Close() // closing drops the flock
		s.lock = nil
	}
}

// setupNetwork creates the namespace, the veth pair with addresses host .1 and ns .2..
// .(1+nsAddrs), and the local pod-CIDR route. Needs root.
func (s *slot) setupNetwork(nsAddrs int) error {
	if os.Geteuid() != 0 {
		return ErrNeedRoot
	}
	ns, h, n := s.NetNS(), s.HostVeth(), s.NSVeth()
	cmds := [][]string{
		{"netns", "add", ns},
		{"link", "add", h, "type", "veth", "peer", "name", n},
		{"link", "set", n, "netns", ns},
		{"addr", "add", s.HostIP() + "/24", "dev", h},
		{"link", "set", h, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", n, "up"},
		{"-n", ns, "route", "add", "local", s.PodCIDR(), "dev", "lo"},
		{"route", "add", s.PodCIDR(), "via", s.Addr(2), "dev", h},
	}
	for i := 2; i < 2+nsAddrs; i++ {
		cmds = append(cmds, []string{"-n", ns, "addr", "add", s.Addr(i) + "/24", "dev", n})
	}
	for _, args := range cmds {
		if err := ip(args...); err != nil {
			s.removeNetwork()
			return fmt.Errorf("set up network namespace %s: %w", ns, err)
		}
	}
	return nil
}

// addNSAddr gives the namespace side of the veth address i of the subnet too.
func (s *slot) addNSAddr(i int) error {
	return ip("-n", s.NetNS(), "addr", "replace", s.Addr(i)+"/24", "dev", s.NSVeth())
}

// removeNetwork kills what still runs in the namespace, then deletes the namespace and the
// veth (deleting the host side removes both ends and the route). Errors mean "not there".
func (s *slot) removeNetwork() {
	for _, ns := range append(s.podNetNS(), s.NetNS()) {
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	_ = ip("link", "del", s.HostVeth())
	for _, ns := range s.podNetNS() {
		_ = ip("netns", "del", ns)
	}
	_ = ip("netns", "del", s.NetNS())
}

// podNetNS lists the network namespaces of the slot's run pods that exist.
func (s *slot) podNetNS() []string {
	found, _ := filepath.Glob(filepath.Join("/run/netns", s.NetNS()+"-p*"))
	for i, f := range found {
		found[i] = filepath.Base(f)
	}
	return found
}

// NetworkLeftovers lists the namespaces and veths of slot index that still exist (empty
// when none): tests assert teardown with it.
func NetworkLeftovers(index int) []string {
	s := &slot{Index: index}
	var left []string
	if _, err := os.Stat(filepath.Join("/run/netns", s.NetNS())); err == nil {
		left = append(left, "netns "+s.NetNS())
	}
	if _, err := net.InterfaceByName(s.HostVeth()); err == nil {
		left = append(left, "veth "+s.HostVeth())
	}
	for _, ns := range s.podNetNS() {
		left = append(left, "netns "+ns)
	}
	return left
}

// ErrNeedRoot says the in-cluster path (network namespace, veth) needs root.
var ErrNeedRoot = errors.New("the in-cluster test bed path needs root (network namespace and veth)")

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RemoveLeftovers removes what beds that were killed (panic, test timeout, SIGKILL) left
// on slots no running bed holds: network namespaces and veths (as root) and the etcd data
// and work dirs. A bed does this for its own slot when it starts; CI and demo-down call it
// to leave the machine clean.
func RemoveLeftovers() ([]string, error) {
	dir := lockDir()
	root := os.Geteuid() == 0
	var removed []string
	for i := range maxSlots {
		s := &slot{Index: i}
		var left []string
		if root {
			left = NetworkLeftovers(i)
		}
		left = append(left, s.leftoverFiles()...)
		if len(left) == 0 {
			continue
		}
		f, err := openLock(dir, i)
		if err != nil {
			return removed, fmt.Errorf("open slot lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close() // a running bed owns it
			continue
		}
		s.lock = f
		s.removeFiles()
		if root {
			s.removeNetwork()
		}
		s.release()
		removed = append(removed, left...)
	}
	return removed, nil
}
