// The sandbox's in-VM API: the globals an app sees (Request, Response, Headers, console,
// fetch, sanitizeHTML) and the hooks the worker calls. It runs first in every runtime, before
// the app, and captures what it relies on, so an app that rewrites prototypes afterwards
// changes only its own view. Internal state lives in private fields the app cannot reach.
'use strict';
globalThis.__bulwark_install = function (hostCall, hostLog, envPairs) {
  delete globalThis.__bulwark_install;
  const g = globalThis;
  const S = String, JSONstringify = JSON.stringify, JSONparse = JSON.parse, isArray = Array.isArray;
  const PromiseResolve = Promise.resolve.bind(Promise), PromiseReject = Promise.reject.bind(Promise);
  const ErrorC = Error;
  const toStr = (v) => (typeof v === 'string' ? v : S(v));

  function call(op, args) {
    return hostCall(op, JSONstringify(args === undefined ? null : args));
  }

  class Headers {
    #m = new Map();
    constructor(init) {
      if (init == null) return;
      if (init instanceof Headers) { for (const [k, v] of init.entries()) this.append(k, v); return; }
      if (isArray(init)) { for (const p of init) this.append(p[0], p[1]); return; }
      for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    get(k) { const v = this.#m.get(toStr(k).toLowerCase()); return v === undefined ? null : v; }
    set(k, v) { this.#m.set(toStr(k).toLowerCase(), toStr(v)); }
    append(k, v) {
      k = toStr(k).toLowerCase(); v = toStr(v);
      const o = this.#m.get(k);
      this.#m.set(k, o === undefined ? v : o + ', ' + v);
    }
    has(k) { return this.#m.has(toStr(k).toLowerCase()); }
    delete(k) { this.#m.delete(toStr(k).toLowerCase()); }
    forEach(f, self) { for (const [k, v] of this.#m) f.call(self, v, k, this); }
    keys() { return this.#m.keys(); }
    values() { return this.#m.values(); }
    entries() { return this.#m.entries(); }
    [Symbol.iterator]() { return this.#m.entries(); }
    static flat(h) { const out = []; for (const [k, v] of h.#m) { out[out.length] = k; out[out.length] = v; } return out; }
  }

  const bodyText = (b) => (b == null ? '' : toStr(b));

  class Request {
    #url; #method; #headers; #body;
    constructor(input, init) {
      init = init || {};
      this.#url = input instanceof Request ? input.url : toStr(input);
      this.#method = toStr(init.method || (input instanceof Request ? input.method : 'GET')).toUpperCase();
      this.#headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      this.#body = bodyText(init.body);
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    text() { return PromiseResolve(this.#body); }
    json() { try { return PromiseResolve(JSONparse(this.#body)); } catch (e) { return PromiseReject(e); } }
    async formData() {
      const out = new Map();
      for (const part of this.#body.split('&')) {
        if (!part) continue;
        const i = part.indexOf('=');
        const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
        const k = dec(i < 0 ? part : part.slice(0, i)), v = i < 0 ? '' : dec(part.slice(i + 1));
        if (!out.has(k)) out.set(k, v);
      }
      return { get: (k) => (out.has(k) ? out.get(k) : null), has: (k) => out.has(k), entries: () => out.entries() };
    }
  }

  class Response {
    #status; #headers; #body;
    constructor(body, init) {
      init = init || {};
      const st = init.status === undefined ? 200 : init.status | 0;
      if (st < 200 || st > 599) throw new RangeError('Response status must be 200..599, got ' + st);
      this.#status = st;
      this.#headers = new Headers(init.headers);
      this.#body = bodyText(body);
      if (typeof body === 'string' && !this.#headers.has('content-type')) this.#headers.set('content-type', 'text/plain;charset=UTF-8');
    }
    get status() { return this.#status; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get headers() { return this.#headers; }
    text() { return PromiseResolve(this.#body); }
    json() { try { return PromiseResolve(JSONparse(this.#body)); } catch (e) { return PromiseReject(e); } }
    static json(v, init) {
      init = init || {};
      const h = new Headers(init.headers);
      if (!h.has('content-type')) h.set('content-type', 'application/json');
      return new Response(JSONstringify(v), { status: init.status, headers: h });
    }
    static redirect(url, status) { return new Response('', { status: status || 302, headers: { location: toStr(url) } }); }
    static unwrap(r) {
      if (!(r instanceof Response)) throw new TypeError('the handler must return a Response');
      return [r.#status, Headers.flat(r.#headers), r.#body];
    }
  }

  function fmt(args) {
    let s = '';
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      let t;
      if (typeof a === 'string') t = a;
      else { try { t = typeof a === 'object' && a !== null ? JSONstringify(a) : S(a); } catch (e) { t = '[unprintable]'; } }
      s += (i ? ' ' : '') + t;
      if (s.length > 65536) break;
    }
    return s;
  }
  const flatHeaders = Headers.flat, unwrapResponse = Response.unwrap;
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = { [level](...args) { hostLog(level, fmt(args)); } }[level]; // a method: not constructible
  }

  function fetch(input, init) {
    try {
      init = init || {};
      const req = input instanceof Request ? input : new Request(input, init);
      const r = JSONparse(call('fetch', {
        url: req.url, method: req.method, headers: flatHeaders(req.headers), body: bodyText(init.body),
      }));
      return PromiseResolve(new Response(r.body, { status: r.status, headers: r.headers }));
    } catch (e) {
      return PromiseReject(e);
    }
  }

  const env = {};
  for (let i = 0; i + 1 < envPairs.length; i += 2) env[envPairs[i]] = envPairs[i + 1];
  const kvGet = (key) => { try { const r = JSONparse(call('kv.get', { key: toStr(key) })); return PromiseResolve(r === null ? null : r.value); } catch (e) { return PromiseReject(e); } };
  env.KV = Object.freeze({
    get: kvGet,
    put: (key, value) => { try { call('kv.put', { key: toStr(key), value: toStr(value) }); return PromiseResolve(); } catch (e) { return PromiseReject(e); } },
    delete: (key) => { try { call('kv.delete', { key: toStr(key) }); return PromiseResolve(); } catch (e) { return PromiseReject(e); } },
    list: (opts) => { try { return PromiseResolve(JSONparse(call('kv.list', { prefix: toStr((opts && opts.prefix) || '') }))); } catch (e) { return PromiseReject(e); } },
  });
  Object.freeze(env);
  const security = Object.freeze({
    loginFailed: (user) => { call('security.loginFailed', { user: toStr(user) }); },
    loginSucceeded: (user) => { call('security.loginSucceeded', { user: toStr(user) }); },
    accountChanged: (user, field) => { call('security.accountChanged', { user: toStr(user), field: toStr(field) }); },
  });
  const ctx = Object.freeze({ waitUntil() {}, passThroughOnException() {}, security });

  g.Headers = Headers; g.Request = Request; g.Response = Response; g.console = console; g.fetch = fetch;
  g.sanitizeHTML = (html, policy) => call('sanitize', { html: toStr(html), policy: policy == null ? '' : toStr(policy) });

  let handler = null;
  return {
    dispatch(kind, arg) {
      if (kind === 'bind') { handler = arg; return; }
      if (kind === 'scheduled') return typeof handler.scheduled === 'function' ? handler.scheduled(arg, env, ctx) : undefined;
      return handler.fetch(arg, env, ctx);
    },
    request(kind, method, url, headers, body, cron) {
      if (kind === 'scheduled') return Object.freeze({ type: 'scheduled', cron, scheduledTime: Date.now() });
      const h = [];
      for (let i = 0; i + 1 < headers.length; i += 2) h[h.length] = [headers[i], headers[i + 1]];
      return new Request(url, { method, headers: h, body: method === 'GET' || method === 'HEAD' ? null : body });
    },
    unwrap(r) { return unwrapResponse(r); },
    describe(e) {
      if (e instanceof ErrorC) return S(e.name) + ': ' + S(e.message);
      return 'exception ' + fmt([e]);
    },
  };
};
