package cmd_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/amtest"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
	"github.com/picluster/kubectl-picluster/pkg/bundle"
	"github.com/picluster/kubectl-picluster/pkg/cmd"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// example is how the test runs one example of a --help or the README on the
// bed, and what it must answer.
type example struct {
	// code is the exit code the example gives on the bed, why says why when
	// it is not 0 (the bed is not the operator's cluster: no Flux, no External
	// Secrets, Alertmanager routes to a "null" receiver).
	code int
	why  string
	// replace turns placeholders of the example into what exists on the bed
	// (a silence ID, a writable path), as an operator would.
	replace map[string]string
	// has is what its output must say when it fails.
	has string
	// timeout stops an example that waits longer than a test should (a
	// context deadline, as --timeout/--wait would).
	timeout time.Duration
}

// placeholderID is the silence ID the help examples show.
const placeholderID = "8f6f7c1e-0c1d-4d2a-9a55-0d7c51d0b0e2"

// examples lists every example, in the order they run (the silences the first
// examples add are the ones the later ones list, extend and expire).
var examples = []struct {
	line string
	example
}{
	{"kubectl picluster version", example{}},
	{"kubectl picluster version --client -o json", example{}},
	{"kubectl picluster --context pi-k3s version -o json", example{}},
	{"kubectl picluster config view", example{}},
	{"kubectl picluster config view --config ./picluster.yaml -o json", example{}},
	{"source <(kubectl-picluster completion bash)", example{}},
	{`kubectl-picluster completion zsh > "${fpath[1]}/_kubectl-picluster"`, example{}},
	{"kubectl-picluster completion fish > ~/.config/fish/completions/kubectl-picluster.fish", example{}},
	{"kubectl picluster runbook list", example{}},
	{"kubectl picluster runbook list -o json", example{}},
	{"kubectl picluster runbook show ImmichServerDown", example{}},
	{"kubectl picluster runbook show restore", example{}},
	{`kubectl picluster silence add ImmichThumbnailQueueStuck --duration 2h --comment "re-indexing the library"`, example{}},
	{`kubectl picluster silence add alertname=ImmichServerDown 'job=~"immich.*"' --duration 30m -c "node reboot"`, example{}},
	{`kubectl picluster silence add 'severity=~"warn.*"' namespace=immich --dry-run -d 1h -c "check first"`, example{}},
	{`kubectl picluster silence add namespace=immich --start 2030-01-05T02:00:00+01:00 --end 2030-01-05T04:00:00+01:00 -c "upgrade"`, example{}},
	{"kubectl picluster silence list", example{}},
	{"kubectl picluster silence list alertname=ImmichThumbnailQueueStuck -o json", example{}},
	{"kubectl picluster silence list --expired", example{}},
	{"kubectl picluster silence list -q", example{}},
	{"kubectl picluster silence extend " + placeholderID + " --duration 1h", example{replace: map[string]string{placeholderID: "ID"}}},
	{"kubectl picluster silence expire " + placeholderID, example{replace: map[string]string{placeholderID: "ID"}}},
	{"kubectl picluster silence expire $(kubectl picluster silence list -q alertname=ImmichThumbnailQueueStuck)", example{}},
	{"kubectl picluster alert list", example{}},
	{"kubectl picluster alert list namespace=immich -o json", example{}},
	{"kubectl picluster alert list ImmichThumbnailQueueStuck", example{}},
	{"kubectl picluster alert test --resolve-after 2m", example{}},
	{"kubectl picluster alert test --wait", example{code: 1, has: "routes to receiver null, which has no integrations", why: "the bed's Alertmanager routes to a null receiver: nobody is notified, and it says so"}},
	{"kubectl picluster alert test --wait=delivered", example{code: 1, has: "routes to receiver null, which has no integrations", why: "null receiver, as above: nothing can be delivered"}},
	{"kubectl picluster alert test --label namespace=immich --severity critical --wait --timeout 15m", example{code: 1, has: "routes to receiver null, which has no integrations", why: "null receiver, as above"}},
	{`kubectl picluster maintenance start --duration 2h --comment "Immich upgrade"`, example{}},
	{"kubectl picluster maintenance start --duration 30m namespace=backup-jobs", example{}},
	{"kubectl picluster maintenance status", example{}},
	{"kubectl picluster maintenance status -o json", example{}},
	{"kubectl picluster maintenance stop", example{}},
	{"kubectl picluster maintenance stop namespace=backup-jobs", example{}},
	{"kubectl picluster maintenance stop --all", example{}},
	{"kubectl picluster targets", example{}},
	{"kubectl picluster targets -o json", example{}},
	{"kubectl picluster targets --job 'immich.*'", example{code: 1, has: `no target's job matches "immich.*"`, why: "the bed's Prometheus scrapes no Immich: no job matches, and it says so"}},
	{"kubectl picluster rules", example{}},
	{"kubectl picluster rules -o json", example{}},
	{"kubectl picluster webhook test", example{}},
	{"kubectl picluster --context pi-k3s webhook test -o json", example{}},
	{"kubectl picluster install --export > picluster.yaml", example{}},
	{"kubectl picluster install --dry-run=server", example{}},
	{"kubectl picluster install -o json", example{}},
	{"kubectl picluster install", example{}},
	{"kubectl picluster backup status", example{}},
	{"kubectl picluster backup run --wait --force", example{code: 2, has: "a Secret the backup needs is missing: secret backup-jobs/postgres-backup-db-password does not exist", why: "the bed has no External Secrets: the backup's Secrets are missing, and run says so before creating a Job whose pod would wait for them (backup_test runs it with them)"}},
	{"kubectl picluster backup run --follow", example{code: 2, has: "a Secret the backup needs is missing", why: "as backup run --wait --force"}},
	{"kubectl picluster backup run --follow --timeout 1h", example{code: 2, has: "a Secret the backup needs is missing", why: "as backup run --wait --force"}},
	{"kubectl picluster backup run", example{code: 2, has: "a Secret the backup needs is missing", why: "as backup run --wait --force"}},
	{"kubectl picluster backup status --max-age 8d -o json", example{}},
	{"kubectl picluster runbook run ImmichThumbnailQueueStuck --read-only", example{code: 2, has: `deployments.apps "immich-server" not found`,
		why: "the bed has no Immich: the step reading the server's logs fails (a step error is exit 2); runbook_test runs it against a real backlog"}},
	{"kubectl picluster runbook run BackupJobFailed --alert-labels job_name=postgres-backup-29000000", example{code: 2, has: `jobs.batch "postgres-backup-29000000" not found`,
		why: "no such Job on the bed: its logs cannot be read; the backup run it offers is not confirmed (stdin is empty)"}},
	{"kubectl picluster runbook run", example{has: "No alert with a runbook is firing", why: "only Watchdog and test alerts fire on the bed"}},
	{"kubectl picluster runbook run BackupStale --yes -o json", example{code: 2, has: `"runbook": "BackupStale"`,
		why: "the bed has no External Secrets: the backup run and list steps say the Secrets are missing"}},
	{"kubectl picluster backup list", example{code: 2, has: "secret backup-jobs/postgres-backup-ssh-key does not exist", why: "the bed has no External Secrets: the NAS's SSH key Secret is missing, and it says so before creating a Job whose pod would wait for it"}},
	{"kubectl picluster backup list -o json", example{code: 2, has: "secret backup-jobs/postgres-backup-ssh-key does not exist", why: "as backup list"}},
	{"kubectl picluster backup verify latest", example{code: 2, has: "secret backup-jobs/postgres-backup-ssh-key does not exist", why: "as backup list"}},
	{"kubectl picluster backup verify latest -o json", example{code: 2, has: "secret backup-jobs/postgres-backup-ssh-key does not exist", why: "as backup list"}},
	{"kubectl picluster restore --dry-run", example{code: 2, has: "deployment immich/immich-server", why: "the bed runs no Immich: the Deployments whose replicas the plan records do not exist (restore_test runs it with them)"}},
	{"kubectl picluster restore --backup immich-20261129T030000Z.pgdump", example{code: 2, has: "a Secret the backup needs is missing", why: "the bed has no External Secrets: preflight's Job would wait for the NAS key and the DB password, so it is not created"}},
	{"kubectl picluster restore --backup latest --yes --jobs 2", example{code: 2, has: "a Secret the backup needs is missing", why: "as restore --backup NAME"}},
	{"kubectl picluster restore --resume", example{code: 2, has: "no restore to resume", why: "no restore was cut off on the bed"}},
	{"kubectl picluster restore --drill --backup all", example{code: 2, has: "a Secret the backup needs is missing", why: "as restore --backup NAME: listing the dumps needs the NAS key"}},
	{"kubectl picluster install --component backup --wait --timeout 5m", example{code: 124, timeout: 10 * time.Second, has: "ExternalSecret",
		why: "the bed has no External Secrets controller: the backup's ExternalSecret never gets Ready (stopped after 10s)"}},
	{"kubectl picluster check", example{code: 1, why: "the bed has no Flux, External Secrets or Immich: those checks fail"}},
	{"kubectl picluster check --category rules --category alerting", example{code: 1, why: "no Immich series, no Discord receiver on the bed"}},
	{"kubectl picluster check --wait 5m", example{code: 1, timeout: 10 * time.Second,
		why: "never all pass on the bed: the test stops it after 10s (its own deadline, not --wait's) and it reports its last attempt"}},
	{"kubectl picluster check -o json --textfile /var/lib/node-exporter/picluster.prom", example{code: 1, why: "as check",
		replace: map[string]string{"/var/lib/node-exporter/picluster.prom": "TEXTFILE"}}},
	{"kubectl picluster uninstall --dry-run", example{}},
	{"kubectl picluster uninstall --component backup --yes", example{}},
}

