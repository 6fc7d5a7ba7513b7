// Package servers starts real Debian servers for tests: Prometheus, Alertmanager,
// PostgreSQL and an SSH+rsync "NAS", each on a free port of 127.0.0.1 (or of an address
// inside a network namespace), with its files in a folder of its own, and stops them
// without leaving a process behind.
package servers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

// DefaultHost is where servers listen unless Options.Host says otherwise.
const DefaultHost = "127.0.0.1"

// Options say where and how a server runs.
type Options struct {
	// Dir holds the server's files; each server makes a fresh sub-folder in it, so servers
	// can share one Dir. Empty: a temporary folder, removed by Stop.
	Dir string
	// NetNS runs the server inside this network namespace (`ip netns exec`); Host must then
	// be an address of that namespace that the test process can reach.
	NetNS string
	// Host is the address the server listens on (and only on); default 127.0.0.1.
	Host string
	// Port is the TCP port; 0 picks a free one (and retries if it was taken meanwhile).
	Port int
}

func (o Options) withDefaults() Options {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	return o
}

// workDir makes a fresh folder for one server; owned says Stop must remove it.
func workDir(o Options, kind string) (dir string, owned bool, err error) {
	if o.Dir == "" {
		dir, err = os.MkdirTemp("", "picluster-"+kind+"-")
		if err != nil {
			return "", false, fmt.Errorf("create temp dir for %s: %w", kind, err)
		}
		return dir, true, nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", false, fmt.Errorf("create dir for %s: %w", kind, err)
	}
	dir, err = os.MkdirTemp(o.Dir, kind+"-")
	if err != nil {
		return "", false, fmt.Errorf("create dir for %s: %w", kind, err)
	}
	return dir, false, nil
}

// hostPort joins host and port, with brackets for IPv6.
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// launch is one attempt to start a server on a port.
type launch func(port int) (*proc.Process, error)

// readiness waits until the server on port answers.
type readiness func(ctx context.Context, port int) error

// startOnPort starts a server and waits until it is ready and holds its port itself. With
// no fixed port it starts again on a fresh port when another process took the chosen one
// first (see proc.StartOnPorts). Errors carry the end of the server's log.
func startOnPort(ctx context.Context, o Options, name string, start launch, ready readiness) (*proc.Process, int, error) {
	s := proc.PortStart{
		Name:  name + " on " + o.Host,
		Start: func(ports []int) (*proc.Process, error) { return start(ports[0]) },
		Ready: func(ctx context.Context, ports []int) error { return ready(ctx, ports[0]) },
	}
	if o.Port != 0 {
		s.Ports = []int{o.Port}
	}
	p, ports, err := proc.StartOnPorts(ctx, s)
	if err != nil {
		return nil, 0, err
	}
	return p, ports[0], nil
}

// waitHTTPReady waits for a 2xx from url, the server's readiness endpoint.
func waitHTTPReady(ctx context.Context, url string) error {
	return proc.WaitHTTP(ctx, url)
}

// httpPost posts an empty body and returns an error with the answer unless it is 2xx.
func httpPost(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// writeFile writes a file atomically (temp file + rename), so a server never reads half.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// stopAndClean stops the process and removes the folders the server owns.
func stopAndClean(p *proc.Process, remove ...string) error {
	var errs []error
	if p != nil {
		errs = append(errs, p.Stop())
	}
	for _, dir := range remove {
		if dir == "" {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// RandomSecret returns n random bytes as hex, for throwaway passwords.
func RandomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startTimeout bounds a server's start-up in the t-helpers.
const startTimeout = 60 * time.Second
