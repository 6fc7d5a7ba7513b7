package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	am "github.com/picluster/kubectl-picluster/pkg/alertmanager"
)

func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }

// waitingCommand is a command that waits for something, the stderr line that
// shows it is waiting, the state line it must leave, and a check that nothing
// was left behind.
type waitingCommand struct {
	args    []string
	waiting string
	state   string
	after   func(t *testing.T)
}

// TestInterruptsEndWaitingCommands sends SIGINT and SIGTERM to the real binary
// while each command waits: exit 130 or 143, one line that says what was left in
// which state, no "context canceled" nor a failure reported, nothing left
// behind.
func TestInterruptsEndWaitingCommands(t *testing.T) {
	dir := buildPlugin(t)
	c := testbed.Require(t)
	amSrv, _ := amtest.Start(t)
	fake := amtest.NewFakeDiscord(t, amtest.RateLimited(`{"retry_after": 50}`, ""), amtest.RateLimited(`{"retry_after": 50}`, ""))
	webhookNS := c.Namespace(t)
	_, err := c.Client.CoreV1().Secrets(webhookNS).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmanager-discord-webhook"},
		StringData: map[string]string{"webhookUrl": fake.URL},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "namespaces:\n  monitoring: %s\n", webhookNS), 0o600))
	for _, ns := range []string{"immich", "backup-jobs"} {
		_, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
	base := []string{"--kubeconfig", c.Kubeconfig, "--config", cfg}
	out, err := exec.Command("kubectl-picluster", append(base, "install", "--component", "rbac")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		_ = exec.Command("kubectl-picluster", append(base, "uninstall", "--component", "rbac", "--yes")...).Run()
	})
	roleLeft := func(t *testing.T) {
		_, err := c.Client.RbacV1().ClusterRoles().Get(t.Context(), "picluster-operator", metav1.GetOptions{})
		assert.NoError(t, err, "nothing was deleted")
	}

	commands := map[string]waitingCommand{
		"check --wait": {
			args:    []string{"check", "--wait", "5m"},
			waiting: "attempt 1:",
			state:   "the checks stopped at attempt",
		},
		"alert test --wait": {
			args:    []string{"--alertmanager-url", amSrv.URL, "alert", "test", "--wait", "--label", "team=slow"},
			waiting: "waiting for the firing notification",
			state:   "was resolved; nothing is left firing",
			after: func(t *testing.T) {
				assert.Empty(t, amtest.Alerts(t, amSrv.URL, `alertname="`+am.TestAlertName+`"`), "the test alert is resolved")
			},
		},
		"webhook test waiting out a rate limit": {
			args:    []string{"webhook", "test"},
			waiting: "Discord rate limits the webhook: retrying in",
			state:   "the test message may or may not have reached Discord",
		},
		"install --wait": {
			args:    []string{"install", "--component", "backup", "--wait", "--timeout", "5m"},
			waiting: "waiting for",
			state:   "install stopped part way: the objects applied so far stay as applied",
		},
		"uninstall at its question": {
			args:    []string{"uninstall", "--component", "rbac"},
			waiting: "Delete these",
			state:   "nothing was deleted",
			after:   roleLeft,
		},
	}
	for name, wc := range commands {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(name+"/"+sig.String(), func(t *testing.T) {
				var stdout, stderr testbed.SyncBuffer
				cmd := exec.Command("kubectl-picluster", append(append([]string{}, base...), wc.args...)...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				stdin, err := cmd.StdinPipe() // open and silent: a question waits
				require.NoError(t, err)
				defer stdin.Close()
				require.NoError(t, cmd.Start())
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				require.NoError(t, proc.WaitFor(ctx, 100*time.Millisecond, func(context.Context) (bool, error) {
					return strings.Contains(stderr.String(), wc.waiting), nil
				}), "waiting: %s", stderr.String())
				require.NoError(t, cmd.Process.Signal(sig))
				err = cmd.Wait()
				want := 130
				if sig == syscall.SIGTERM {
					want = 143
				}
				assert.Equal(t, want, exitCode(err), "stderr: %s", stderr.String())
				lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
				last := lines[len(lines)-1]
				name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
				assert.True(t, strings.HasPrefix(last, "interrupted by "+name+": "), "the last line says so: %q", last)
				assert.Contains(t, last, wc.state)
				assert.Equal(t, 1, strings.Count(stderr.String(), "interrupted by"), "one line")
				// After the line that showed it waiting, only the state line: no
				// "context canceled", no failure, no error.
				all := stderr.String()
				tail := all[strings.LastIndex(all, wc.waiting):]
				_, tail, _ = strings.Cut(tail, "\n")
				assert.Equal(t, last+"\n", tail)
				for _, s := range []string{"canceled", "Error:", "failed"} {
					assert.NotContains(t, stdout.String(), s)
					assert.NotContains(t, last, s)
				}
				if wc.after != nil {
					wc.after(t)
				}
			})
		}
	}
}

// TestWaitGivesUpOnACommandThatDoesNotStop: a second signal, or a command that
// does not stop within the grace period, still ends the process with 130/143
// and a line that says the clean-up did not finish.
func TestWaitGivesUpOnACommandThatDoesNotStop(t *testing.T) {
	tests := map[string]struct {
		signals []os.Signal
		grace   time.Duration
		code    int
		line    string
	}{
		"second signal":  {signals: []os.Signal{syscall.SIGINT, syscall.SIGTERM}, grace: time.Hour, code: 143, line: "interrupted by SIGTERM again: stopped without finishing the clean-up"},
		"grace runs out": {signals: []os.Signal{syscall.SIGINT}, grace: 10 * time.Millisecond, code: 130, line: "interrupted by SIGINT: the command did not stop within 10ms"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sigs := make(chan os.Signal, len(tc.signals))
			for _, s := range tc.signals {
				sigs <- s
			}
			var cause error
			var errOut bytes.Buffer
			code := wait(make(chan int), sigs, func(err error) { cause = err }, &errOut, tc.grace)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, errOut.String(), tc.line)
			assert.EqualError(t, cause, "interrupted by SIGINT", "the command's context is cancelled by the first signal")
		})
	}
}
