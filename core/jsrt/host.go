package jsrt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// argError becomes a TypeError in the app; other errors become plain Errors.
type argError string

func (e argError) Error() string { return string(e) }

var stringType = reflect.TypeOf("")

// A host function body: it gets the call and returns a value or an error.
type hostFn func(c goja.FunctionCall) (goja.Value, error)

// wrap makes a host function: panics become ErrBroken (the runtime is not trusted again) and
// errors are thrown as fresh JS errors built from the intrinsic constructors.
func (v *VM) wrap(name string, f hostFn) goja.Value {
	return v.rt.ToValue(func(c goja.FunctionCall) goja.Value {
		ret, err := v.safe(name, f, c)
		if err != nil {
			panic(v.jsError(err))
		}
		if ret == nil {
			return goja.Undefined()
		}
		return ret
	})
}

func (v *VM) safe(name string, f hostFn, c goja.FunctionCall) (ret goja.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v.broken = true
			ret, err = nil, fmt.Errorf("internal error in %s", name)
		}
	}()
	return f(c)
}

func (v *VM) jsError(err error) goja.Value {
	var ae argError
	if errors.As(err, &ae) {
		return v.rt.NewTypeError(string(ae))
	}
	o, cerr := v.rt.New(v.errCtor, v.rt.ToValue(err.Error()))
	if cerr != nil {
		return v.rt.NewTypeError(err.Error())
	}
	return o
}

// Argument readers accept only what the prelude passes: primitives and ArrayBuffers. They
// never convert objects, so no valueOf or toString of app code runs here.
func argStr(c goja.FunctionCall, i int) (string, error) {
	a := c.Argument(i)
	if _, isObj := a.(*goja.Object); isObj || a.ExportType() != stringType {
		return "", argError(fmt.Sprintf("argument %d must be a string", i+1))
	}
	return a.String(), nil
}

func argBool(c goja.FunctionCall, i int) bool {
	a := c.Argument(i)
	if _, isObj := a.(*goja.Object); isObj {
		return false
	}
	b, _ := a.Export().(bool)
	return b
}

func argInt(c goja.FunctionCall, i int) (int64, error) {
	a := c.Argument(i)
	if _, isObj := a.(*goja.Object); isObj {
		return 0, argError(fmt.Sprintf("argument %d must be a number", i+1))
	}
	switch n := a.Export().(type) {
	case int64:
		return n, nil
	case float64:
		if n != n || n > 1<<53 || n < -(1<<53) {
			return 0, argError(fmt.Sprintf("argument %d is out of range", i+1))
		}
		return int64(n), nil
	}
	return 0, argError(fmt.Sprintf("argument %d must be a number", i+1))
}

// argBuf copies an ArrayBuffer argument; null/undefined give nil when optional.
func argBuf(c goja.FunctionCall, i int, optional bool) ([]byte, error) {
	a := c.Argument(i)
	if optional && (goja.IsNull(a) || goja.IsUndefined(a)) {
		return nil, nil
	}
	if o, isObj := a.(*goja.Object); isObj {
		if ab, ok := o.Export().(goja.ArrayBuffer); ok {
			return append([]byte{}, ab.Bytes()...), nil
		}
	}
	return nil, argError(fmt.Sprintf("argument %d must be an ArrayBuffer", i+1))
}

func argStrings(c goja.FunctionCall, i int) ([]string, error) {
	o, isObj := c.Argument(i).(*goja.Object)
	if !isObj || o.ClassName() != "Array" {
		return nil, argError(fmt.Sprintf("argument %d must be an array of strings", i+1))
	}
	items, ok := o.Export().([]any)
	if !ok {
		return nil, argError(fmt.Sprintf("argument %d must be an array of strings", i+1))
	}
	out := make([]string, len(items))
	for j, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, argError(fmt.Sprintf("argument %d must be an array of strings", i+1))
		}
		out[j] = s
	}
	return out, nil
}

