package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// DefaultPath is where the settings file is read from when --config is not given:
// $XDG_CONFIG_HOME/picluster/config.yaml, or ~/.config/picluster/config.yaml.
func DefaultPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(".config", "picluster", "config.yaml")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "picluster", "config.yaml")
}

// Load reads the settings file at path over the defaults and validates the result.
// A missing file means defaults, unless required is set (an explicit --config).
// Every error names the file and the key at fault.
func Load(path string, required bool) (*Settings, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	return s, nil
}

// Parse reads settings YAML over the defaults and validates the result.
func Parse(data []byte) (*Settings, error) {
	if err := checkStructure(data); err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	s := Default()
	if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
		return s, s.Validate()
	}
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, fmt.Errorf("expected a mapping of settings at the top level")
	}
	if problems := checkKeys(raw, reflect.TypeOf(*s), ""); len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if err := json.Unmarshal(js, s); err != nil {
		return nil, describeDecodeError(err)
	}
	return s, s.Validate()
}

var durationType = reflect.TypeOf(Duration(0))

// checkKeys walks decoded YAML beside the settings type and describes, sorted, every
// key the type does not have and every duration that does not parse: the JSON
// decoder would report neither with the key's full path.
func checkKeys(v any, t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if err := new(Duration).UnmarshalJSON(mustJSON(v)); err != nil {
			return []string{fmt.Sprintf("key %s: %v", prefix, err)}
		}
		return nil
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type error, reported by the decoder with its key
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for k, sub := range m {
			ft, ok := fields[k]
			if !ok {
				out = append(out, "unknown key "+join(prefix, k))
				continue
			}
			out = append(out, checkKeys(sub, ft, join(prefix, k))...)
		}
	case reflect.Slice:
		if items, ok := v.([]any); ok {
			for i, item := range items {
				out = append(out, checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i))...)
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for k, sub := range m {
				out = append(out, checkKeys(sub, t.Elem(), join(prefix, k))...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v) // v came out of json.Unmarshal, it marshals back
	return b
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// describeDecodeError turns encoding/json's messages, which speak of Go types,
// into ones that speak of settings keys.
func describeDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("key %s: expected %s, got %s", typeErr.Field, kindName(typeErr.Type), typeErr.Value)
	}
	return err
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
