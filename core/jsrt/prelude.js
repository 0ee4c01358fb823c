// The in-VM Web API of an app. It runs once per runtime, before the app's bundle, as a
// function of the host bindings object, which it keeps in its closure: app code never sees
// it. Everything here runs inside the VM under the request's limits; the host (Go) side only
// receives primitives and ArrayBuffers it copies. Internal state lives in private fields, so
// an app patching prototypes cannot reach or forge it.
(function (host) {
  "use strict";
  const G = globalThis;
  const TE = TypeError, RE = RangeError;
  const U8 = Uint8Array, AB = ArrayBuffer;
  const isView = ArrayBuffer.isView;
  const freeze = Object.freeze, defProp = Object.defineProperty;
  const arrFrom = Array.from;
  const apply = Reflect.apply;
  // Intrinsics are captured here, before app code runs: an app (or a polyfill it bundles) may
  // replace String, Number, Array.prototype.push and friends, and must not break its own
  // responses. Request-time code below calls only these, index loops and host functions.
  const Str = String, Num = Number, isInt = Number.isInteger, keysOf = Object.keys, isArr = Array.isArray;
  // (Reflect.apply costs microseconds in goja: request-time string checks are host functions.)
  const abSlice = AB.prototype.slice;
  const sliceAB = (b, from, to) => apply(abSlice, b, to === undefined ? [from] : [from, to]);
  const str = (v) => (typeof v === "string" ? v : Str(v));
  const inList = (l, x) => { for (let i = 0; i < l.length; i++) if (l[i] === x) return true; return false; };

  const def = (obj, name, value) => defProp(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // toBytes copies any body-like value into a fresh Uint8Array.
  function toBytes(v) {
    if (v instanceof AB) return new U8(sliceAB(v, 0));
    if (isView(v)) return new U8(sliceAB(v.buffer, v.byteOffset, v.byteOffset + v.byteLength));
    return new U8(host.utf8Encode(str(v)));
  }
  function bufOf(u8) {
    return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8.buffer : sliceAB(u8.buffer, u8.byteOffset, u8.byteOffset + u8.byteLength);
  }

  // ---- TextEncoder / TextDecoder (UTF-8 only) ----
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s = "") { return new U8(host.utf8Encode(str(s))); }
    encodeInto(s, dest) {
      const b = this.encode(s), n = Math.min(b.length, dest.length);
      dest.set(b.subarray(0, n));
      return { read: n === b.length ? str(s).length : undefined, written: n };
    }
  }
  class TextDecoder {
    #fatal; #ignoreBOM;
    constructor(label = "utf-8", opts = {}) {
      const l = str(label).trim().toLowerCase();
      if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") throw new RE(`TextDecoder: encoding ${l} is not supported (utf-8 only)`);
      this.#fatal = !!(opts && opts.fatal);
      this.#ignoreBOM = !!(opts && opts.ignoreBOM);
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, _opts) {
      if (input === undefined) return "";
      let buf;
      if (input instanceof AB) buf = input.slice(0);
      else if (isView(input)) buf = input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength);
      else throw new TE("TextDecoder.decode: argument must be an ArrayBuffer or a view");
      return host.utf8Decode(buf, this.#fatal, this.#ignoreBOM);
    }
  }

  const TRUSTED = Symbol("trusted"); // only the API can make AbortSignals
  const OWN = Symbol("own"); // only the API can make an empty Request or Headers to fill in

  // ---- Headers ----
  // Names and values are checked in Go (host.headerName lowercases a token, host.headerValue
  // trims and refuses CR, LF and NUL): faster than character loops in the VM, and no
  // prototype method an app can replace is involved.
  //
  // A header list is one flat array [name, value, name, value, ...] (lowercase names): one
  // array per list instead of one per pair, and the shape the host sends and receives, so a
  // request's or response's list passes between Go and the VM without conversion. goja
  // allocates a property map for every object and array, which is most of a request's cost.
  //
  // The checks are pure, and an app sends the same few names and values on every request:
  // each check's result is remembered in a null-prototype object (no inherited key can
  // answer, whatever an app does to Object.prototype), so a repeated header costs a property
  // lookup instead of a host call. Only short strings are remembered, and at most 512 of each.
  const checked = (check, max) => {
    const memo = Object.create(null);
    let n = 0;
    return (x) => {
      x = str(x);
      const hit = memo[x];
      if (hit !== undefined) return hit;
      const r = check(x); // throws for a bad name or value: never remembered
      if (n < 512 && x.length <= max) { memo[x] = r; n++; }
      return r;
    };
  };
  const hname = checked((n) => host.headerName(n), 64);
  const hvalue = checked((v) => host.headerValue(v), 128);
  // Index loops, not for-of or push: the app may have patched iterators and Array.prototype.
  function flatAppend(l, n, v) { n = hname(n); v = hvalue(v); l[l.length] = n; l[l.length] = v; }
  function flatSet(l, n, v) {
    const out = [];
    let done = false;
    for (let i = 0; i < l.length; i += 2) {
      if (l[i] !== n) { out[out.length] = l[i]; out[out.length] = l[i + 1]; } else if (!done) { out[out.length] = n; out[out.length] = v; done = true; }
    }
    if (!done) { out[out.length] = n; out[out.length] = v; }
    return out;
  }
  function flatHas(l, n) { for (let i = 0; i < l.length; i += 2) if (l[i] === n) return true; return false; }
  function flatCopy(l) { const out = new Array(l.length); for (let i = 0; i < l.length; i++) out[i] = l[i]; return out; }
  function valuesOf(l, n) {
    const out = [];
    for (let i = 0; i < l.length; i += 2) if (l[i] === n) out[out.length] = l[i + 1];
    return out;
  }
  function joinValues(l, n) {
    let s = null;
    for (let i = 0; i < l.length; i += 2) if (l[i] === n) s = s === null ? l[i + 1] : s + ", " + l[i + 1];
    return s;
  }
  // headersInit checks a HeadersInit (Headers, iterable of pairs, or record) into a new flat list.
  function headersInit(init) {
    if (init === undefined || init === null) return [];
    if (isHeaders(init)) return flatCopy(listOf(init));
    if (typeof init !== "object") throw new TE("Headers: init must be an object or an iterable of pairs");
    const l = [];
    if (typeof init[Symbol.iterator] === "function") {
      for (const pair of init) {
        const p = arrFrom(pair);
        if (p.length !== 2) throw new TE("Headers: each pair must have exactly two items");
        flatAppend(l, p[0], p[1]);
      }
      return l;
    }
    const ks = keysOf(init);
    for (let i = 0; i < ks.length; i++) flatAppend(l, ks[i], init[ks[i]]);
    return l;
  }
  class Headers {
    #l; // flat [lowercase name, value, ...]
    constructor(init) { this.#l = init === OWN ? [] : headersInit(init); }
    append(n, v) { flatAppend(this.#l, n, v); }
    set(n, v) { this.#l = flatSet(this.#l, hname(n), hvalue(v)); }
    get(n) { return joinValues(this.#l, hname(n)); }
    getSetCookie() { return valuesOf(this.#l, "set-cookie"); }
    has(n) { return flatHas(this.#l, hname(n)); }
    delete(n) {
      n = hname(n);
      const l = this.#l, out = [];
      for (let i = 0; i < l.length; i += 2) if (l[i] !== n) { out[out.length] = l[i]; out[out.length] = l[i + 1]; }
      this.#l = out;
    }
    *entries() {
      const l = this.#l, names = [];
      for (let i = 0; i < l.length; i += 2) if (!inList(names, l[i])) names[names.length] = l[i];
      for (let i = 1; i < names.length; i++) { // insertion sort: few names, no patchable sort
        const x = names[i];
        let j = i - 1;
        for (; j >= 0 && names[j] > x; j--) names[j + 1] = names[j];
        names[j + 1] = x;
      }
      for (let i = 0; i < names.length; i++) {
        const n = names[i];
        if (n === "set-cookie") { const vs = valuesOf(l, n); for (let k = 0; k < vs.length; k++) yield [n, vs[k]]; } else yield [n, joinValues(l, n)];
      }
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    forEach(fn, self) { for (const [k, v] of this.entries()) fn.call(self, v, k, this); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "Headers"; }
    static {
      // The API's own access: brand checks that an app cannot fool, and the list itself
      // (never handed to app code; the host reads it synchronously).
      Headers.is = (h) => h !== null && typeof h === "object" && #l in h;
      Headers.list = (h) => h.#l;
      // A Headers over a list the caller owns and has already checked (the host's, or one
      // built by headersInit): no copy.
      Headers.over = (l) => { const h = new Headers(OWN); h.#l = l; return h; };
    }
  }
  const isHeaders = Headers.is, listOf = Headers.list, headersOver = Headers.over;
  delete Headers.is; delete Headers.list; delete Headers.over;
  // Host-facing functions are arrows: they cannot be used as constructors.

  // ---- Body ----
  // A body is null, a Uint8Array, or a string not yet encoded: most responses are built from
  // a string and handed to Go as one, which spares a UTF-8 copy into a buffer and a typed
  // array per response.
  function bodyInit(body, l) {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") {
      if (!flatHas(l, "content-type")) { l[l.length] = "content-type"; l[l.length] = "text/plain;charset=UTF-8"; }
      return body; // kept as a string until its bytes are needed
    }
    if (body instanceof AB || isView(body)) return toBytes(body);
    if (body instanceof USP) {
      if (!flatHas(l, "content-type")) { l[l.length] = "content-type"; l[l.length] = "application/x-www-form-urlencoded;charset=UTF-8"; }
      return toBytes(body.toString());
    }
    if (typeof body === "object" && typeof body.getReader === "function") throw new TE("streaming bodies are not supported; pass a string or bytes");
    return toBytes(body);
  }
  // Request and Response keep their body in their own private fields rather than a shared
  // superclass's: goja gives each class of an instance's chain its own private environment,
  // an allocation per instance and class. The body methods are written once, over the
  // accessors each class passes (which brand-check this).
  function bodyMethods(P, b) {
    const m = {
      get bodyUsed() { return b.used(this); },
      get body() { const x = b.peek(this); return x && x.length ? new U8(x) : null; },
      async arrayBuffer() { return bufOf(new U8(b.take(this))); },
      async bytes() { return new U8(b.take(this)); },
      async text() { return host.utf8Decode(bufOf(new U8(b.take(this))), false, false); },
      async json() { return JSON.parse(await this.text()); },
      async formData() { throw new TE("formData() is not supported; parse text() with URLSearchParams"); },
      async blob() { throw new TE("blob() is not supported; use arrayBuffer()"); },
    };
    const ks = Reflect.ownKeys(m);
    for (let i = 0; i < ks.length; i++) {
      const d = Object.getOwnPropertyDescriptor(m, ks[i]);
      d.enumerable = false;
      defProp(P, ks[i], d);
    }
  }
  // bodyAccess builds the accessors of one class from its raw get/set of the two fields.
  function bodyAccess(get, set, getUsed, setUsed) {
    const peek = (o) => {
      const x = get(o);
      if (typeof x !== "string") return x;
      const u = new U8(host.utf8Encode(x));
      set(o, u);
      return u;
    };
    return {
      peek,
      raw: get,
      used: getUsed,
      take(o) {
        if (getUsed(o)) throw new TE("body has already been read");
        setUsed(o);
        return peek(o) || new U8(0);
      },
    };
  }

  // ---- Request ----
  class Request {
    #method; #url; #headers; #redirect; #bytes; #used;
    constructor(input, init) {
      if (input === OWN) return; // Request.host fills it in
      const src = isRequest(input) ? input : null;
      init = init || NOINIT;
      const headers = headersInit(init.headers !== undefined ? init.headers : src ? src.headers : undefined);
      let method = init.method !== undefined ? str(init.method) : src ? src.#method : "GET";
      method = host.method(method); // uppercases the standard ones, refuses non-tokens and CONNECT/TRACE/TRACK
      let bytes = null;
      if (init.body !== undefined && init.body !== null) bytes = bodyInit(init.body, headers);
      else if (src) { const b = reqBody.peek(src); bytes = b ? new U8(b) : null; }
      if (bytes !== null && (method === "GET" || method === "HEAD")) throw new TE("Request with GET/HEAD method cannot have a body");
      this.#url = src ? src.#url : new URLC(str(input)).href;
      this.#method = method;
      this.#headers = headers;
      this.#redirect = init.redirect !== undefined ? str(init.redirect) : src ? src.#redirect : "follow";
      this.#bytes = bytes;
      this.#used = false;
    }
    get method() { return this.#method; }
    get url() { return this.#url; }
    get headers() {
      const h = this.#headers;
      return isArr(h) ? (this.#headers = headersOver(h)) : h;
    }
    get redirect() { return this.#redirect; }
    get signal() { return undefined; }
    clone() {
      if (this.#used) throw new TE("cannot clone a used request");
      return new Request(this);
    }
    get [Symbol.toStringTag]() { return "Request"; }
    static {
      Request.is = (r) => r !== null && typeof r === "object" && #url in r;
      // The host's request: method already normalized, URL absolute, header list checked and
      // owned (its Headers object is built on first use: many handlers never read them),
      // body a fresh ArrayBuffer or null.
      Request.host = (method, url, flat, body) => {
        const r = new Request(OWN);
        r.#method = method; r.#url = url; r.#headers = flat; r.#redirect = "follow";
        r.#bytes = body === null ? null : new U8(body); r.#used = false;
        return r;
      };
      Request.access = bodyAccess((r) => r.#bytes, (r, x) => { r.#bytes = x; }, (r) => r.#used, (r) => { r.#used = true; });
      Request.list = (r) => { const h = r.#headers; return isArr(h) ? h : listOf(h); };
    }
  }
  const isRequest = Request.is, hostRequest = Request.host, reqBody = Request.access, reqList = Request.list;
  delete Request.is; delete Request.host; delete Request.access; delete Request.list;
  bodyMethods(Request.prototype, reqBody);
  const NOINIT = freeze(Object.create(null));

  // ---- Response ----
  // What only fetched and error responses have, kept out of the common case's fields.
  const PLAIN = freeze({ url: "", redirected: false, type: "default" });
  class Response {
    #status; #statusText; #headers; #bytes; #used; #extra; // #extra: PLAIN or { url, redirected, type }
    constructor(body = null, init = undefined) {
      init = init || NOINIT;
      const status = init.status === undefined ? 200 : Num(init.status);
      if (!isInt(status) || status < 200 || status > 599) throw new RE(`Response status ${init.status} is outside 200-599`);
      // The header list stays a flat array until .headers is read: most handlers never do.
      const headers = headersInit(init.headers);
      const bytes = bodyInit(body, headers);
      if (bytes !== null && (status === 101 || status === 204 || status === 205 || status === 304)) throw new TE(`Response with status ${status} cannot have a body`);
      this.#status = status;
      this.#statusText = init.statusText === undefined ? "" : str(init.statusText);
      if (this.#statusText !== "" && host.hasLineBreak(this.#statusText)) throw new TE("invalid statusText");
      this.#headers = headers;
      this.#bytes = bytes;
      this.#used = false;
      this.#extra = PLAIN;
    }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get headers() {
      const h = this.#headers;
      return isArr(h) ? (this.#headers = headersOver(h)) : h;
    }
    get url() { return this.#extra.url; }
    get redirected() { return this.#extra.redirected; }
    get type() { return this.#extra.type; }
    clone() {
      if (this.#used) throw new TE("cannot clone a used response");
      const b = resBody.peek(this);
      const r = new Response(b ? new U8(b) : null, { status: this.#status, statusText: this.#statusText, headers: this.headers });
      r.#extra = this.#extra;
      return r;
    }
    static json(data, init = {}) {
      const body = JSON.stringify(data);
      if (body === undefined) throw new TE("Response.json: data is not JSON-serializable");
      const headers = new Headers(init && init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(body, { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (!inList([301, 302, 303, 307, 308], status)) throw new RE(`invalid redirect status ${status}`);
      return new Response(null, { status, headers: { location: new URLC(str(url)).href } });
    }
    static error() { const r = new Response(null, { status: 200 }); r.#extra = freeze({ url: "", redirected: false, type: "error" }); return r; }
    get [Symbol.toStringTag]() { return "Response"; }
    static {
      Response.access = bodyAccess((r) => r.#bytes, (r, x) => { r.#bytes = x; }, (r) => r.#used, (r) => { r.#used = true; });
      // finish hands the handler's Response to the host (host.respond); false when r is not
      // a Response. Go copies the bytes out of the buffer (or encodes the string): no copy here.
      Response.finish = (r) => {
        if (r === null || typeof r !== "object" || !(#status in r)) return false;
        if (r.#extra.type === "error") throw new TE("the handler returned Response.error()");
        if (r.#used) throw new TE("the handler returned a Response whose body was already read");
        const h = r.#headers, l = isArr(h) ? h : listOf(h), b = r.#bytes;
        if (b === null || typeof b === "string") host.respond(r.#status, r.#statusText, l, b, 0, 0);
        else host.respond(r.#status, r.#statusText, l, b.buffer, b.byteOffset, b.byteLength);
        return true;
      };
    }
  }
  const resBody = Response.access, finishResponse = Response.finish;
  delete Response.access; delete Response.finish;
  bodyMethods(Response.prototype, resBody);

  // ---- URL / URLSearchParams come from goja_nodejs (installed by Go before this runs). ----
  let URLC; // the URL class below, for the API's own use
  const USP = G.URLSearchParams;
  // Its href/toString do not see edits made through url.searchParams until search is read.
  {
    const NodeURL = G.URL;
    const P = NodeURL.prototype;
    const hget = Object.getOwnPropertyDescriptor(P, "href").get;
    const hset = Object.getOwnPropertyDescriptor(P, "href").set;
    const sget = Object.getOwnPropertyDescriptor(P, "search").get;
    class URL extends NodeURL {
      get href() { apply(sget, this, []); return apply(hget, this, []); }
      set href(v) { apply(hset, this, [v]); }
      toString() { return this.href; }
      toJSON() { return this.href; }
      static canParse(u, base) { try { new URL(u, base); return true; } catch { return false; } }
    }
    def(G, "URL", URL);
    URLC = URL;
  }

  // ---- atob / btoa ----
  const btoa = (s) => host.btoa(str(s));
  const atob = (s) => host.atob(str(s));

  // ---- crypto ----
  const hashNames = { "SHA-1": "SHA-1", "SHA-256": "SHA-256", "SHA-384": "SHA-384", "SHA-512": "SHA-512" };
  function hashName(alg) {
    const n = typeof alg === "string" ? alg : alg && alg.name;
    const h = hashNames[str(n).toUpperCase()];
    if (!h) throw new DOMExceptionLike(`unsupported hash ${n}`, "NotSupportedError");
    return h;
  }
  class DOMExceptionLike extends Error {
    constructor(message, name) { super(message); this.name = name; }
  }
  const keys = new WeakMap();
  const wmGet = WeakMap.prototype.get, wmSet = WeakMap.prototype.set;
  function keyRec(k) {
    const rec = k !== null && typeof k === "object" ? apply(wmGet, keys, [k]) : undefined;
    if (!rec) throw new TE("key is not a CryptoKey from crypto.subtle.importKey");
    return rec;
  }
  // CryptoKey holds no key material: the bytes live in a WeakMap in this closure.
  class CryptoKey {
    constructor() { throw new TE("Illegal constructor"); }
    get type() { return "secret"; }
    get algorithm() { const r = keyRec(this); return { name: "HMAC", hash: { name: r.hash }, length: r.key.byteLength * 8 }; }
    get extractable() { return keyRec(this).extractable; }
    get usages() { return [...keyRec(this).usages]; }
    get [Symbol.toStringTag]() { return "CryptoKey"; }
  }
  function keyOf(k, usage) {
    const rec = keyRec(k);
    if (!rec.usages.includes(usage)) throw new DOMExceptionLike(`key does not allow ${usage}`, "InvalidAccessError");
    return rec;
  }
  function dataBuf(d) {
    if (d instanceof AB) return d.slice(0);
    if (isView(d)) return d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength);
    throw new TE("data must be an ArrayBuffer or a view");
  }
  const subtle = freeze({
    async digest(alg, data) { return host.digest(hashName(alg), dataBuf(data)); },
    async importKey(format, keyData, alg, extractable, usages) {
      if (format !== "raw") throw new DOMExceptionLike("only raw keys are supported", "NotSupportedError");
      const name = typeof alg === "string" ? alg : alg && alg.name;
      if (str(name).toUpperCase() !== "HMAC") throw new DOMExceptionLike(`unsupported algorithm ${name}`, "NotSupportedError");
      const rec = { key: dataBuf(keyData), hash: hashName(alg.hash), extractable: !!extractable, usages: arrFrom(usages || [], str) };
      if (rec.key.byteLength === 0) throw new DOMExceptionLike("empty key", "DataError");
      const k = Object.create(CryptoKey.prototype);
      apply(wmSet, keys, [k, freeze(rec)]);
      return freeze(k);
    },
    async exportKey(format, k) {
      const rec = keyRec(k);
      if (!rec.extractable || format !== "raw") throw new DOMExceptionLike("key is not extractable as raw", "InvalidAccessError");
      return rec.key.slice(0);
    },
    async sign(alg, k, data) { const rec = keyOf(k, "sign"); return host.hmac(rec.hash, rec.key.slice(0), dataBuf(data)); },
    async verify(alg, k, sig, data) { const rec = keyOf(k, "verify"); return host.hmacVerify(rec.hash, rec.key.slice(0), dataBuf(sig), dataBuf(data)); },
  });
  const cryptoObj = freeze({
    getRandomValues(arr) {
      if (!isView(arr) || arr instanceof DataView || arr instanceof Float32Array || arr instanceof Float64Array) throw new TE("getRandomValues: argument must be an integer typed array");
      if (arr.byteLength > 65536) throw new DOMExceptionLike("getRandomValues: at most 65536 bytes", "QuotaExceededError");
      const b = new U8(host.randomBytes(arr.byteLength));
      new U8(arr.buffer, arr.byteOffset, arr.byteLength).set(b);
      return arr;
    },
    randomUUID() { return host.randomUUID(); },
    subtle,
  });

  // ---- console ----
  function inspect(v, depth, seen) {
    switch (typeof v) {
      case "string": return depth === 0 ? v : JSON.stringify(v);
      case "function": return `[Function ${v.name || "anonymous"}]`;
      case "symbol": return v.toString();
      case "bigint": return `${v}n`;
      case "object": break;
      default: return String(v);
    }
    if (v === null) return "null";
    if (v instanceof Error) return v.stack || `${v.name}: ${v.message}`;
    if (seen.includes(v)) return "[Circular]";
    if (depth > 3) return Array.isArray(v) ? "[Array]" : "[Object]";
    seen = [...seen, v];
    if (Array.isArray(v)) return "[ " + v.slice(0, 100).map((x) => inspect(x, depth + 1, seen)).join(", ") + (v.length > 100 ? ", ..." : "") + " ]";
    const ks = Object.keys(v).slice(0, 100);
    return "{ " + ks.map((k) => `${k}: ${inspect(v[k], depth + 1, seen)}`).join(", ") + " }";
  }
  function logger(level) {
    return (...args) => {
      let line;
      try { line = args.map((a) => inspect(a, 0, [])).join(" "); } catch (e) { line = "[unprintable]"; }
      host.log(level, line);
    };
  }
  const consoleObj = freeze({ log: logger("log"), info: logger("info"), warn: logger("warn"), error: logger("error"), debug: logger("debug"), trace: logger("debug") });

  // ---- fetch ----
  const fetch = async (input, init) => {
    const req = isRequest(input) && init === undefined ? input : new Request(input, init);
    if (req.redirect !== "follow" && req.redirect !== "manual" && req.redirect !== "error") throw new TE("invalid redirect mode");
    const signal = init && init.signal;
    if (signal && signal.aborted) throw signal.reason;
    const b = reqBody.peek(req);
    let call = host.fetch(req.method, req.url, reqList(req), b ? bufOf(new U8(b)) : null, req.redirect);
    if (signal && typeof signal.addEventListener === "function") {
      // An abort rejects at once; the host call finishes on its own and its result is dropped.
      call = Promise.race([call, new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))]);
    }
    const res = await call;
    return makeFetched(res[0], res[1], res[2], res[3], res[4], res[5]);
  };
  function flatChecked(flat) {
    const l = [];
    for (let i = 0; i + 1 < flat.length; i += 2) flatAppend(l, flat[i], flat[i + 1]);
    return l;
  }
  function makeFetched(status, statusText, flat, body, url, redirected) {
    const nullBody = status === 101 || status === 204 || status === 205 || status === 304;
    const r = new Response(nullBody || body === null ? null : body, { status: status < 200 ? 200 : status, statusText, headers: headersOver(flatChecked(flat)) });
    return setFetched(r, status, url, redirected);
  }
  // A fetched response may carry a status the constructor refuses (1xx) and its final url.
  function setFetched(r, status, url, redirected) {
    defProp(r, "url", { value: url });
    defProp(r, "redirected", { value: redirected });
    if (status !== r.status) defProp(r, "status", { value: status });
    return r;
  }

  // ---- AbortController / AbortSignal (enough for fetch and libraries that pass a signal) ----
  class AbortSignal {
    #aborted = false; #reason; #listeners = [];
    constructor(key) { if (key !== TRUSTED) throw new TE("Illegal constructor"); this.onabort = null; }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    addEventListener(type, fn) { if (type === "abort" && typeof fn === "function") this.#listeners[this.#listeners.length] = fn; }
    removeEventListener(type, fn) { this.#listeners = this.#listeners.filter((f) => f !== fn); }
    static abort(reason) { const s = new AbortSignal(TRUSTED); s.#fire(reason); return s; }
    static timeout(ms) { const s = new AbortSignal(TRUSTED); setTimeout(() => s.#fire(new DOMExceptionLike("signal timed out", "TimeoutError")), ms); return s; }
    #fire(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMExceptionLike("This operation was aborted", "AbortError") : reason;
      const ev = { type: "abort", target: this };
      if (typeof this.onabort === "function") this.onabort(ev);
      for (const fn of this.#listeners) fn(ev);
    }
    static { AbortSignal.fire = (s, r) => s.#fire(r); }
    get [Symbol.toStringTag]() { return "AbortSignal"; }
  }
  const fireAbort = AbortSignal.fire;
  delete AbortSignal.fire;
  class AbortController {
    #signal = new AbortSignal(TRUSTED);
    get signal() { return this.#signal; }
    abort(reason) { fireAbort(this.#signal, reason); }
  }

  // ---- structuredClone (plain data only) ----
  const typedCtors = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
  function structuredClone(value) {
    const seen = new Map();
    const clone = (v) => {
      if (v === null || (typeof v !== "object" && typeof v !== "function")) {
        if (typeof v === "symbol") throw new DOMExceptionLike("a Symbol cannot be cloned", "DataCloneError");
        return v;
      }
      if (typeof v === "function") throw new DOMExceptionLike("a function cannot be cloned", "DataCloneError");
      if (seen.has(v)) return seen.get(v);
      let out;
      if (Array.isArray(v)) { out = []; seen.set(v, out); for (let i = 0; i < v.length; i++) out[i] = clone(v[i]); return out; }
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
      else if (v instanceof AB) out = v.slice(0);
      else if (isView(v)) {
        const C = typedCtors.find((c) => v instanceof c);
        out = C ? new C(v) : new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
      } else if (v instanceof Map) { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(clone(k), clone(x)); return out; }
      else if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(clone(x)); return out; }
      else if (v instanceof Error) { out = new Error(v.message); out.name = v.name; }
      else {
        out = {};
        seen.set(v, out);
        for (const k of Object.keys(v)) out[k] = clone(v[k]);
        return out;
      }
      seen.set(v, out);
      return out;
    };
    return clone(value);
  }

  // ---- timers (bounded; the host caps count and delay) ----
  let timerSeq = 0;
  const timers = new Map();
  const setTimeout = (fn, ms = 0, ...args) => {
    if (typeof fn !== "function") throw new TE("setTimeout: callback must be a function");
    const id = ++timerSeq;
    timers.set(id, true);
    host.timer(Math.max(0, Number(ms) || 0)).then(() => { if (timers.delete(id)) fn(...args); })
      .catch((e) => host.log("error", "uncaught in setTimeout callback: " + inspect(e, 0, [])));
    return id;
  };
  const clearTimeout = (id) => { timers.delete(id); };
  const queueMicrotask = (fn) => { Promise.resolve().then(fn); };

  // ---- sanitizeHTML ----
  const sanitizeHTML = (html, policy) => host.sanitize(str(html), policy === undefined || policy === null ? "" : str(policy));

  // ---- env ----
  function makeEnv(plain, secrets, kv) {
    const env = {};
    for (let i = 0; i + 1 < plain.length; i += 2) defProp(env, plain[i], { value: plain[i + 1], enumerable: true });
    for (const name of secrets) defProp(env, name, { get: () => host.secret(name), enumerable: true });
    if (kv) {
      const decode = (buf, type) => {
        if (buf === null) return null;
        switch (type === undefined ? "text" : typeof type === "object" && type ? type.type || "text" : type) {
          case "text": return host.utf8Decode(buf, false, false);
          case "json": return JSON.parse(host.utf8Decode(buf, false, false));
          case "arrayBuffer": return buf;
          case "bytes": return new U8(buf);
          default: throw new TE(`unknown KV value type ${type}`);
        }
      };
      defProp(env, "KV", { enumerable: true, value: freeze({
        async get(key, type) { return decode(await host.kvGet(str(key)), type); },
        async put(key, value) { await host.kvPut(str(key), bufOf(toBytes(value))); },
        async delete(key) { await host.kvDelete(str(key)); },
        async list(opts = {}) {
          opts = opts || {};
          const r = await host.kvList(opts.prefix === undefined ? "" : str(opts.prefix), opts.cursor === undefined ? "" : str(opts.cursor), opts.limit === undefined ? 1000 : Number(opts.limit) | 0);
          return { keys: r[0].map((name) => ({ name })), list_complete: r[2], cursor: r[1] };
        },
      }) });
    }
    return freeze(env);
  }

  // ---- per-request context ----
  // One ctx per runtime: a runtime serves one request at a time, and waitUntil adds to the
  // current request's list.
  // The list is made on the first waitUntil, which tells the host there is something to drain:
  // most requests pass nothing.
  let curWaits = null;
  const reqCtx = freeze({
    waitUntil(p) {
      let w = curWaits;
      if (w === null) { w = curWaits = []; host.waiting(); }
      w[w.length] = Promise.resolve(p).catch((e) => host.log("error", "waitUntil: " + inspect(e, 0, [])));
    },
    passThroughOnException() {},
    security: freeze({
      loginFailed(user) { host.security("login_failed", str(user), ""); },
      loginSucceeded(user) { host.security("login_succeeded", str(user), ""); },
      accountChanged(user, field) { host.security("account_changed", str(user), field === undefined ? "" : str(field)); },
    }),
  });

  for (const [k, v] of Object.entries({ Headers, Request, Response, TextEncoder, TextDecoder, atob, btoa, fetch, setTimeout, clearTimeout, queueMicrotask, sanitizeHTML, AbortController, AbortSignal, structuredClone })) def(G, k, v);
  def(G, "crypto", cryptoObj);
  def(G, "console", consoleObj);
  def(G, "CryptoKey", CryptoKey);

  let env = null;
  // The host's entry points, returned to Go only.
  return freeze({
    setEnv(plain, secrets, kv) { env = makeEnv(plain, secrets, kv); },
    // fetch calls the app's handler with the host's request and returns what the handler
    // returned: a Response, or (an async handler) a promise the host's loop settles before
    // it calls finish. No async wrapper here: a promise and an await cost more than the rest
    // of a hello-world request.
    fetch(ns, method, url, flat, body) {
      const app = ns.default;
      if (!app || typeof app.fetch !== "function") throw new TE("the app's default export has no fetch(request, env, ctx) function");
      curWaits = null;
      // A GET or HEAD body (legal on the wire, refused by Request) is dropped, not fatal.
      const req = hostRequest(method, url, flat, body !== null && method !== "GET" && method !== "HEAD" ? body : null);
      return app.fetch(req, env, reqCtx);
    },
    // finish hands the handler's Response to host.respond. res is what the handler returned
    // or (settled) what its promise fulfilled with; any other object is awaited once, as the
    // await of an async wrapper would (it may be a thenable), and passed back settled.
    finish(res, settled) {
      if (finishResponse(res)) return undefined;
      if (!settled && res !== null && (typeof res === "object" || typeof res === "function")) return (async () => await res)();
      throw new TE(`fetch handler returned ${res === null ? "null" : typeof res} instead of a Response`);
    },
    async scheduled(ns, cron, time) {
      const app = ns.default;
      if (!app || typeof app.scheduled !== "function") throw new TE("the app's default export has no scheduled(event, env, ctx) function");
      curWaits = null;
      await app.scheduled(freeze({ type: "scheduled", cron, scheduledTime: time }), env, reqCtx);
    },
    async drain() {
      const waits = curWaits;
      while (waits !== null && waits.length) { const w = waits.splice(0); await Promise.all(w); }
    },
  });
})