func (v *VM) buf(b []byte) goja.Value { return v.rt.ToValue(v.rt.NewArrayBuffer(b)) }

func hashFor(name string) (func() hash.Hash, error) {
	switch name {
	case "SHA-1":
		return sha1.New, nil
	case "SHA-256":
		return sha256.New, nil
	case "SHA-384":
		return sha512.New384, nil
	case "SHA-512":
		return sha512.New, nil
	}
	return nil, argError("unsupported hash " + name)
}

// async starts work on its own goroutine and returns a promise that the event loop settles
// with the value mk builds (on the VM goroutine) once work is done.
func (v *VM) async(work func(ctx context.Context) (func() (goja.Value, error), error)) (goja.Value, error) {
	if !v.active {
		// At module top level there is no request to account the call to, and nothing would
		// ever wait for it.
		return nil, argError("fetch and KV can only be used while handling a request or a scheduled event")
	}
	if v.pending >= v.opts.MaxPending {
		return nil, argError(fmt.Sprintf("more than %d host calls or timers in flight", v.opts.MaxPending))
	}
	p, resolve, reject := v.rt.NewPromise()
	v.pending++
	gen, hctx, jobs := v.gen, v.hostCtx(), v.jobs
	go func() {
		var mk func() (goja.Value, error)
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = errors.New("internal error in a host call")
				}
			}()
			mk, err = work(hctx)
		}()
		j := job{gen: gen, run: func() error {
			if err != nil {
				return reject(v.jsError(err))
			}
			val, err := mk()
			if err != nil {
				return reject(v.jsError(err))
			}
			return resolve(val)
		}}
		select {
		case jobs <- j:
		case <-hctx.Done():
		}
	}()
	return v.rt.ToValue(p), nil
}

