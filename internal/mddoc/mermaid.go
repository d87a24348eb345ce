package mddoc

import (
	"fmt"
	"strings"
)

// diagramTypes are the Mermaid diagrams this repository draws; GitHub
// renders each.
var diagramTypes = []string{"flowchart", "graph", "sequenceDiagram", "timeline", "gantt", "stateDiagram-v2"}

// CheckMermaid reports what would keep src from rendering as a diagram:
// a first statement that is not a known diagram type, a statement whose
// brackets or quotes do not close, a tab (Mermaid's indentation is
// spaces).
func CheckMermaid(src string) error {
	lines := strings.Split(strings.TrimRight(src, "\n"), "\n")
	first := ""
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "%%") {
			first = strings.Fields(t)[0]
			break
		}
	}
	known := false
	for _, k := range diagramTypes {
		known = known || first == k
	}
	if !known {
		return fmt.Errorf("the diagram starts with %q, not one of %v", first, diagramTypes)
	}
	for i, l := range lines {
		if strings.Contains(l, "\t") {
			return fmt.Errorf("line %d has a tab", i+1)
		}
		if strings.HasPrefix(strings.TrimSpace(l), "%%") {
			continue
		}
		if strings.Count(l, `"`)%2 != 0 {
			return fmt.Errorf("line %d: a quote does not close: %s", i+1, l)
		}
		var stack []rune
		inQuote := false
		for _, r := range l {
			switch {
			case r == '"':
				inQuote = !inQuote
			case inQuote:
			case r == '(' || r == '[' || r == '{':
				stack = append(stack, r)
			case r == ')' || r == ']' || r == '}':
				open := map[rune]rune{')': '(', ']': '[', '}': '{'}[r]
				if len(stack) == 0 || stack[len(stack)-1] != open {
					return fmt.Errorf("line %d: %q closes nothing: %s", i+1, r, l)
				}
				stack = stack[:len(stack)-1]
			}
		}
		if len(stack) > 0 {
			return fmt.Errorf("line %d: %q does not close: %s", i+1, stack[len(stack)-1], l)
		}
	}
	return nil
}
