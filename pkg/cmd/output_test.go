package cmd_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/output"
	"github.com/picluster/kubectl-picluster/pkg/prometheus"
)

func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }

// oneJSONDocument decodes s as exactly one JSON document.
func oneJSONDocument(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	require.NoError(t, dec.Decode(&v), "stdout is JSON: %q", s)
	require.ErrorIs(t, dec.Decode(new(any)), io.EOF, "stdout is one JSON document: %q", s)
	return v
}

// TestEveryCommandTakesEveryOutputFormat runs every command that prints data
// with each of kubectl's output names against real servers (the bed's API
// server, Prometheus, Alertmanager): the name is accepted, what comes out
// parses, and a failure with -o json or yaml is one error document on stdout.
func TestEveryCommandTakesEveryOutputFormat(t *testing.T) {
	c := testbed.Require(t)
	am, _ := amtest.Start(t)
	prom := servers.PrometheusT(t, servers.Options{}, "", nil)
	require.NoError(t, prom.Reload(t.Context(), servers.UpAndDownConfig(prom, proc.ClosedPort(t)),
		map[string]string{"rules.yaml": "groups: [{name: g, rules: [{alert: AlwaysFiring, expr: vector(1)}]}]\n"}))
	base := []string{"--kubeconfig", c.Kubeconfig, "--prometheus-url", prom.URL, "--alertmanager-url", am.URL}
	pluginRun := func(args ...string) plugintest.Result {
		return plugintest.Run(t, append(append([]string{}, base...), args...)...)
	}
	// Something to list in every listing: both targets scraped, the rule
	// loaded, a silence, an alert, a maintenance window, the bundle's rbac installed.
	require.NoError(t, proc.WaitFor(t.Context(), 200*time.Millisecond, func(context.Context) (bool, error) {
		r := pluginRun("targets", "-o", "json")
		var ts []prometheus.Target
		return json.Unmarshal([]byte(r.Stdout), &ts) == nil && len(ts) == 2 && !ts[0].LastScrape.IsZero() && !ts[1].LastScrape.IsZero(), nil
	}))
	require.NoError(t, proc.WaitFor(t.Context(), 200*time.Millisecond, func(context.Context) (bool, error) {
		return strings.Contains(pluginRun("rules").Stdout, "AlwaysFiring"), nil
	}))
	amtest.Amtool(t, am.URL, "silence", "add", "alertname=Foo", "-c", "listed", "-d", "1h")
	amtest.PostAlerts(t, am.URL, map[string]string{"alertname": "ImmichServerDown", "namespace": "immich"})
	require.Zero(t, pluginRun("maintenance", "start", "-d", "1h").Code)
	for _, ns := range []string{"monitoring", "immich", "backup-jobs"} {
		_, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
	r := pluginRun("install", "--component", "rbac")
	require.Zero(t, r.Code, r.Stderr)
	t.Cleanup(func() { pluginRun("uninstall", "--component", "rbac", "--yes") })

	commands := map[string]struct {
		args []string
		def  string // the command's own form
		// fails is the exit code when it fails before printing a result (an error
		// document in json and yaml); 0 when it prints its result.
		fails int
	}{
		"version":            {args: []string{"version"}, def: output.Text},
		"config view":        {args: []string{"config", "view"}, def: output.YAML},
		"runbook list":       {args: []string{"runbook", "list"}, def: output.Table},
		"silence list":       {args: []string{"silence", "list"}, def: output.Table},
		"alert list":         {args: []string{"alert", "list"}, def: output.Table},
		"maintenance status": {args: []string{"maintenance", "status"}, def: output.Table},
		"targets":            {args: []string{"targets"}, def: output.Table},
		"rules":              {args: []string{"rules"}, def: output.Table},
		"alert test":         {args: []string{"alert", "test", "--resolve-after", "1m"}, def: output.Text},
		"check":              {args: []string{"check", "--category", "rules"}, def: output.Text},
		"install":            {args: []string{"install", "--dry-run=client", "--component", "rbac"}, def: output.Text},
		"uninstall":          {args: []string{"uninstall", "--dry-run", "--component", "rbac"}, def: output.Text},
		// The bed has no Discord Secret: the command fails before it has a result.
		"webhook test": {args: []string{"webhook", "test"}, def: output.Text, fails: 2},
	}
	for name, tc := range commands {
		t.Run(name, func(t *testing.T) {
			run := func(extra ...string) plugintest.Result {
				return plugintest.Run(t, append(append(append([]string{}, base...), tc.args...), extra...)...)
			}
			plain := run()
			if tc.fails != 0 {
				require.Equal(t, tc.fails, plain.Code, plain.Stderr)
				assert.Empty(t, plain.Stdout)
			} else {
				require.NotEqual(t, 2, plain.Code, plain.Stderr)
				require.NotEmpty(t, plain.Stdout, plain.Stderr)
			}

			named := run("-o", tc.def)
			assert.Equal(t, plain.Code, named.Code, "-o %s is the default", tc.def)
			assert.Equal(t, plain.Stdout == "", named.Stdout == "")

			for _, format := range []string{"json", "yaml"} {
				r := run("-o", format)
				assert.Equal(t, plain.Code, r.Code, "-o %s: %s", format, r.Stderr)
				var doc any
				if format == "json" {
					doc = oneJSONDocument(t, r.Stdout)
				} else {
					require.NoError(t, yaml.Unmarshal([]byte(r.Stdout), &doc), r.Stdout)
				}
				require.NotNil(t, doc)
				if tc.fails != 0 {
					var e output.ErrorDocument
					require.NoError(t, yaml.UnmarshalStrict([]byte(r.Stdout), &e), "one error document: %s", r.Stdout)
					assert.Equal(t, tc.fails, e.ExitCode)
					assert.NotEmpty(t, e.Error)
					assert.Contains(t, r.Stderr, e.Error, "the message is on stderr too")
				}
			}

			r := run("-o", "go-template={{if .}}some{{end}}")
			assert.Equal(t, plain.Code, r.Code, r.Stderr)
			if tc.fails == 0 {
				assert.Equal(t, "some", r.Stdout)
			}

			if tc.def != output.Table {
				assert.Equal(t, 2, run("-o", "wide").Code, "wide only for tables")
				assert.Equal(t, 2, run("--no-headers").Code, "--no-headers only for tables")
				return
			}
			r = run("-o", "jsonpath={.kind}")
			assert.Equal(t, plain.Code, r.Code, r.Stderr)
			assert.Equal(t, "List", r.Stdout, "a listing is a List for templates, as in kubectl get")

			r = run("-o", "wide")
			assert.Equal(t, plain.Code, r.Code, r.Stderr)
			assert.Equal(t, firstLine(plain.Stdout), firstLine(r.Stdout), "wide has the table's header")
			r = run("--no-headers")
			assert.Equal(t, plain.Code, r.Code, r.Stderr)
			assert.Equal(t, strings.Count(plain.Stdout, "\n")-1, strings.Count(r.Stdout, "\n"), "--no-headers leaves out one line")
			assert.NotContains(t, r.Stdout, firstLine(plain.Stdout))
		})
	}
}

// TestErrorsAsDocuments: a failure before the result (unreachable server, bad
// argument, bad flag after -o) is one error document on stdout with -o json or
// yaml, and only a message on stderr otherwise.
func TestErrorsAsDocuments(t *testing.T) {
	kc := noCluster(t)
	closed := amtest.ClosedURL(t)
	tests := map[string]struct {
		args []string
		code int
	}{
		"unreachable Alertmanager":  {args: []string{"--alertmanager-url", closed, "silence", "list"}, code: 2},
		"unreachable API server":    {args: []string{"--kubeconfig", kc, "--request-timeout", "2s", "uninstall", "--dry-run"}, code: 2},
		"extra argument":            {args: []string{"maintenance", "status", "extra"}, code: 2},
		"bad flag after -o":         {args: []string{"runbook", "list", "-o", "FORMAT", "--bogus"}, code: 2},
		"bad settings":              {args: []string{"--config", "/nonexistent/picluster.yaml", "config", "view"}, code: 2},
		"extra argument to version": {args: []string{"version", "--client", "extra"}, code: 2},
	}
	for name, tc := range tests {
		for _, format := range []string{"json", "yaml", "default"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				args := tc.args
				if format != "default" {
					args = replaceFormat(args, format)
				} else {
					args = removeFormat(args)
				}
				r := plugintest.Run(t, args...)
				require.Equal(t, tc.code, r.Code, r.Stderr)
				require.Error(t, r.Err)
				assert.Equal(t, 1, strings.Count(r.Stderr, "Error:"), r.Stderr)
				if format == "default" {
					assert.Empty(t, r.Stdout)
					return
				}
				if format == "json" {
					oneJSONDocument(t, r.Stdout)
				}
				var e output.ErrorDocument
				require.NoError(t, yaml.UnmarshalStrict([]byte(r.Stdout), &e), r.Stdout)
				assert.Equal(t, output.ErrorDocument{Error: r.Err.Error(), ExitCode: tc.code}, e)
			})
		}
	}
}

// replaceFormat puts -o format into args (for FORMAT, or at the end).
func replaceFormat(args []string, format string) []string {
	out := append([]string{}, args...)
	for i, a := range out {
		if a == "FORMAT" {
			out[i] = format
			return out
		}
	}
	return append(out, "-o", format)
}

// removeFormat drops "-o FORMAT" from args.
func removeFormat(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-o" && i+1 < len(args) && args[i+1] == "FORMAT" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
