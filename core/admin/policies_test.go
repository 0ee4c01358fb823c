package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/guard"
	"bulwark/core/headers"
	"bulwark/core/policy"
	"bulwark/core/sanitize"
	"bulwark/db"
)

// livePolicies are the real list and document services over their own store file.
type livePolicies struct {
	store   policy.Store
	guard   *guard.Guard
	lists   *policy.Lists
	docs    *policy.Docs
	set     *sanitize.Set
	headers *headers.Set
}

func newLivePolicies(t *testing.T, path string, allow []string) *livePolicies {
	t.Helper()
	st, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := guard.New(guard.DefaultOptions(), nil, event.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lp := &livePolicies{store: policy.Store{DB: st}, guard: g, set: sanitize.NewSet()}
	ctx := context.Background()
	if lp.lists, err = policy.NewLists(ctx, g, lp.store, allow, nil, log); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	other := ConfigDocs{What: "policy", Sections: map[string]any{"guard": cfg.Guard}}
	lp.docs, err = policy.NewDocs(ctx, lp.store, policy.Appliers{Sanitizer: lp.set, Headers: func(s *headers.Set) { lp.headers = s }},
		cfg.WAF, cfg.Headers, other, log)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

func reqErr(t *testing.T, err error, status int, field string) {
	t.Helper()
	var re *adminclient.RequestError
	if !errors.As(err, &re) || re.Status != status || re.Field != field {
		t.Fatalf("want %d with field %q, got %v", status, field, err)
	}
}

// The allow and deny lists through the API: validated, applied to the guard at once,
// audited, kept across a restart; config entries stay and cannot be removed here.
func TestAccessListsLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.db")
	lp := newLivePolicies(t, path, []string{"10.0.0.0/8"})
	h := newHarness(t, func(o *Options) { o.Lists = lp.lists; o.Bans = GuardBans{Guard: lp.guard} })
	c := h.client(h.admin)
	ctx := ctx5(t)

	if err := c.AccessAdd(ctx, "deny", "198.51.100.0/24", "scanner net"); err != nil {
		t.Fatal(err)
	}
	if _, deny := lp.guard.Lists(); len(deny) != 1 || deny[0] != "198.51.100.0/24" {
		t.Fatalf("guard deny list: %v", deny)
	}
	reqErr(t, c.AccessAdd(ctx, "deny", "300.1.2.0/24", ""), 400, "cidr")
	reqErr(t, c.AccessAdd(ctx, "deny", "198.51.100.7/24", ""), 409, "cidr") // the same network
	reqErr(t, c.AccessAdd(ctx, "allow", "10.0.0.0/8", ""), 409, "cidr")
	reqErr(t, c.AccessRemove(ctx, "allow", "10.0.0.0/8"), 409, "cidr")
	reqErr(t, c.AccessRemove(ctx, "deny", "192.0.2.0/24"), 404, "cidr")
	viewer := h.client(h.issue("watcher", adminbundle.RoleViewer))
	if err := viewer.AccessAdd(ctx, "allow", "192.0.2.1", ""); err == nil {
		t.Fatal("a viewer changed the allow list")
	}
	if err := c.AccessAdd(ctx, "allow", "203.0.113.9", "office"); err != nil {
		t.Fatal(err)
	}
	// An allowlisted address cannot be banned.
	if _, err := c.Ban(ctx, "203.0.113.9", "1h", ""); err == nil {
		t.Fatal("banned an allowlisted address")
	}
	allow, err := c.Access(ctx, "allow")
	if err != nil || len(allow) != 2 || allow[0].CIDR != "10.0.0.0/8" || !strings.Contains(allow[0].Note, "configuration file") ||
		allow[1].CIDR != "203.0.113.9/32" || allow[1].Note != "office" || allow[1].Created.IsZero() {
		t.Fatalf("allow list: %+v %v", allow, err)
	}
	audit, _ := c.Audit(ctx, 50)
	var seen bool
	for _, a := range audit {
		seen = seen || (strings.Contains(a.Detail, "deny add 198.51.100.0/24") && a.Client == "root")
	}
	if !seen {
		t.Fatalf("no audit row for the deny entry: %+v", audit)
	}

	// Restart: the same store file rebuilds the lists.
	lp2 := newLivePolicies(t, path, []string{"10.0.0.0/8"})
	if a, d := lp2.guard.Lists(); strings.Join(a, ",") != "10.0.0.0/8,203.0.113.9/32" || strings.Join(d, ",") != "198.51.100.0/24" {
		t.Fatalf("after restart: allow %v deny %v", a, d)
	}
	if _, hit := lp2.guard.Allowlisted(netip.MustParseAddr("203.0.113.9")); !hit {
		t.Fatal("restored allow entry not enforced")
	}
	if err := c.AccessRemove(ctx, "deny", "198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
	if _, deny := lp.guard.Lists(); len(deny) != 0 {
		t.Fatalf("removed entry still enforced: %v", deny)
	}
}

// Policy documents through the API: strict decoding, errors naming the field, applied
// live, audited, restored from the store.
func TestPolicyDocumentsLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.db")
	lp := newLivePolicies(t, path, nil)
	h := newHarness(t, func(o *Options) { o.Policies = lp.docs })
	c := h.client(h.admin)
	ctx := ctx5(t)

	// html: a named policy next to the default.
	docs, err := c.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"html", "waf", "headers", "egress", "guard"} {
		if _, ok := docs[n]; !ok {
			t.Fatalf("no %s document in %v", n, docs)
		}
	}
	var html map[string]json.RawMessage
	if err := json.Unmarshal(docs["html"], &html); err != nil || html["default"] == nil {
		t.Fatalf("html document: %s %v", docs["html"], err)
	}
	html["comments"] = json.RawMessage(`{"tags": {"b": [], "i": []}, "unknown_tags": "escape"}`)
	b, _ := json.Marshal(html)
	if err := c.PutPolicy(ctx, "html", b); err != nil {
		t.Fatal(err)
	}
	if out, err := lp.set.Sanitize(`<b>x</b><u>y</u>`, "comments"); err != nil || out != "<b>x</b>&lt;u&gt;y&lt;/u&gt;" {
		t.Fatalf("comments policy not live: %q %v", out, err)
	}
	reqErr(t, c.PutPolicy(ctx, "html", json.RawMessage(`{"comments": {"tags": {"script": []}}}`)), 400, "comments.tags.script")
	reqErr(t, c.PutPolicy(ctx, "html", json.RawMessage(`{"comments": {"tags": {"b": []}, "colour": 1}}`)), 400, "comments.colour")
	reqErr(t, c.PutPolicy(ctx, "html", json.RawMessage(`{"Bad Name": {"tags": {"b": []}}}`)), 400, "Bad Name")
	if _, ok := lp.set.Get("comments"); !ok {
		t.Fatal("a refused document changed the sanitizer")
	}

	// waf: keys left out keep their value; exclusions validated.
	if err := c.PutPolicy(ctx, "waf", json.RawMessage(`{"mode":"detect","exclusions":[{"prefix":"/blog","rules":[942100],"target":"ARGS:body"}]}`)); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Policy(ctx, "waf")
	if !strings.Contains(string(w), `"mode":"detect"`) || !strings.Contains(string(w), `"paranoia":1`) || !strings.Contains(string(w), `"ARGS:body"`) {
		t.Fatalf("waf document: %s", w)
	}
	reqErr(t, c.PutPolicy(ctx, "waf", json.RawMessage(`{"exclusions":[{"rules":[942100],"target":"NOPE:x"}]}`)), 400, "exclusions[0].target")
	reqErr(t, c.PutPolicy(ctx, "waf", json.RawMessage(`{"paranoia":7}`)), 400, "paranoia")
	reqErr(t, c.PutPolicy(ctx, "waf", json.RawMessage(`{"mode":"detect","colour":"red"}`)), 400, "colour")
	reqErr(t, c.PutPolicy(ctx, "waf", json.RawMessage(`{"mode":3}`)), 400, "mode")

	// headers: live swap.
	if err := c.PutPolicy(ctx, "headers", json.RawMessage(`{"profile":"strict","routes":[{"prefix":"/legacy","profile":"default"}]}`)); err != nil {
		t.Fatal(err)
	}
	if lp.headers == nil || lp.headers.ForPath("/x") != lp.headers.Profile("strict") || lp.headers.ForPath("/legacy/a") != lp.headers.Profile("default") {
		t.Fatal("headers profile not applied")
	}
	reqErr(t, c.PutPolicy(ctx, "headers", json.RawMessage(`{"profile":"lax"}`)), 400, "profile")
	reqErr(t, c.PutPolicy(ctx, "headers", json.RawMessage(`{"routes":[{"prefix":"legacy","profile":"default"}]}`)), 400, "routes[0].prefix")

	// egress: hosts validated.
	if err := c.PutPolicy(ctx, "egress", json.RawMessage(`{"shop":["API.Example.com","pay.example:8443"]}`)); err != nil {
		t.Fatal(err)
	}
	reqErr(t, c.PutPolicy(ctx, "egress", json.RawMessage(`{"shop":["https://api.example.com/x"]}`)), 400, "shop[0]")
	reqErr(t, c.PutPolicy(ctx, "egress", json.RawMessage(`{"Shop!":[]}`)), 400, "Shop!")

	// The guard section stays read from the configuration file.
	reqErr(t, c.PutPolicy(ctx, "guard", json.RawMessage(`{}`)), 501, "name")
	viewer := h.client(h.issue("watcher", adminbundle.RoleViewer))
	if err := viewer.PutPolicy(ctx, "headers", json.RawMessage(`{"profile":"default"}`)); err == nil {
		t.Fatal("a viewer changed a policy")
	}

	audit, _ := c.Audit(ctx, 100)
	found := map[string]bool{}
	for _, a := range audit {
		for _, n := range []string{"html", "waf", "headers", "egress"} {
			if strings.HasPrefix(a.Detail, "policies "+n+" = ") && a.Client == "root" && a.Status == 200 {
				found[n] = true
			}
		}
	}
	if len(found) != 4 {
		t.Fatalf("audit rows for %v only: %+v", found, audit)
	}

	// Restart on the same store: every document comes back.
	lp2 := newLivePolicies(t, path, nil)
	if out, err := lp2.set.Sanitize(`<i>a</i><u>b</u>`, "comments"); err != nil || out != "<i>a</i>&lt;u&gt;b&lt;/u&gt;" {
		t.Fatalf("html after restart: %q %v", out, err)
	}
	if wc := lp2.docs.WAFConfig(); wc.Mode != "detect" || len(wc.Exclusions) != 1 || wc.Exclusions[0].Target != "ARGS:body" {
		t.Fatalf("waf after restart: %+v", wc)
	}
	if lp2.headers == nil || lp2.headers.ForPath("/") != lp2.headers.Profile("strict") {
		t.Fatal("headers after restart")
	}
	if e := lp2.docs.Egress(); strings.Join(e["shop"], ",") != "api.example.com,pay.example:8443" {
		t.Fatalf("egress after restart: %v", e)
	}
}