// notRun are the README's code spans that name the plugin but are no command line.
var notRun = map[string]string{
	"kubectl picluster <TAB>":      "a key press",
	"kubectl-picluster <TAB>":      "a key press",
	"kubectl-picluster __complete": "cobra's completion protocol, run by TestCompletion",
}

// helpExamples returns every example line of every command's --help.
func helpExamples(c *cobra.Command) []string {
	var out []string
	for _, l := range strings.Split(c.Example, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	for _, sub := range c.Commands() {
		out = append(out, helpExamples(sub)...)
	}
	return out
}

var readmeSpan = regexp.MustCompile("`([^`]+)`")

// readmeExamples returns the README's code spans that run the plugin.
func readmeExamples(t *testing.T) []string {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	var out []string
	for _, m := range readmeSpan.FindAllStringSubmatch(string(readme), -1) {
		span := strings.Join(strings.Fields(m[1]), " ")
		for _, prefix := range []string{"kubectl picluster ", "kubectl-picluster ", "source <(kubectl-picluster "} {
			if strings.HasPrefix(span, prefix) {
				out = append(out, span)
				break
			}
		}
	}
	return out
}

// bundleAlerts returns the alert names of the bundle's PrometheusRules.
func bundleAlerts(t *testing.T) []string {
	objs, err := bundle.Render(settings.Default())
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		groups, _, _ := unstructuredSlice(o.Object, "spec", "groups")
		for _, g := range groups {
			rules, _, _ := unstructuredSlice(g.(map[string]any), "rules")
			for _, r := range rules {
				if a, ok := r.(map[string]any)["alert"].(string); ok {
					names = append(names, a)
				}
			}
		}
	}
	require.NotEmpty(t, names)
	return names
}

