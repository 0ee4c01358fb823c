package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// walker checks a JSON document against the shape of a Go type before it is decoded, because
// encoding/json's DisallowUnknownFields names neither the path nor the position of the field,
// accepts duplicate keys silently, and reports type errors with Go type names.
type walker struct {
	dec  *json.Decoder
	data []byte
	pos  map[string]int64 // JSON path -> byte offset of its value, for later validation errors
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// maxDepth bounds nesting so a hostile manifest of nested arrays cannot exhaust the stack.
const maxDepth = 64

func checkShape(data []byte, t reflect.Type) (map[string]int64, error) {
	w := &walker{dec: json.NewDecoder(bytes.NewReader(data)), data: data, pos: map[string]int64{}}
	w.dec.UseNumber()
	if err := w.value(t, "", 0); err != nil {
		return nil, err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return nil, w.errAt("", w.here(), "unexpected data after the top-level object")
	}
	return w.pos, nil
}

// here is the offset of the next token, past whitespace and separators.
func (w *walker) here() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.data)) {
		switch w.data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
			continue
		}
		break
	}
	return off
}

func (w *walker) errAt(path string, off int64, format string, args ...any) *Error {
	line, col := lineCol(w.data, off)
	return &Error{Field: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (w *walker) token(path string) (json.Token, int64, error) {
	off := w.here()
	tok, err := w.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		msg := err.Error()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			msg = "unexpected end of file"
		}
		return nil, off, w.errAt(path, off, "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
	}
	return tok, off, nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a value"
}

func (w *walker) value(t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return w.errAt(path, w.here(), "nested too deeply")
	}
	// null means "not set" for optional lists, maps and objects, as encoding/json reads it.
	nullable := t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, off, err := w.token(path)
	if err != nil {
		return err
	}
	w.pos[path] = off
	if tok == nil && nullable {
		return nil
	}
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if custom {
		// Types with their own decoding accept a string shorthand or an object of their fields.
		switch tok {
		case json.Delim('{'):
			if t.Kind() == reflect.Struct {
				return w.object(t, path, depth)
			}
		case json.Delim('['):
			return w.skip(path, depth)
		}
		if _, ok := tok.(string); ok {
			return nil
		}
		return w.errAt(path, off, "must be a string or an object, not %s", describe(tok))
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return w.errAt(path, off, "must be an object, not %s", describe(tok))
		}
		return w.object(t, path, depth)
	case reflect.Map:
		if tok != json.Delim('{') {
			return w.errAt(path, off, "must be an object, not %s", describe(tok))
		}
		return w.mapping(t.Elem(), path, depth)
	case reflect.Slice:
		if tok != json.Delim('[') {
			return w.errAt(path, off, "must be an array, not %s", describe(tok))
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		_, _, err := w.token(path)
		return err
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return w.errAt(path, off, "must be a string, not %s", describe(tok))
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return w.errAt(path, off, "must be true or false, not %s", describe(tok))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := tok.(json.Number)
		if !ok {
			return w.errAt(path, off, "must be a whole number, not %s", describe(tok))
		}
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			f, ferr := strconv.ParseFloat(string(n), 64)
			if ferr == nil && f == math.Trunc(f) {
				return w.errAt(path, off, "%s is out of range", n)
			}
			return w.errAt(path, off, "must be a whole number, not %s", n)
		}
	default:
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			return w.skip(path, depth)
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (w *walker) object(t reflect.Type, path string, depth int) error {
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if n := jsonName(f); n != "" {
			fields[n] = f.Type
			names = append(names, n)
		}
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, off, err := w.token(path)
		if err != nil {
			return err
		}
		key := tok.(string)
		kp := join(path, key)
		ft, ok := fields[key]
		if !ok {
			where := "the top level"
			if path != "" {
				where = path
			}
			return w.errAt(kp, off, "unknown field %q in %s (known: %s)", key, where, strings.Join(names, ", "))
		}
		if seen[key] {
			return w.errAt(kp, off, "duplicate field %q", key)
		}
		seen[key] = true
		if err := w.value(ft, kp, depth+1); err != nil {
			return err
		}
	}
	_, _, err := w.token(path)
	return err
}

func (w *walker) mapping(elem reflect.Type, path string, depth int) error {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, off, err := w.token(path)
		if err != nil {
			return err
		}
		key := tok.(string)
		kp := join(path, key)
		if seen[key] {
			return w.errAt(kp, off, "duplicate key %q", key)
		}
		seen[key] = true
		if err := w.value(elem, kp, depth+1); err != nil {
			return err
		}
	}
	_, _, err := w.token(path)
	return err
}

// skip consumes the rest of an already-opened object or array.
func (w *walker) skip(path string, depth int) error {
	level := 1
	for level > 0 {
		if depth+level > maxDepth {
			return w.errAt(path, w.here(), "nested too deeply")
		}
		tok, _, err := w.token(path)
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			level++
		case json.Delim('}'), json.Delim(']'):
			level--
		}
	}
	return nil
}
