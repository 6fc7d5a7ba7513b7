package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	flagRef  = regexp.MustCompile(`(?:^|[\[\s(])(--?[a-z][a-z-]*)`)
)

// TestReadmeCommandsTable keeps the README's command table true: every command it names
// exists (and nothing it lists under "Not yet built" does), every command the plugin has
// is in it, every flag a row names exists, and a row that names one command lists all of
// that command's own flags.
func TestReadmeCommandsTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	section := string(readme)
	start := strings.Index(section, "\n## Commands\n")
	require.GreaterOrEqual(t, start, 0, "README has a Commands section")
	section = section[start:]
	if i := strings.Index(section[1:], "\n## "); i >= 0 {
		section = section[:i+1]
	}
	notYet := ""
	if i := strings.Index(section, "Not yet built"); i >= 0 {
		notYet, section = section[i:], section[:i]
	}

	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.Split(strings.ReplaceAll(line, `\|`, "¦"), "|")[1]
		for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
			usage := m[1]
			path, choices := commandPath(root, usage)
			require.NotEmpty(t, path, "README names %q, which is no command", usage)
			name := strings.Join(path, " ")
			cmd, _, err := root.Find(path)
			require.NoError(t, err, name)
			if len(choices) > 0 && cmd.HasSubCommands() {
				for _, c := range choices {
					sub, _, err := root.Find(append(path, c))
					require.NoError(t, err)
					require.Equal(t, c, sub.Name(), "README names %q, which %s does not have", c, name)
					documented[name+" "+c] = true
				}
				continue
			}
			documented[name] = true
			named := map[string]bool{}
			for _, f := range flagRef.FindAllStringSubmatch(usage, -1) {
				flag := strings.TrimLeft(f[1], "-")
				var found *pflag.Flag
				if strings.HasPrefix(f[1], "--") {
					found = cmd.Flags().Lookup(flag)
				} else {
					found = cmd.Flags().ShorthandLookup(flag)
				}
				if assert.NotNil(t, found, "README row %q: %s has no flag %s", usage, name, f[1]) {
					named[found.Name] = true
				}
			}
			cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden && f.Name != "help" {
					assert.True(t, named[f.Name], "README row %q lacks --%s of %s", usage, f.Name, name)
				}
			})
		}
	}

	var missing []string
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || !sub.IsAvailableCommand() {
				continue
			}
			name := strings.TrimSpace(prefix + " " + sub.Name())
			if documented[name] {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub, name)
				continue
			}
			missing = append(missing, name)
		}
	}
	walk(root, "")
	sort.Strings(missing)
	assert.Empty(t, missing, "commands the README's table does not name")

	for _, m := range codeSpan.FindAllStringSubmatch(notYet, -1) {
		word := strings.Fields(m[1])[0]
		cmd, _, err := root.Find([]string{word})
		assert.True(t, err != nil || cmd == root, "README says %q is not yet built, but it exists", word)
	}
}

// commandPath reads a usage like "silence add¦list", "runbook list¦show NAME" or
// "install [--export]": the words that name existing commands, and the choices
// ("a¦b") that follow them.
func commandPath(root *cobra.Command, usage string) ([]string, []string) {
	var path []string
	cmd := root
	for _, word := range strings.Fields(usage) {
		if strings.Contains(word, "¦") {
			return path, strings.Split(word, "¦")
		}
		next := findSub(cmd, word)
		if next == nil {
			break
		}
		path = append(path, word)
		cmd = next
	}
	return path, nil
}

func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name {
			return sub
		}
	}
	return nil
}
