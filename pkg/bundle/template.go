package bundle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/picluster/kubectl-picluster/manifests"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// templateData is what every template sees: the settings as .S, plus values
// computed in Go because a template could only compute them awkwardly.
type templateData struct {
	S *settings.Settings
	// WebhookURL is set only when rendering the Alertmanager config for amtool.
	WebhookURL string
	// DiscordTargetPath is where Flux writes the webhook URL into the values.
	DiscordTargetPath string
}

// renderer executes the embedded templates for one set of settings.
type renderer struct {
	s    *settings.Settings
	tmpl *template.Template
	data templateData
}

func newRenderer(s *settings.Settings) (*renderer, error) {
	r := &renderer{s: s, data: templateData{S: s}}
	root := template.New("bundle").Delims("[[", "]]").Option("missingkey=error").Funcs(r.funcs())
	partials, err := fs.Glob(manifests.FS, "partials/*")
	if err != nil {
		return nil, fmt.Errorf("list partials: %w", err)
	}
	for _, p := range partials {
		text, err := fs.ReadFile(manifests.FS, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if _, err := root.New(path.Base(p)).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
	}
	r.tmpl = root
	tp, err := r.discordTargetPath()
	if err != nil {
		return nil, err
	}
	r.data.DiscordTargetPath = tp
	return r, nil
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{
		// quote writes a string as a double-quoted YAML (and JSON) scalar.
		"quote":      jsonString,
		"jsonString": jsonString,
		"indent":     indent,
		"include":    r.include,
		"list":       func(items ...string) []string { return items },
		// goDuration writes a Kubernetes duration (metav1.Duration: "1h0m0s").
		"goDuration": func(d settings.Duration) string { return d.D().String() },
		// promDuration writes a Prometheus duration ("30m", "8d").
		"promDuration": func(d settings.Duration) string { return d.String() },
		"window":       func(d settings.Duration) string { return "[" + d.String() + "]" },
		"seconds":      func(d settings.Duration) int64 { return int64(d.D() / time.Second) },
		"runbookURL":   func(alert string) string { return RunbookURL(r.s, alert) },
		"script":       script,
		// remoteRef writes the key (and property) of an ExternalSecret's remoteRef in
		// the form the store's provider reads.
		"remoteRef": func(ref settings.RemoteRef) string {
			key, property := r.s.ExternalSecrets.RemoteRefFields(ref)
			out := "key: " + jsonString(key)
			if property != "" {
				out += "\nproperty: " + jsonString(property)
			}
			return out
		},
		"queueAlerts": queueAlerts,
		"requestThreshold": func(s *settings.Settings) string {
			v := s.Immich.Thresholds.SlowRequestSeconds
			if s.Immich.Metrics.RequestDurationUnit == "milliseconds" {
				v *= 1000
			}
			return strconv.FormatFloat(v, 'g', -1, 64)
		},
	}
}

// RunbookURL is the runbook_url of an alert: the runbooks base URL from the
// settings and the alert's runbook file, runbooks/<alert>.md.
func RunbookURL(s *settings.Settings, alert string) string {
	return strings.TrimRight(s.Runbooks.BaseURL, "/") + "/" + alert + ".md"
}

func (r *renderer) include(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// execute runs one template file (parsed on the fly from the embedded bundle).
func (r *renderer) execute(file string, data templateData) ([]byte, error) {
	text, err := fs.ReadFile(manifests.FS, file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	t, err := r.tmpl.Clone()
	if err != nil {
		return nil, err
	}
	if _, err := t.New(file).Parse(string(text)); err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, file, data); err != nil {
		return nil, fmt.Errorf("execute %s: %w", file, err)
	}
	return b.Bytes(), nil
}

// component renders every file of a component folder, in file-name order.
func (r *renderer) component(name string) ([]*unstructured.Unstructured, error) {
	files, err := fs.Glob(manifests.FS, name+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", name, err)
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		text, err := r.execute(f, r.data)
		if err != nil {
			return nil, err
		}
		objs, err := parseObjects(text)
		if err != nil {
			return nil, fmt.Errorf("%s renders invalid YAML: %w", f, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// parseObjects reads a multi-document YAML stream into objects. Duplicate keys are
// errors (a template mistake), empty documents are skipped, and every object needs
// apiVersion, kind and a name.
func parseObjects(text []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(text)))
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if o.GetName() == "" {
			return nil, fmt.Errorf("document %d: %s has no metadata.name", i, o.GetKind())
		}
		out = append(out, o)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// script returns a file of manifests/scripts verbatim (never executed as a template).
func script(name string) (string, error) {
	b, err := fs.ReadFile(manifests.FS, "scripts/"+name)
	if err != nil {
		return "", fmt.Errorf("read script %s: %w", name, err)
	}
	return string(b), nil
}

// BackupScript returns backup.sh, the script the backup CronJob runs (its interface
// is described at its top); tests run the same file outside Kubernetes.
func BackupScript() string {
	s, err := script("backup.sh")
	if err != nil {
		panic(err) // embedded at build time; a missing file is a build mistake
	}
	return s
}

// RestoreScript returns restore.sh, the script the restore and drill Jobs run (inspect,
// restore and drill a dump; its interface is described at its top); tests run the same
// file outside Kubernetes.
func RestoreScript() string {
	s, err := script("restore.sh")
	if err != nil {
		panic(err) // embedded at build time; a missing file is a build mistake
	}
	return s
}
