package jsrt

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/dop251/goja"
)

const maxDescribe = 1024

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// scriptErr turns an error out of goja into one of this package's errors without calling
// Error() on a goja exception (which would run the thrown object's toString).
func (v *VM) scriptErr(err error) error {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	var ex *goja.Exception
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		if r, ok := ie.Value().(error); ok && errors.Is(r, ErrDeadline) {
			return ErrDeadline
		}
		return &InterruptedError{Reason: ie.Value()}
	case errors.As(err, &so):
		return ErrStackOverflow
	case errors.As(err, &ex):
		return v.describe(ex.Value(), ex)
	}
	return err
}

// describe names a thrown value using only operations that cannot run script code: the
// type of primitives, the class of objects, and own data properties read through the
// captured Object.getOwnPropertyDescriptor (never for proxies, never through getters).
func (v *VM) describe(val goja.Value, ex *goja.Exception) *ScriptError {
	se := &ScriptError{}
	if ex != nil {
		var b bytes.Buffer
		for i, f := range ex.Stack() {
			if i == 20 {
				break
			}
			b.WriteString("at ")
			f.Write(&b)
			b.WriteByte('\n')
		}
		se.Stack = b.String()
	}
	switch {
	case val == nil || goja.IsUndefined(val):
		se.Name = "undefined"
		return se
	case goja.IsNull(val):
		se.Name = "null"
		return se
	}
	obj, ok := val.(*goja.Object)
	if !ok {
		// A primitive: String() of a primitive is pure Go.
		se.Name = "thrown " + primitiveName(val)
		se.Message = truncate(val.String(), maxDescribe)
		return se
	}
	if obj.ExportType() == v.proxyT {
		se.Name = "Proxy"
		se.Message = "a proxy object was thrown"
		return se
	}
	se.Name = obj.ClassName()
	if se.Name != "Error" {
		se.Message = "a non-Error " + se.Name + " was thrown"
		return se
	}
	// Error objects: name usually sits on the prototype, message on the object.
	se.Name = "Error"
	for o, depth := obj, 0; o != nil && depth < 8; o, depth = o.Prototype(), depth+1 {
		if o.ExportType() == v.proxyT {
			break
		}
		if n, ok := v.ownDataString(o, "name"); ok {
			se.Name = truncate(n, 64)
			break
		}
	}
	if m, ok := v.ownDataString(obj, "message"); ok {
		se.Message = truncate(m, maxDescribe)
	}
	return se
}

func primitiveName(val goja.Value) string {
	switch val.(type) {
	case *goja.Symbol:
		return "symbol"
	}
	if t := val.ExportType(); t != nil {
		switch t.Kind() {
		case reflect.String:
			return "string"
		case reflect.Bool:
			return "boolean"
		}
	}
	return "number"
}

// ownDataString returns o's own data property key when it is a string primitive.
func (v *VM) ownDataString(o *goja.Object, key string) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	d, err := v.gopd(goja.Undefined(), o, v.rt.ToValue(key))
	if err != nil || d == nil || goja.IsUndefined(d) {
		return "", false
	}
	desc, isObj := d.(*goja.Object)
	if !isObj || !slices.Contains(desc.GetOwnPropertyNames(), "value") {
		return "", false // an accessor: reading it would run script code
	}
	val := desc.Get("value")
	if _, isObj := val.(*goja.Object); isObj || val == nil || val.ExportType() == nil || val.ExportType().Kind() != reflect.String {
		return "", false
	}
	return val.String(), true
}