func (v *VM) bindings() *goja.Object {
	rt := v.rt
	o := rt.NewObject()
	set := func(name string, f hostFn) { o.Set(name, v.wrap(name, f)) }

	set("utf8Encode", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		return v.buf([]byte(s)), nil
	})
	set("utf8Decode", func(c goja.FunctionCall) (goja.Value, error) {
		b, err := argBuf(c, 0, false)
		if err != nil {
			return nil, err
		}
		if !argBool(c, 2) {
			b = []byte(strings.TrimPrefix(string(b), "\uFEFF"))
		}
		if !utf8.Valid(b) {
			if argBool(c, 1) {
				return nil, argError("the data is not valid UTF-8")
			}
			b = []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
		}
		return rt.ToValue(string(b)), nil
	})
	set("btoa", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xFF {
				return nil, argError("btoa: the string contains characters outside Latin-1")
			}
			b = append(b, byte(r))
		}
		return rt.ToValue(base64.StdEncoding.EncodeToString(b)), nil
	})
	set("atob", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
				return -1
			}
			return r
		}, s)
		if len(s)%4 == 0 {
			s = strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
		}
		b, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			return nil, argError("atob: the string is not valid base64")
		}
		r := make([]rune, len(b))
		for i, x := range b {
			r[i] = rune(x)
		}
		return rt.ToValue(string(r)), nil
	})
	set("randomBytes", func(c goja.FunctionCall) (goja.Value, error) {
		n, err := argInt(c, 0)
		if err != nil || n < 0 || n > 65536 {
			return nil, argError("randomBytes: 0 to 65536 bytes")
		}
		b := make([]byte, n)
		rand.Read(b)
		return v.buf(b), nil
	})
	set("method", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		m, err := checkMethod(s)
		if err != nil {
			return nil, err
		}
		return rt.ToValue(m), nil
	})
	set("respond", v.respond)
	set("waiting", func(goja.FunctionCall) (goja.Value, error) {
		v.waits = true
		return nil, nil
	})
	set("hasLineBreak", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		return rt.ToValue(strings.ContainsAny(s, "\r\n")), nil
	})
	set("headerName", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		if !isToken(s) {
			return nil, argError("invalid header name " + jsonQuote(s))
		}
		return rt.ToValue(strings.ToLower(s)), nil
	})
	set("headerValue", func(c goja.FunctionCall) (goja.Value, error) {
		s, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		s = strings.Trim(s, " \t")
		if strings.ContainsAny(s, "\r\n\x00") {
			return nil, argError("invalid header value (contains CR, LF or NUL)")
		}
		return rt.ToValue(s), nil
	})
	set("randomUUID", func(goja.FunctionCall) (goja.Value, error) {
		return rt.ToValue(uuid4()), nil
	})
	set("digest", func(c goja.FunctionCall) (goja.Value, error) {
		h, err := argHash(c, 0)
		if err != nil {
			return nil, err
		}
		data, err := argBuf(c, 1, false)
		if err != nil {
			return nil, err
		}
		d := h()
		d.Write(data)
		return v.buf(d.Sum(nil)), nil
	})
	mac := func(c goja.FunctionCall) ([]byte, error) {
		h, err := argHash(c, 0)
		if err != nil {
			return nil, err
		}
		key, err := argBuf(c, 1, false)
		if err != nil {
			return nil, err
		}
		data, err := argBuf(c, len(c.Arguments)-1, false)
		if err != nil {
			return nil, err
		}
		m := hmac.New(h, key)
		m.Write(data)
		return m.Sum(nil), nil
	}
	set("hmac", func(c goja.FunctionCall) (goja.Value, error) {
		sum, err := mac(c)
		if err != nil {
			return nil, err
		}
		return v.buf(sum), nil
	})
	set("hmacVerify", func(c goja.FunctionCall) (goja.Value, error) {
		sig, err := argBuf(c, 2, false)
		if err != nil {
			return nil, err
		}
		sum, err := mac(c)
		if err != nil {
			return nil, err
		}
		return rt.ToValue(hmac.Equal(sum, sig)), nil
	})
	set("log", func(c goja.FunctionCall) (goja.Value, error) {
		level, err1 := argStr(c, 0)
		line, err2 := argStr(c, 1)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		v.host.Log(v.hostCtx(), level, truncate(line, v.opts.LogLineBytes))
		return nil, nil
	})
	set("secret", func(c goja.FunctionCall) (goja.Value, error) {
		name, err := argStr(c, 0)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(v.opts.Secrets, name) {
			return nil, argError("no such secret")
		}
		s, err := v.host.Secret(v.hostCtx(), name)
		if err != nil {
			return nil, err
		}
		return rt.ToValue(s), nil
	})
	set("sanitize", func(c goja.FunctionCall) (goja.Value, error) {
		html, err1 := argStr(c, 0)
		policy, err2 := argStr(c, 1)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out, err := v.host.Sanitize(v.hostCtx(), html, policy)
		if err != nil {
			return nil, err
		}
		return rt.ToValue(out), nil
	})
	set("security", func(c goja.FunctionCall) (goja.Value, error) {
		kind, err1 := argStr(c, 0)
		user, err2 := argStr(c, 1)
		field, err3 := argStr(c, 2)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		switch kind {
		case SignalLoginFailed, SignalLoginSucceeded, SignalAccountChanged:
		default:
			return nil, argError("unknown security signal")
		}
		return nil, v.host.Security(v.hostCtx(), SecuritySignal{Kind: kind, User: truncate(user, 256), Field: truncate(field, 256)})
	})
	set("timer", func(c goja.FunctionCall) (goja.Value, error) {
		ms, err := argInt(c, 0)
		if err != nil {
			return nil, err
		}
		if v.pending >= v.opts.MaxPending {
			return nil, argError(fmt.Sprintf("more than %d host calls or timers in flight", v.opts.MaxPending))
		}
		p, resolve, _ := rt.NewPromise()
		v.pending++
		v.timerSeq++
		v.timers = append(v.timers, timer{at: time.Now().Add(time.Duration(max(ms, 0)) * time.Millisecond), seq: v.timerSeq, resolve: resolve})
		return rt.ToValue(p), nil
	})
	set("fetch", func(c goja.FunctionCall) (goja.Value, error) {
		method, err1 := argStr(c, 0)
		u, err2 := argStr(c, 1)
		flat, err3 := argStrings(c, 2)
		body, err4 := argBuf(c, 3, true)
		redirect, err5 := argStr(c, 4)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, err
		}
		req := FetchRequest{Method: method, URL: u, Header: http.Header{}, Body: body, Redirect: redirect}
		for i := 0; i+1 < len(flat); i += 2 {
			req.Header.Add(flat[i], flat[i+1])
		}
		return v.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			res, err := v.host.Fetch(ctx, req)
			if err != nil {
				return nil, err
			}
			return func() (goja.Value, error) {
				var b goja.Value = goja.Null()
				if res.Body != nil {
					b = v.buf(append([]byte(nil), res.Body...))
				}
				return rt.NewArray(res.Status, res.StatusText, flatHeaders(rt, res.Header), b, res.URL, res.Redirected), nil
			}, nil
		})
	})
	kvKey := func(c goja.FunctionCall) (string, error) {
		if !v.opts.KV {
			return "", argError("this app has no KV namespace (permissions.kv)")
		}
		return argStr(c, 0)
	}
	set("kvGet", func(c goja.FunctionCall) (goja.Value, error) {
		key, err := kvKey(c)
		if err != nil {
			return nil, err
		}
		return v.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			val, found, err := v.host.KVGet(ctx, key)
			if err != nil {
				return nil, err
			}
			return func() (goja.Value, error) {
				if !found {
					return goja.Null(), nil
				}
				return v.buf(append([]byte{}, val...)), nil
			}, nil
		})
	})
	set("kvPut", func(c goja.FunctionCall) (goja.Value, error) {
		key, err := kvKey(c)
		if err != nil {
			return nil, err
		}
		val, err := argBuf(c, 1, false)
		if err != nil {
			return nil, err
		}
		return v.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			if err := v.host.KVPut(ctx, key, val); err != nil {
				return nil, err
			}
			return func() (goja.Value, error) { return goja.Undefined(), nil }, nil
		})
	})
	set("kvDelete", func(c goja.FunctionCall) (goja.Value, error) {
		key, err := kvKey(c)
		if err != nil {
			return nil, err
		}
		return v.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			if err := v.host.KVDelete(ctx, key); err != nil {
				return nil, err
			}
			return func() (goja.Value, error) { return goja.Undefined(), nil }, nil
		})
	})
	set("kvList", func(c goja.FunctionCall) (goja.Value, error) {
		prefix, err := kvKey(c)
		if err != nil {
			return nil, err
		}
		cursor, err := argStr(c, 1)
		if err != nil {
			return nil, err
		}
		limit, err := argInt(c, 2)
		if err != nil {
			return nil, err
		}
		return v.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			page, err := v.host.KVList(ctx, prefix, cursor, int(min(max(limit, 1), 1000)))
			if err != nil {
				return nil, err
			}
			return func() (goja.Value, error) {
				keys := make([]any, len(page.Keys))
				for i, k := range page.Keys {
					keys[i] = k
				}
				return rt.NewArray(rt.NewArray(keys...), page.Cursor, page.Complete), nil
			}, nil
		})
	})
	return o
}

func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&15])
	}
	return string(out)
}

// isToken reports whether s is an HTTP token (a valid header name or method).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for _, c := range "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return t
}()

// jsonQuote quotes s as JSON.stringify would (no HTML escaping), for error messages.
func jsonQuote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// argHash reads argument i as a hash algorithm name ("SHA-256", ...).
func argHash(c goja.FunctionCall, i int) (func() hash.Hash, error) {
	alg, err := argStr(c, i)
	if err != nil {
		return nil, err
	}
	return hashFor(alg)
}
