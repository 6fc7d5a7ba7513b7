package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The running localcluster takes requests on a unix socket in its state dir, because
// the stand-ins need what only that process holds: the Prometheus and Alertmanager it
// started, and the listeners inside the bed's network namespace. `localcluster
// -reconcile` sends "reconcile", gets the pass's log line by line, then one result
// line.
const (
	controlSocket   = "control.sock"
	requestLine     = "reconcile"
	resultPrefix    = "localcluster-result: "
	resultOK        = "ok"
	passTimeout     = 3 * time.Minute
	backgroundEvery = 10 * time.Second
)

// controlServer serves reconcile requests and, from the first one on, runs the
// stand-ins in the background too (quietly: only changes are logged), the way a
// cluster's controllers keep reconciling.
type controlServer struct {
	si       *standIns
	logw     io.Writer
	loopOnce sync.Once
}

// serveControl listens on stateDir/control.sock until ctx ends.
func serveControl(ctx context.Context, stateDir string, si *standIns, logw io.Writer) (stop func(), err error) {
	path := filepath.Join(stateDir, controlSocket)
	_ = os.Remove(path) // left by a killed run
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	cs := &controlServer{si: si, logw: logw}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go cs.handle(ctx, conn)
		}
	}()
	return func() { _ = l.Close(); _ = os.Remove(path) }, nil
}

func (cs *controlServer) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != requestLine {
		fmt.Fprintf(conn, "%serror: unknown request %q\n", resultPrefix, strings.TrimSpace(line))
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	pctx, cancel := context.WithTimeout(ctx, passTimeout)
	defer cancel()
	fmt.Fprintln(cs.logw, "localcluster: reconcile requested")
	// The server's log first: a client that went away must not cut the log short.
	log := &passLog{w: io.MultiWriter(cs.logw, conn)}
	if err := cs.si.reconcile(pctx, log, true); err != nil {
		fmt.Fprintf(cs.logw, "localcluster: reconcile failed: %v\n", err)
		fmt.Fprintf(conn, "%serror: %s\n", resultPrefix, strings.Join(strings.Fields(err.Error()), " "))
		return
	}
	fmt.Fprintf(conn, "%s%s\n", resultPrefix, resultOK)
	cs.loopOnce.Do(func() { go cs.loop(ctx) })
}

// loop reconciles every backgroundEvery until ctx ends, logging changes and new errors.
func (cs *controlServer) loop(ctx context.Context) {
	fmt.Fprintf(cs.logw, "localcluster: the stand-ins keep reconciling every %s\n", backgroundEvery)
	t := time.NewTicker(backgroundEvery)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, passTimeout)
		err := cs.si.reconcile(pctx, &passLog{w: cs.logw, quiet: true}, false)
		cancel()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr && msg != "" && ctx.Err() == nil {
			fmt.Fprintf(cs.logw, "localcluster: background reconcile failed: %s\n", msg)
		}
		lastErr = msg
	}
}

// requestReconcile asks the running localcluster for a pass and prints its log.
func requestReconcile(stateDir string, stdout io.Writer) error {
	path := filepath.Join(stateDir, controlSocket)
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if pid, ok := runningPID(filepath.Join(stateDir, "localcluster.pid")); ok {
			return fmt.Errorf("the local cluster (pid %d) runs without controller stand-ins: they need root and the in-cluster monitoring (not -no-monitoring)", pid)
		}
		return fmt.Errorf("no local cluster runs for %s (start it with make demo): %w", stateDir, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(passTimeout + 10*time.Second))
	if _, err := fmt.Fprintln(conn, requestLine); err != nil {
		return fmt.Errorf("ask the local cluster to reconcile: %w", err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		result, ok := strings.CutPrefix(line, resultPrefix)
		if !ok {
			fmt.Fprintln(stdout, line)
			continue
		}
		if result == resultOK {
			return nil
		}
		return errors.New(strings.TrimPrefix(result, "error: "))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the local cluster's answer: %w", err)
	}
	return errors.New("the local cluster hung up before the pass ended (see its log)")
}
