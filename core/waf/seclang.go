package waf

// A reader of the SecLang text the engine compiles, for the static proofs (static.go).
// Coraza's rule observer reports each rule as it is added, before its chained rules are
// parsed, so the text it reports lacks them, and a chained rule can carry any action
// (905100's ctl:ruleRemoveByTag is in its second rule). This reader rebuilds every rule
// with its chain from the same text the same way Coraza's parser does (lines trimmed,
// comments and blank lines dropped, a trailing backslash joins the next line, Include
// read from the same root), and the engine accepts the result only when it agrees with
// what the observer reported, rule by rule (verifySeclang): any difference turns the
// static proofs off instead of trusting a misreading.

import (
	"bufio"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"
)

// slRule is one entry of Coraza's rule group: a rule with its chained rules, or a marker.
type slRule struct {
	id     int
	phase  int
	marker string   // SecMarker name; "" for rules
	elems  []slElem // the rule, then each chained rule
}

// slElem is one SecRule or SecAction.
type slElem struct {
	directive string // "secrule" or "secaction"
	raw       string // the directive as Coraza records it (Raw of the observed rule)
	vars      string // SecRule variables, "" for SecAction
	op        string // SecRule operator as written, quotes removed
	acts      []slAction
}

type slAction struct{ name, arg string } // name lowercased, arg unquoted

// slText is everything read: the rules in order, and the other directives by name.
type slText struct {
	rules []slRule
	other []slDirective
}

type slDirective struct{ name, opts string }

const maxIncludes = 100

// readSeclang reads text (and what it includes from root) into rules.
func readSeclang(text string, root fs.FS) (*slText, error) {
	t := &slText{}
	n := 0
	if err := t.read(text, root, &n); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *slText) read(text string, root fs.FS, includes *int) error {
	sc := bufio.NewScanner(strings.NewReader(text))
	var buf strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[len(line)-1] == '`' || line[0] == '`' {
			return fmt.Errorf("backtick blocks are not read")
		}
		if line[len(line)-1] == '\\' {
			buf.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		buf.WriteString(line)
		l := buf.String()
		buf.Reset()
		if err := t.directive(l, root, includes); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (t *slText) directive(l string, root fs.FS, includes *int) error {
	dir, opts, _ := strings.Cut(l, " ")
	name := strings.ToLower(dir)
	if len(opts) >= 3 && opts[0] == '"' && opts[len(opts)-1] == '"' {
		opts = strings.Trim(opts, `"`)
	}
	switch name {
	case "include":
		if *includes++; *includes > maxIncludes {
			return fmt.Errorf("too many includes")
		}
		files := []string{opts}
		if strings.Contains(opts, "*") {
			var err error
			if files, err = fs.Glob(root, opts); err != nil {
				return fmt.Errorf("include %s: %w", opts, err)
			}
		}
		for _, f := range files {
			b, err := fs.ReadFile(root, strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("include %s: %w", f, err)
			}
			if err := t.read(string(b), root, includes); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
	case "secmarker":
		t.rules = append(t.rules, slRule{marker: opts})
	case "secrule", "secaction":
		e, err := parseElem(name, l, opts)
		if err != nil {
			return err
		}
		if n := len(t.rules); n > 0 && t.rules[n-1].marker == "" && t.rules[n-1].elems[len(t.rules[n-1].elems)-1].has("chain") {
			t.rules[n-1].elems = append(t.rules[n-1].elems, e)
			return nil
		}
		r := slRule{phase: 2, elems: []slElem{e}}
		for _, a := range e.acts {
			switch a.name {
			case "id":
				r.id, _ = strconv.Atoi(a.arg)
			case "phase":
				r.phase = phaseNumber(a.arg)
			}
		}
		t.rules = append(t.rules, r)
	default:
		t.other = append(t.other, slDirective{name, opts})
	}
	return nil
}

func phaseNumber(s string) int {
	switch strings.ToLower(s) {
	case "request":
		return 2
	case "response":
		return 4
	case "logging":
		return 5
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// parseElem splits a SecRule into variables, operator and actions (SecAction: actions).
func parseElem(name, raw, opts string) (slElem, error) {
	e := slElem{directive: name, raw: raw}
	acts := opts
	if name == "secrule" {
		vars, rest, ok := strings.Cut(strings.TrimSpace(raw[len("SecRule"):]), " ")
		rest = strings.TrimLeft(rest, " ")
		if !ok || rest == "" || rest[0] != '"' {
			return e, fmt.Errorf("rule %q: no quoted operator", raw)
		}
		end := 1
		for end < len(rest) && (rest[end] != '"' || rest[end-1] == '\\') {
			end++
		}
		if end >= len(rest) {
			return e, fmt.Errorf("rule %q: operator not closed", raw)
		}
		e.vars, e.op = vars, rest[1:end]
		acts = strings.TrimSpace(rest[end+1:])
		if len(acts) >= 2 && acts[0] == '"' && acts[len(acts)-1] == '"' {
			acts = acts[1 : len(acts)-1]
		}
	}
	e.acts = parseActionList(acts)
	return e, nil
}

// parseActionList splits an action list at commas outside single quotes, as Coraza does.
func parseActionList(s string) []slAction {
	var out []slAction
	in, start := false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			if i > 0 && s[i-1] == '\\' {
				continue
			}
			if s[i] == '\'' {
				in = !in
			}
			if in || s[i] != ',' {
				continue
			}
		}
		part := strings.TrimSpace(s[start:i])
		start = i + 1
		if part == "" {
			continue
		}
		n, a, _ := strings.Cut(part, ":")
		a = strings.TrimSpace(a)
		if len(a) >= 2 && a[0] == '\'' && a[len(a)-1] == '\'' {
			a = a[1 : len(a)-1]
		}
		out = append(out, slAction{strings.ToLower(strings.TrimSpace(n)), a})
	}
	return out
}

func (e *slElem) has(name string) bool {
	for _, a := range e.acts {
		if a.name == name {
			return true
		}
	}
	return false
}

// text is the rule with its chain, for searches over everything it can do.
func (r *slRule) text() string {
	var b strings.Builder
	for i, e := range r.elems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.raw)
	}
	return b.String()
}

// verifySeclang checks that the rules read are the ones Coraza compiled: same count and
// order, same ids, markers, phases and (first rule of each chain) the same text.
func verifySeclang(t *slText, observed []types.RuleMetadata) error {
	if len(t.rules) != len(observed) {
		return fmt.Errorf("read %d rules, Coraza compiled %d", len(t.rules), len(observed))
	}
	for i, r := range t.rules {
		o := observed[i]
		if r.marker != "" {
			if o.SecMark() != r.marker || o.ID() != 0 {
				return fmt.Errorf("rule %d: read marker %q, Coraza has %d %q", i, r.marker, o.ID(), o.SecMark())
			}
			continue
		}
		if o.ID() != r.id || int(o.Phase()) != r.phase || o.Raw() != r.elems[0].raw || o.SecMark() != "" {
			return fmt.Errorf("rule %d: read id %d phase %d, Coraza has id %d phase %d", i, r.id, r.phase, o.ID(), o.Phase())
		}
	}
	return nil
}
