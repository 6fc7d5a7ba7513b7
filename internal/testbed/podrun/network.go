package podrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Network is where run pods get their addresses. Each pod has a network namespace of its own
// with one interface, eth0, holding the pod IP as a /32 and a default route out of it; the
// other end of its veth sits in the bed's network namespace (NodeNetNS), the pods' "node",
// which has a route to each pod and answers ARP for everything it can reach (proxy_arp):
// the real servers inside it, the host, the other pods. The node namespace forwards between
// them (ip_forward is per namespace); the host keeps its own settings and reaches a pod
// through the node namespace's veth. An address the node namespace has no route to gets no
// ARP answer: nothing leaves the machine.
//
//	pod netns <NodeNetNS>-p<n>  eth0 = <IP(n)>/32, default dev eth0
//	veth      <IfPrefix>p<n> in the node namespace, route <IP(n)>/32 dev <IfPrefix>p<n>
type Network struct {
	// NodeNetNS is the bed's network namespace; NodeVeth its end of the host veth.
	NodeNetNS, NodeVeth string
	// IfPrefix starts the names of the pods' veths (at most 9 characters).
	IfPrefix string
	// IP is address n of the pods (n from 0 to Size-1).
	IP   func(n int) string
	Size int

	mu   sync.Mutex
	used map[int]bool
	once sync.Once
	err  error
}

// podNet is one pod's network.
type podNet struct {
	n      int
	IP     string
	NetNS  string // name under /run/netns
	hostIf string
}

// Path is the namespace's file.
func (p *podNet) Path() string { return filepath.Join("/run/netns", p.NetNS) }

// prepareNode turns on forwarding and proxy ARP in the node namespace, once.
func (nw *Network) prepareNode() error {
	nw.once.Do(func() {
		for _, kv := range [][2]string{
			{"net.ipv4.ip_forward", "1"},
			{"net.ipv4.conf." + nw.NodeVeth + ".proxy_arp", "1"},
		} {
			if err := run("ip", "netns", "exec", nw.NodeNetNS, "sysctl", "-q", "-w", kv[0]+"="+kv[1]); err != nil {
				nw.err = fmt.Errorf("prepare pod network in %s: %w", nw.NodeNetNS, err)
				return
			}
		}
	})
	return nw.err
}

// add makes a pod's namespace, veth, address and routes.
func (nw *Network) add() (*podNet, error) {
	if err := nw.prepareNode(); err != nil {
		return nil, err
	}
	nw.mu.Lock()
	if nw.used == nil {
		nw.used = map[int]bool{}
	}
	n := -1
	for i := 0; i < nw.Size; i++ {
		if !nw.used[i] {
			n = i
			nw.used[i] = true
			break
		}
	}
	nw.mu.Unlock()
	if n < 0 {
		return nil, fmt.Errorf("no free pod address (%d in use)", nw.Size)
	}
	p := &podNet{n: n, IP: nw.IP(n), NetNS: nw.NodeNetNS + "-p" + strconv.Itoa(n), hostIf: nw.IfPrefix + "p" + strconv.Itoa(n)}
	peer := nw.IfPrefix + "q" + strconv.Itoa(n)
	nw.removeNS(p) // a killed run's leftovers
	node := nw.NodeNetNS
	cmds := [][]string{
		{"netns", "add", p.NetNS},
		{"-n", node, "link", "add", p.hostIf, "type", "veth", "peer", "name", peer},
		{"-n", node, "link", "set", peer, "netns", p.NetNS},
		{"-n", p.NetNS, "link", "set", peer, "name", "eth0"},
		{"-n", p.NetNS, "addr", "add", p.IP + "/32", "dev", "eth0"},
		{"-n", p.NetNS, "link", "set", "lo", "up"},
		{"-n", p.NetNS, "link", "set", "eth0", "up"},
		{"-n", p.NetNS, "route", "add", "default", "dev", "eth0"},
		{"-n", node, "link", "set", p.hostIf, "up"},
		{"-n", node, "route", "add", p.IP + "/32", "dev", p.hostIf},
	}
	for _, args := range cmds {
		if err := run("ip", args...); err != nil {
			nw.remove(p)
			return nil, fmt.Errorf("set up pod network: %w", err)
		}
	}
	if err := run("ip", "netns", "exec", node, "sysctl", "-q", "-w", "net.ipv4.conf."+p.hostIf+".proxy_arp=1"); err != nil {
		nw.remove(p)
		return nil, fmt.Errorf("set up pod network: %w", err)
	}
	return p, nil
}

// remove deletes the pod's namespace and veth and frees its address.
func (nw *Network) remove(p *podNet) {
	nw.removeNS(p)
	nw.mu.Lock()
	delete(nw.used, p.n)
	nw.mu.Unlock()
}

func (nw *Network) removeNS(p *podNet) {
	_ = run("ip", "-n", nw.NodeNetNS, "link", "del", p.hostIf)
	if _, err := os.Stat(p.Path()); err == nil {
		_ = run("ip", "netns", "del", p.NetNS)
	}
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
