package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a manifest, located by its JSON path ("limits.cpu_ms",
// "routes[2].host") and, when known, its position in the file.
type Error struct {
	Field string // JSON path of the offending field; "" for the document itself
	Line  int    // 1-based; 0 when unknown
	Col   int    // 1-based byte column; 0 when unknown
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("app.json")
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one manifest; validation reports all of them at once so
// a developer fixes the file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Fields lists the JSON paths named by err, in order; useful to API callers that must return
// a {"field": ...} for the first problem.
func Fields(err error) []string {
	var es Errors
	if errors.As(err, &es) {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Field
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []string{e.Field}
	}
	return nil
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off < 0 {
		return 0, 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
