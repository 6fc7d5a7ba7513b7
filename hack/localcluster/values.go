package main

import (
	"fmt"
	"strconv"
	"strings"
)

// mergeValues deep-merges src into dst the way Flux merges a HelmRelease's values
// sources: maps merge key by key, anything else (lists included) is replaced.
func mergeValues(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// pathStep is one step of a targetPath: a map key, then list indexes.
type pathStep struct {
	key     string
	indexes []int
}

// parseTargetPath reads the subset of Helm's --set path syntax that Flux's
// valuesFrom targetPath takes in this bundle: dotted keys, each optionally followed
// by [N] list indexes (a.b[1].c[0].d). Escapes are refused rather than misread.
func parseTargetPath(path string) ([]pathStep, error) {
	if path == "" || strings.ContainsAny(path, `\,=`) {
		return nil, fmt.Errorf("targetPath %q: want dotted keys with [N] indexes", path)
	}
	var steps []pathStep
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" {
			return nil, fmt.Errorf("targetPath %q: empty key", path)
		}
		st := pathStep{key: key}
		if rest != "" {
			rest = "[" + rest
		}
		for rest != "" {
			end := strings.Index(rest, "]")
			if !strings.HasPrefix(rest, "[") || end < 0 {
				return nil, fmt.Errorf("targetPath %q: bad index in %q", path, part)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i > 1000 {
				return nil, fmt.Errorf("targetPath %q: bad index in %q", path, part)
			}
			st.indexes = append(st.indexes, i)
			rest = rest[end+1:]
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// setTargetPath writes value at path into values, creating maps and growing lists on
// the way, as Helm's strvals does for `--set path=value`.
func setTargetPath(values map[string]any, path string, value any) error {
	steps, err := parseTargetPath(path)
	if err != nil {
		return err
	}
	var cur any = values
	for i, st := range steps {
		last := i == len(steps)-1
		m, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("targetPath %q: %s is not a map", path, st.key)
		}
		if len(st.indexes) == 0 {
			if last {
				m[st.key] = value
				return nil
			}
			if _, ok := m[st.key].(map[string]any); !ok {
				m[st.key] = map[string]any{}
			}
			cur = m[st.key]
			continue
		}
		// key[i][j]...: walk the lists, growing each as needed.
		set := func(v any) { m[st.key] = v }
		node := m[st.key]
		for j, idx := range st.indexes {
			list, _ := node.([]any)
			for len(list) <= idx {
				list = append(list, nil)
			}
			set(list)
			lastIndex := j == len(st.indexes)-1
			switch {
			case last && lastIndex:
				list[idx] = value
				return nil
			case lastIndex:
				if _, ok := list[idx].(map[string]any); !ok {
					list[idx] = map[string]any{}
				}
				cur = list[idx]
			default:
				node = list[idx]
				set = func(v any) { list[idx] = v }
			}
		}
	}
	return nil
}

// nestedMap returns values[k1][k2]... when every step is a map.
func nestedMap(values map[string]any, keys ...string) (map[string]any, bool) {
	cur := values
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}