func unstructuredSlice(m map[string]any, path ...string) ([]any, bool, error) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = mm[p]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

var alertWord = regexp.MustCompile(`^(?:alertname=)?([A-Z][A-Za-z]+)$`)

// TestExamplesAreListed: every example of every --help and of the README is in
// the table above (so it is run), and every alert name an example uses is an
// alert of the bundle.
func TestExamplesAreListed(t *testing.T) {
	listed := map[string]bool{}
	for _, e := range examples {
		listed[e.line] = true
	}
	all := append(helpExamples(cmd.NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())), readmeExamples(t)...)
	alerts := bundleAlerts(t)
	for _, ex := range all {
		if _, skip := notRun[ex]; skip {
			continue
		}
		assert.True(t, listed[ex], "example %q is not run by TestExamplesRunOnTheBed", ex)
	}
	for _, e := range examples {
		for _, word := range shellWords(t, e.line) {
			if m := alertWord.FindStringSubmatch(strings.Trim(word, "()")); m != nil && !slices.Contains([]string{"ID"}, m[1]) {
				assert.Contains(t, alerts, m[1], "example %q names an alert the bundle does not have", e.line)
			}
		}
	}
}

// TestExamplesRunOnTheBed runs every example against the bed (API server,
// Prometheus and Alertmanager in the cluster, reached as on the real one).
func TestExamplesRunOnTheBed(t *testing.T) {
	c, _ := testbed.RequireMonitoring(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", dir)

	// The operator's context is called pi-k3s in the examples.
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	require.NoError(t, err)
	kc.Contexts["pi-k3s"] = kc.Contexts[kc.CurrentContext].DeepCopy()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, kubeconfig))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "picluster.yaml"), []byte("backup:\n  timeZone: Europe/Berlin\n"), 0o600))

	for _, ns := range []string{"immich", "backup-jobs"} {
		_, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
	fake := amtest.NewFakeDiscord(t)
	_, err = c.Client.CoreV1().Secrets("monitoring").Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmanager-discord-webhook"},
		StringData: map[string]string{"webhookUrl": fake.URL},
	}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}

	run := func(t *testing.T, timeout time.Duration, args ...string) plugintest.Result {
		return plugintest.Runner{Timeout: timeout}.Run(t, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	}
	// Leave the bed as found: the examples install the bundle and add silences.
	t.Cleanup(func() {
		run(t, 0, "uninstall", "--yes")
		for _, id := range strings.Fields(run(t, 0, "silence", "list", "-q").Stdout) {
			run(t, 0, "silence", "expire", id)
		}
	})
	var lastID string
	for _, e := range examples {
		t.Run(e.line, func(t *testing.T) {
			line := e.line
			for from, to := range e.replace {
				switch to {
				case "ID":
					to = lastID
				case "TEXTFILE":
					to = filepath.Join(dir, "picluster.prom")
				}
				line = strings.ReplaceAll(line, from, to)
			}
			args := commandLine(t, line, func(inner []string) []string {
				r := run(t, 0, inner...)
				require.Zero(t, r.Code, r.Stderr)
				return strings.Fields(r.Stdout)
			})
			r := run(t, e.timeout, args...)
			assert.Equal(t, e.code, r.Code, "%s\nstdout: %s\nstderr: %s", e.why, r.Stdout, r.Stderr)
			if e.code == 0 {
				assert.NoError(t, r.Err)
			}
			assert.Contains(t, r.All(), e.has)
			if len(args) > 1 && args[0] == "silence" && args[1] == "add" && r.Code == 0 && !slices.Contains(args, "--dry-run") {
				lastID = strings.TrimSpace(r.Stdout)
			}
		})
	}
}

