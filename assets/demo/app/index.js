// The demo app the appliance deploys on first start: a guestbook with a form, served from the
// sandbox like any deployed app. It shows the runtime API: Request/Response, URLSearchParams,
// env values, env.KV, sanitizeHTML and ctx.security.
const CSS = `body{font:16px/1.6 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
main{max-width:42rem;margin:6vh auto;padding:2rem 2.5rem;background:#fff;border:1px solid #dde1e8;border-radius:8px}
h1{font-size:1.6rem;margin-top:0}h2{font-size:1.1rem;margin-top:1.5rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input,textarea{width:100%;box-sizing:border-box;padding:.45rem .6rem;border:1px solid #c5cbd6;border-radius:6px;font:inherit}
button{margin-top:.8rem;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#2456d6;color:#fff;font:inherit;cursor:pointer}
ul.notes{list-style:none;padding:0}ul.notes li{border-top:1px solid #eef0f4;padding:.6rem 0}
.who{font-weight:600}.when{color:#6b7385;font-size:.85rem;margin-left:.4rem}
.msg{padding:.6rem .8rem;border-radius:6px;background:#eef7ee;border:1px solid #cfe8cf}
.err{background:#fdeeee;border-color:#f0c9c9}
code{background:#eef0f4;padding:.1rem .3rem;border-radius:4px}`;

const MAX_NOTES = 20;

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function loadNotes(env) {
  try {
    const raw = await env.KV.get("notes");
    return raw ? JSON.parse(raw) : [];
  } catch (e) {
    return null; // no key-value store on this appliance: the form still works, notes are not kept
  }
}

function page(env, notes, flash) {
  const list = notes === null
    ? "<p>Notes are not kept: this appliance has no key-value store configured.</p>"
    : notes.length === 0
      ? "<p>No notes yet. Be the first.</p>"
      : `<ul class="notes">${notes.map((n) => `<li><span class="who">${esc(n.name)}</span><span class="when">${esc(n.at)}</span><div>${n.html}</div></li>`).join("")}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(env.GREETING)}</title><link rel="stylesheet" href="/demo.css"></head>
<body><main>
<h1>${esc(env.GREETING)}</h1>
<p>This guestbook is a JavaScript app running in a sandboxed worker process: no files, no sockets,
no environment, a CPU budget per request and a memory wall. Everything you type below passes the
WAF, the CSRF check and the HTML sanitizer before it is stored.</p>
${flash ? `<p class="msg${flash.error ? " err" : ""}">${esc(flash.text)}</p>` : ""}
<h2>Leave a note</h2>
<form method="post" action="/notes">
<label for="name">Name</label><input id="name" name="name" maxlength="40" required>
<label for="message">Message (a little HTML such as &lt;b&gt; and &lt;i&gt; is kept)</label>
<textarea id="message" name="message" rows="3" maxlength="500" required></textarea>
<button type="submit">Post</button>
</form>
<h2>Notes</h2>
${list}
<h2>Next steps</h2>
<p>Deploy your own app with <code>bulwark apps deploy ./myapp</code>; it replaces this one on its routes.</p>
</main></body></html>`;
}

function html(body, status = 200) {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/demo.css") {
      return new Response(CSS, { headers: { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=300" } });
    }
    if (url.pathname === "/api/health") {
      return Response.json({ ok: true });
    }
    if (url.pathname === "/notes" && request.method === "POST") {
      const form = new URLSearchParams(await request.text());
      const name = (form.get("name") || "").trim().slice(0, 40);
      const message = (form.get("message") || "").trim().slice(0, 500);
      if (!name || !message) {
        return html(page(env, await loadNotes(env), { error: true, text: "Please give a name and a message." }), 400);
      }
      const notes = await loadNotes(env);
      if (notes === null) {
        return html(page(env, null, { text: "Thanks, " + name + "! (not stored: no key-value store)" }));
      }
      notes.unshift({ name, html: sanitizeHTML(message), at: new Date().toISOString().slice(0, 16).replace("T", " ") });
      await env.KV.put("notes", JSON.stringify(notes.slice(0, MAX_NOTES)));
      return new Response("", { status: 303, headers: { location: "/" } });
    }
    if (url.pathname === "/" && (request.method === "GET" || request.method === "HEAD")) {
      return html(page(env, await loadNotes(env), null));
    }
    return html("<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">Back to the guestbook</a></p>", 404);
  },
};
