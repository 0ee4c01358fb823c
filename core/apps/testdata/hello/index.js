const VERSION = "v1";
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/loop") { for (;;) {} }
    if (url.pathname === "/oom") { let s = "x"; for (;;) s += s; }
    if (url.pathname === "/slow") { const t = Date.now(); while (Date.now() - t < 80) {} }
    return new Response(VERSION + " " + url.pathname, { headers: { "x-version": VERSION } });
  },
};
