package jsrt

import (
	"context"
	"testing"
)

func TestHello(t *testing.T) {
	h := newHost()
	v := newVM(t, `export default { async fetch(req, env, ctx) {
		const u = new URL(req.url)
		return new Response("hello " + u.searchParams.get("name") + " " + req.headers.get("x-test"), { status: 201, headers: { "X-A": "b" } })
	} }`, h, Options{})
	res := get(t, v, "https://a.test/?name=bob")
	if res.Status != 201 || string(res.Body) != "hello bob 1" || res.Header.Get("X-A") != "b" {
		t.Fatalf("res = %+v %q", res, res.Body)
	}
	if err := v.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}
