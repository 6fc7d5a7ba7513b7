package cmd_test

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/picluster/kubectl-picluster/pkg/cmd"
	"github.com/picluster/kubectl-picluster/pkg/duration"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// durationFlags walks the whole command tree and returns every duration flag by
// "command --flag".
func durationFlags(t *testing.T) map[string]*pflag.Flag {
	t.Helper()
	root := cmd.NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	found := map[string]*pflag.Flag{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "duration" {
				found[c.CommandPath()+" --"+f.Name] = f
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return found
}

// Every duration flag takes the same syntax with the same errors (issue 16): the
// table of inputs is run against each flag as registered on its command. (kubectl's
// own --request-timeout keeps kubectl's syntax: client-go parses it.)
func TestEveryDurationFlagTakesOneSyntax(t *testing.T) {
	flags := durationFlags(t)
	for _, want := range []string{
		"kubectl picluster silence add --duration", "kubectl picluster silence extend --duration",
		"kubectl picluster maintenance start --duration", "kubectl picluster alert test --resolve-after",
		"kubectl picluster alert test --timeout", "kubectl picluster check --wait", "kubectl picluster check --check-timeout",
		"kubectl picluster install --timeout", "kubectl picluster webhook test --timeout",
	} {
		assert.Contains(t, flags, want)
	}
	accepted := []string{"30s", "5m", "2h", "1d", "1w", "1h30m", "1.5h", "500ms"}
	refused := map[string]error{"1x": duration.ErrSyntax, "soon": duration.ErrSyntax, "": duration.ErrSyntax, "90": duration.ErrSyntax, "-1h": nil, "0s": nil}
	for name, f := range flags {
		t.Run(name, func(t *testing.T) {
			_, ours := f.Value.(*duration.Value)
			require.True(t, ours, "%s is parsed by pkg/duration", name)
			for _, in := range accepted {
				assert.NoError(t, f.Value.Set(in), "%s %s", name, in)
			}
			for in, reason := range refused {
				err := f.Value.Set(in)
				if in == "0s" && name == "kubectl picluster check --wait" {
					assert.NoError(t, err, "--wait 0 means no waiting")
					continue
				}
				require.Error(t, err, "%s %q", name, in)
				if reason != nil {
					assert.ErrorIs(t, err, reason)
				}
			}
		})
	}
}

// The wording a person sees names the flag and the value, the same for every flag.
func TestDurationErrorWording(t *testing.T) {
	kc := noCluster(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"silence add -d":        {args: []string{"silence", "add", "Foo", "-c", "x", "-d", "1x"}, want: `Error: invalid argument "1x" for "-d, --duration" flag: not a duration (use a number and a unit: 30s, 5m, 2h, 1d, 1w)`},
		"check --wait":          {args: []string{"check", "--wait", "1x"}, want: `Error: invalid argument "1x" for "--wait" flag: not a duration (use a number and a unit: 30s, 5m, 2h, 1d, 1w)`},
		"install --timeout 0":   {args: []string{"install", "--timeout", "0"}, want: `Error: invalid argument "0" for "--timeout" flag: must be greater than 0`},
		"alert --resolve-after": {args: []string{"alert", "test", "--resolve-after", "-5m"}, want: `Error: invalid argument "-5m" for "--resolve-after" flag: must be greater than 0`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"--kubeconfig", kc}, tc.args...)...)
			assert.Equal(t, exitcode.Usage, code)
			assert.Equal(t, tc.want, strings.TrimSpace(errOut))
		})
	}
}
