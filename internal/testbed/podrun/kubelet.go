package podrun

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Server is the node's kubelet endpoint (node.status.daemonEndpoints.kubeletEndpoint): the
// API server sends it the logs, exec, attach and port-forward requests of the node's pods.
// It serves logs and exec of the pods its Runtime runs and hands every other request to
// kwok's server unchanged.
type Server struct {
	// Addr is host:port it listens on.
	Addr string

	ln      net.Listener
	srv     *http.Server
	kwok    atomic.Pointer[url.URL]
	runtime atomic.Pointer[Runtime]
}

// Listen binds the endpoint on 127.0.0.1 with a free port (no race: the port is held from
// now on) and serves with the certificate kwok uses.
func Listen(certFile, keyFile string) (*Server, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet endpoint: load certificate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kubelet endpoint: listen: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Port is the port it listens on.
func (s *Server) Port() int {
	return s.ln.Addr().(*net.TCPAddr).Port
}

// SetKwok names kwok's server (https://host:port), which gets every request the runtime
// does not serve.
func (s *Server) SetKwok(u *url.URL) { s.kwok.Store(u) }

// SetRuntime makes the endpoint serve the runtime's pods.
func (s *Server) SetRuntime(r *Runtime) { s.runtime.Store(r) }

// Close stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return s.srv.Close()
	}
	return err
}

// ServeHTTP serves /containerLogs and /exec of run pods, and proxies the rest to kwok.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if r := s.runtime.Load(); r != nil && len(parts) == 4 && (parts[0] == "containerLogs" || parts[0] == "exec") {
		if p := r.find(parts[1], parts[2]); p != nil {
			if parts[0] == "containerLogs" {
				p.serveLogs(w, req, parts[3])
			} else {
				p.serveExec(w, req, parts[3])
			}
			return
		}
	}
	k := s.kwok.Load()
	if k == nil {
		http.Error(w, "kubelet endpoint: kwok is not up yet", http.StatusServiceUnavailable)
		return
	}
	proxy := httputil.NewSingleHostReverseProxy(k)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // kwok on loopback, its own throwaway certificate
	proxy.ServeHTTP(w, req)
}

// serveLogs serves kubectl logs [-f] [--previous] [--tail] [--timestamps] [--since]
// [--limit-bytes] of a run pod's container.
func (p *pod) serveLogs(w http.ResponseWriter, req *http.Request, container string) {
	o, err := parseLogOptions(req.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	cr := p.running[container]
	if req.URL.Query().Get("previous") == "true" {
		cr = p.previous[container]
		if cr == nil {
			p.mu.Unlock()
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, p.name), http.StatusBadRequest)
			return
		}
	}
	p.mu.Unlock()
	if cr == nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: PodInitializing", container, p.name), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w}
	if err := serveLog(req.Context(), fw, cr.logPath, o, cr.done); err != nil && req.Context().Err() == nil {
		fmt.Fprintf(w, "\nerror reading log: %v\n", err)
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f *flushWriter) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f *flushWriter) Flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// serveExec runs a command in a running container of a run pod, with stdin that closes
// and the command's exit code (what kwok v0.8.0 loses).
func (p *pod) serveExec(w http.ResponseWriter, req *http.Request, container string) {
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := req.URL.Query()["command"]
	remotecommand.ServeExec(w, req, execInPod{p}, p.namespace+"/"+p.name, string(p.uid), container, cmd, opts,
		4*time.Hour, 30*time.Second, remotecommand.SupportedStreamingProtocols)
}

// execInPod runs exec commands inside a container's namespaces with nsenter.
type execInPod struct{ p *pod }

// ExecInContainer implements remotecommand.Executor.
func (e execInPod) ExecInContainer(ctx context.Context, _ string, _ string, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	p := e.p
	p.mu.Lock()
	cr := p.running[container]
	p.mu.Unlock()
	if cr == nil || cr.ended() {
		return fmt.Errorf("container %q in pod %s/%s is not running", container, p.namespace, p.name)
	}
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	if tty {
		return errors.New("a terminal (-t) is not supported by the bed's runtime")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	args := []string{"--target", strconv.Itoa(cr.pid), "--mount", "--uts", "--ipc", "--net", "--pid",
		"--root", "--wd", "--setuid", strconv.Itoa(int(cr.uid)), "--setgid", strconv.Itoa(int(cr.gid)),
		"--", "/usr/bin/env", "-i"}
	args = append(append(args, cr.env...), cmd...)
	c := exec.CommandContext(ctx, "nsenter", args...)
	c.Stdin, c.Stdout, c.Stderr = in, out, errOut
	if in == nil {
		c.Stdin = nil
	}
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.Env = []string{"PATH=" + os.Getenv("PATH")}
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return utilexec.CodeExitError{Err: err, Code: code}
	}
	return err
}
