// Fills its KV namespace until the quota refuses, then checks what was kept is intact.
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/fill") {
      let stored = 0, refused = "";
      for (let i = 0; i < 1000; i++) {
        try { await env.KV.put("k" + i, "v".repeat(500)); stored++; } catch (e) { refused = e.message; break; }
      }
      return Response.json({ stored, refused });
    }
    if (path === "/list") {
      const page = await env.KV.list({ prefix: "k" });
      return Response.json({ keys: page.keys.length, first: await env.KV.get("k0") === "v".repeat(500) });
    }
    return new Response("up");
  },
};
