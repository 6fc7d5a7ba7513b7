package alertmanager

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const upstreamModule = "github.com/prometheus/alertmanager"

// upstreamSendResolvedDefaults reads, from Alertmanager's own source in the module
// cache (the version go.mod requires), every `<kind>_configs` field of its
// config.Receiver and the send_resolved of that kind's default<Type> value
// (notify/<kind>/config.go in v0.35; older releases kept them in config/notifiers.go).
func upstreamSendResolvedDefaults(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", upstreamModule).Output()
	require.NoError(t, err, "locate %s in the module cache", upstreamModule)
	dir := strings.TrimSpace(string(out))
	require.NotEmpty(t, dir, "%s is not in the module cache: go mod download", upstreamModule)

	fset := token.NewFileSet()
	cfgFile, err := parser.ParseFile(fset, filepath.Join(dir, "config", "config.go"), nil, 0)
	require.NoError(t, err)
	imports := map[string]string{}
	for _, imp := range cfgFile.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := filepath.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = p
	}
	receiver := findStruct(cfgFile, "Receiver")
	require.NotNil(t, receiver, "config.Receiver in %s", dir)

	defaults := map[string]bool{}
	for _, f := range receiver.Fields.List {
		if f.Tag == nil {
			continue
		}
		tag, _ := strconv.Unquote(f.Tag.Value)
		yamlName, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
		kind, ok := strings.CutSuffix(yamlName, "_configs")
		if !ok {
			continue
		}
		// []*pkg.Type
		sel := f.Type.(*ast.ArrayType).Elt.(*ast.StarExpr).X.(*ast.SelectorExpr)
		pkgPath := imports[sel.X.(*ast.Ident).Name]
		require.True(t, strings.HasPrefix(pkgPath, upstreamModule+"/"), "field %s: package %q", yamlName, pkgPath)
		pkgDir := filepath.Join(dir, strings.TrimPrefix(pkgPath, upstreamModule+"/"))
		v, found := defaultSendResolved(t, fset, pkgDir, "Default"+sel.Sel.Name)
		require.True(t, found, "no Default%s with VSendResolved in %s", sel.Sel.Name, pkgDir)
		defaults[kind] = v
	}
	return defaults
}

func findStruct(f *ast.File, name string) *ast.StructType {
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range gd.Specs {
			if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == name {
				st, _ := ts.Type.(*ast.StructType)
				return st
			}
		}
	}
	return nil
}

// defaultSendResolved finds `var <name> = T{... VSendResolved: <bool> ...}` in a
// package (the name's first letter in either case: upstream unexported them).
func defaultSendResolved(t *testing.T, fset *token.FileSet, dir, name string) (bool, bool) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		var value, found bool
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || found {
				return !found
			}
			for i, id := range vs.Names {
				if !strings.EqualFold(id.Name, name) || i >= len(vs.Values) {
					continue
				}
				ast.Inspect(vs.Values[i], func(n ast.Node) bool {
					kv, ok := n.(*ast.KeyValueExpr)
					if ok && !found {
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "VSendResolved" {
							if b, ok := kv.Value.(*ast.Ident); ok {
								value, found = b.Name == "true", true
							}
						}
					}
					return !found
				})
			}
			return false
		})
		if found {
			return value, true
		}
	}
	return false, false
}

func TestSendResolvedDefaultsAreUpstreams(t *testing.T) {
	upstream := upstreamSendResolvedDefaults(t)
	require.Contains(t, upstream, "discord")
	require.GreaterOrEqual(t, len(upstream), 10, "read too few integrations from upstream: %v", upstream)
	for kind, want := range upstream {
		assert.Equal(t, want, SendResolvedDefault(kind), "send_resolved default of %s_configs", kind)
		cfg, err := ParseConfig("receivers: [{name: r, " + kind + "_configs: [{}]}]")
		require.NoError(t, err)
		assert.Equal(t, []Notifier{{Integration: kind, SendResolved: want}}, cfg.Receivers[0].Notifiers, kind)
	}
}

func TestRunningConfigRoutes(t *testing.T) {
	cfg, err := ParseConfig(`
route:
  receiver: "null"
  routes:
  - receiver: a
    routes: [{receiver: deep}]
receivers: [{name: "null"}, {name: a}, {name: deep}, {name: unused}]
`)
	require.NoError(t, err)
	assert.Equal(t, []string{"null", "a", "deep", "unused"}, cfg.ReceiverNames())
	for name, want := range map[string]bool{"null": true, "a": true, "deep": true, "unused": false} {
		assert.Equal(t, want, cfg.Route.Uses(name), name)
	}
	_, err = ConfigOf(nil)
	assert.Error(t, err)
}
