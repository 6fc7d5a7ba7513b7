package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
)

// NASHost is the name run pods reach the bed's NAS by, as the settings' backup.nas.host
// names the real one (.test is reserved by RFC 6761: never a real host).
const NASHost = "nas.picluster.test"

// BedNAS is the NAS on the bed's network: sshd inside the bed's network namespace on port
// 22 of its own address (.9 of the bed's subnet), reachable from run pods as NASHost.
type BedNAS struct {
	*servers.NAS
	// Name is NASHost.
	Name string
	// KnownHosts is the known_hosts line pinning the NAS's host key for Name (and port 22):
	// what the ExternalSecret would sync into the SSH Secret.
	KnownHosts string
}

// StartNAS starts the bed's NAS (see servers.NAS: an rsync-only key, the default, and a
// full-shell key) once per bed and makes NASHost resolve to it in the pods that run; give
// each test a folder of its own under Path. Needs the pod runtime (root). Cluster.Stop
// stops it.
func (c *Cluster) StartNAS(ctx context.Context) (*BedNAS, error) {
	if c.Runtime == nil {
		return nil, errors.New("start the bed's NAS: no pod runtime (needs root)")
	}
	c.nasMu.Lock()
	defer c.nasMu.Unlock()
	if c.bedNAS != nil {
		return c.bedNAS, nil // one NAS per bed (port 22 of its address)
	}
	ip := c.slot.Addr(nasAddrOffset)
	if err := c.slot.addNSAddr(nasAddrOffset); err != nil {
		return nil, fmt.Errorf("start the bed's NAS: %w", err)
	}
	nas, err := servers.StartNAS(ctx, servers.Options{Dir: filepath.Join(c.Dir, "nas"), NetNS: c.slot.NetNS(), Host: ip, Port: 22})
	if err != nil {
		return nil, fmt.Errorf("start the bed's NAS: %w", err)
	}
	c.mu.Lock()
	c.nas = append(c.nas, nas)
	c.mu.Unlock()
	pinned, err := os.ReadFile(nas.KnownHostsFile) // "[ip]:22 ssh-ed25519 AAAA..."
	if err != nil {
		return nil, fmt.Errorf("start the bed's NAS: %w", err)
	}
	_, key, ok := strings.Cut(strings.TrimSpace(string(pinned)), " ")
	if !ok {
		return nil, fmt.Errorf("start the bed's NAS: malformed known_hosts %s", nas.KnownHostsFile)
	}
	c.Runtime.AddHost(NASHost, ip)
	// Port 22 is ssh's default: known_hosts names the host without brackets then.
	c.bedNAS = &BedNAS{NAS: nas, Name: NASHost, KnownHosts: NASHost + " " + key + "\n"}
	return c.bedNAS, nil
}
