package jsrt

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// An app (or a polyfill it bundles) that replaces prototype methods and globals at module top
// level must still get its own responses out: the API calls only intrinsics captured before
// the app ran.
func TestPatchedIntrinsicsDoNotBreakResponses(t *testing.T) {
	src := `
const boom = (n) => function () { throw new Error("patched intrinsic called: " + n) };
Array.prototype.push = boom("Array.prototype.push"); Array.prototype.filter = boom("Array.prototype.filter"); Array.prototype.map = boom("Array.prototype.map");
Array.prototype.join = boom("Array.prototype.join"); Array.prototype.some = boom("Array.prototype.some"); Array.prototype.includes = boom("Array.prototype.includes");
Array.prototype.sort = boom("Array.prototype.sort");
String.prototype.toLowerCase = boom("String.prototype.toLowerCase"); String.prototype.toUpperCase = boom("String.prototype.toUpperCase");
String.prototype.indexOf = boom("String.prototype.indexOf"); String.prototype.charCodeAt = boom("String.prototype.charCodeAt"); String.prototype.slice = boom("String.prototype.slice");
ArrayBuffer.prototype.slice = boom("ArrayBuffer.prototype.slice");
globalThis.String = boom("globalThis.String"); globalThis.Number = boom("globalThis.Number"); delete globalThis.URLSearchParams; globalThis.URL = boom("globalThis.URL");
export default { async fetch(request, env, ctx) {
  Array.prototype[Symbol.iterator] = boom("Array.prototype[Symbol.iterator]"); // the bundle's own start-up code iterates arrays
  const h = new Headers({ "X-One": " 1 " });
  h.append("Set-Cookie", "a=1"); h.append("set-cookie", "b=2"); h.set("x-two", "2"); h.delete("x-none");
  let e; try { h.append("bad name", "x") } catch (x) { e = x instanceof TypeError }
  const out = [request.method, request.headers.get("accept"), request.headers.has("X-Test"), h.get("x-one"), h.has("X-Two"), e];
  for (const pair of h.entries()) out[out.length] = pair[0] + "=" + pair[1];
  const r = new Response("", { status: 201, statusText: "Created", headers: h });
  let s = await request.text() + "|" + out[0];
  for (let i = 1; i < out.length; i++) s += "," + out[i];
  return new Response(s, r);
} }`
	v := newVM(t, src, newHost(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := v.Handle(ctx, Request{Method: "post", URL: "https://app.test/", Flat: []string{"Accept", "text/html", "x-test", "1"}, Body: []byte("body")})
	if err != nil {
		t.Fatalf("handle: %v", err)
	}
	if res.Status != 201 {
		t.Fatalf("status %d", res.Status)
	}
	want := "body|POST,text/html,true,1,true,true,set-cookie=a=1,set-cookie=b=2,x-one=1,x-two=2"
	if string(res.Body) != want {
		t.Errorf("body %q, want %q", res.Body, want)
	}
	// A request given as Flat pairs is answered with Flat pairs.
	if res.Header != nil {
		t.Errorf("Header %v for a Flat request", res.Header)
	}
	hdr := http.Header{}
	for i := 0; i+1 < len(res.Flat); i += 2 {
		hdr.Add(res.Flat[i], res.Flat[i+1])
	}
	if got := hdr.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
		t.Errorf("set-cookie %q", got)
	}
	if got := hdr.Get("Content-Type"); got != "text/plain;charset=UTF-8" {
		t.Errorf("content-type %q", got)
	}
}
