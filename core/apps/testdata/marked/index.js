import { marked } from "marked";
export default {
  async fetch(request) {
    const text = request.method === "POST" ? await request.text() : "# Hello\n\n*marked* runs **inside** the sandbox.";
    return new Response(marked.parse(text), { headers: { "content-type": "text/html; charset=utf-8" } });
  },
};