// commandLine turns an example into the plugin's arguments: the program name,
// "source <(...)" and a "> FILE" redirection go; "$(kubectl picluster ...)" is
// replaced by what sub prints for it.
func commandLine(t *testing.T, line string, sub func([]string) []string) []string {
	t.Helper()
	if strings.HasPrefix(line, "source <(") {
		line = strings.TrimSuffix(strings.TrimPrefix(line, "source <("), ")")
	}
	if i := strings.Index(line, " > "); i >= 0 {
		line = line[:i]
	}
	var out []string
	words := shellWords(t, line)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "$(") {
			j := i
			for !strings.HasSuffix(words[j], ")") {
				j++
			}
			inner := strings.Join(words[i:j+1], " ")
			inner = strings.TrimSuffix(strings.TrimPrefix(inner, "$("), ")")
			out = append(out, sub(programArgs(t, shellWords(t, inner)))...)
			i = j
			continue
		}
		out = append(out, w)
	}
	return programArgs(t, out)
}

// programArgs drops "kubectl picluster" or "kubectl-picluster".
func programArgs(t *testing.T, words []string) []string {
	t.Helper()
	switch {
	case len(words) >= 2 && words[0] == "kubectl" && words[1] == "picluster":
		return words[2:]
	case len(words) >= 1 && words[0] == "kubectl-picluster":
		return words[1:]
	}
	t.Fatalf("%q does not run the plugin", words)
	return nil
}

// shellWords splits a command line as a POSIX shell does for these examples:
// blanks separate words, single and double quotes group and are removed.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unbalanced quotes in %q", line)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
