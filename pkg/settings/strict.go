package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// checkStructure refuses what the YAML-to-JSON step would silently drop: a key
// given twice in one mapping (the later one would replace the first, with every
// key under it) and a second document (it would be ignored). Each problem names
// the key or the line; syntax errors are left to the decoder that follows.
func checkStructure(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var problems []string
	for doc := 0; ; doc++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil // not valid YAML: the decoder reports it with its line
		}
		if doc > 0 && !emptyDocument(&node) {
			problems = append(problems, fmt.Sprintf("a second YAML document starts at line %d: the settings are one document (merge them, or remove the --- line)", node.Line))
			break
		}
		problems = append(problems, duplicateKeys(&node, "")...)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// emptyDocument reports whether a document holds nothing (a trailing "---").
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) == 0 || emptyDocument(n.Content[0])
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

// duplicateKeys describes every key given twice in one mapping under n, by its path.
func duplicateKeys(n *yaml.Node, prefix string) []string {
	var out []string
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, duplicateKeys(c, prefix)...)
		}
	case yaml.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(prefix, k.Value)
			if first, ok := seen[k.Value]; ok {
				out = append(out, fmt.Sprintf("key %s: given twice (lines %d and %d); the second would replace the first and everything under it", path, first, k.Line))
				continue
			}
			seen[k.Value] = k.Line
			out = append(out, duplicateKeys(v, path)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			out = append(out, duplicateKeys(c, fmt.Sprintf("%s[%d]", prefix, i))...)
		}
	}
	return out
}
