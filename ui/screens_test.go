package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"bulwark/core/event"
	"bulwark/ui/fake"
	"bulwark/ui/source"
)

func TestImportBundleStoresItPrivatelyAndConnects(t *testing.T) {
	h := newHarness(t, Options{})
	path := h.bundleFile("alice", testNow.AddDate(1, 0, 0), 0o600)
	h.act(func() {
		h.c.connect.label.SetText("prod-eu")
		h.c.connect.importFile(path)
	})
	if h.c.cur == nil {
		t.Fatalf("not connected: %q", h.c.connect.msg.Text)
	}
	if got := h.conn.Opened(); len(got) != 1 || got[0].Name != "alice" {
		t.Fatalf("opened %+v", got)
	}
	stored, err := h.store.List()
	if err != nil || len(stored) != 1 || stored[0].Label != "prod-eu" || stored[0].KeyPEM == "" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	fi, err := os.Stat(h.store.path("prod-eu"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file mode %v, %v", fi.Mode(), err)
	}
	di, _ := os.Stat(h.store.dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("store folder mode %v", di.Mode())
	}
	if !strings.Contains(h.c.win.Title(), "prod-eu") || h.c.picker.Selected != "prod-eu" {
		t.Fatalf("title %q, picker %q", h.c.win.Title(), h.c.picker.Selected)
	}
}

func TestImportBundleRejectsBadInputWithClearMessages(t *testing.T) {
	h := newHarness(t, Options{})
	garbage := filepath.Join(h.dir, "notes.txt")
	os.WriteFile(garbage, []byte("hello, this is not a bundle"), 0o600)
	cases := []struct {
		name string
		path func() string
		want string
	}{
		{"wrong file", func() string { return garbage }, "wrong file"},
		{"world-readable", func() string { return h.bundleFile("loose", testNow.AddDate(1, 0, 0), 0o644) }, "bad permissions"},
		{"expired", func() string { return h.bundleFile("old", testNow.Add(-time.Hour), 0o600) }, "expired certificate"},
	}
	for _, tc := range cases {
		p := tc.path()
		h.act(func() { h.c.connect.importFile(p) })
		if tc.want != "" && !strings.Contains(h.c.connect.msg.Text, tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.name, h.c.connect.msg.Text, tc.want)
		}
	}
	// unreachable and refused need the connector to say so at Open time.
	down := fake.NewConnector(h.app)
	down.Down("127.0.0.1:9443")
	h.c.conn = down
	p := h.bundleFile("carol", testNow.AddDate(1, 0, 0), 0o600)
	h.act(func() { h.c.connect.importFile(p) })
	if !strings.Contains(h.c.connect.msg.Text, "unreachable appliance") {
		t.Errorf("unreachable: %q", h.c.connect.msg.Text)
	}
	refusing := fake.NewConnector(h.app)
	refusing.Refuse("dave")
	h.c.conn = refusing
	p = h.bundleFile("dave", testNow.AddDate(1, 0, 0), 0o600)
	h.act(func() { h.c.connect.importFile(p) })
	if !strings.Contains(h.c.connect.msg.Text, "refused certificate") {
		t.Errorf("refused: %q", h.c.connect.msg.Text)
	}
	if h.c.cur != nil {
		t.Fatal("connected despite bad bundles")
	}
	if stored, _ := h.store.List(); len(stored) != 0 {
		t.Fatalf("bad bundles were stored: %+v", stored)
	}
}

func TestEnrollWithTokenAndSwitchAppliances(t *testing.T) {
	h := newHarness(t, Options{})
	cs := h.c.connect
	h.act(func() {
		cs.label.SetText("lab")
		cs.token.SetText("not-a-token")
		test.Tap(cs.enrollBtn)
	})
	if !strings.Contains(cs.msg.Text, "not an enrollment token") || h.c.cur != nil {
		t.Fatalf("bad token: %q", cs.msg.Text)
	}
	h.act(func() {
		cs.token.SetText("bwk1.good")
		test.Tap(cs.enrollBtn)
	})
	if h.c.cur == nil || h.c.cur.bundle.Label != "lab" {
		t.Fatalf("enroll did not connect: %q", cs.msg.Text)
	}
	for _, c := range h.mutations() {
		b, _ := json.Marshal(c.Args)
		if strings.Contains(string(b), "PRIVATE KEY") {
			t.Fatalf("a private key was sent: %s", b)
		}
	}
	// A second appliance from a bundle; then switch back with the picker.
	p := h.bundleFile("alice", testNow.AddDate(1, 0, 0), 0o600)
	h.act(func() {
		cs.label.SetText("prod")
		cs.importFile(p)
	})
	if h.c.cur.bundle.Label != "prod" || len(h.c.picker.Options) != 2 {
		t.Fatalf("second appliance: cur %q, picker %v", h.c.cur.bundle.Label, h.c.picker.Options)
	}
	h.act(func() { h.c.picker.SetSelected("lab") })
	if h.c.cur.bundle.Label != "lab" || !strings.Contains(h.c.win.Title(), "lab") {
		t.Fatalf("switch: cur %q title %q", h.c.cur.bundle.Label, h.c.win.Title())
	}
}

func TestEventsFilterPageAndBanIP(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Events").(*eventsScreen)
	if v.total <= eventsPageSize || len(v.table.rows) != eventsPageSize {
		t.Fatalf("first page: total %d, rows %d", v.total, len(v.table.rows))
	}
	h.act(func() { test.Tap(v.next) })
	if v.page != 1 || !strings.HasPrefix(v.pageLbl.Text, "101–200 of "+thousands(v.total)+" · page 2 of ") {
		t.Fatalf("paging: %q", v.pageLbl.Text)
	}
	h.act(func() { v.kind.SetSelected("sqli") })
	for _, e := range v.events {
		if e.Kind != event.SQLi {
			t.Fatalf("kind filter let through %s", e.Kind)
		}
	}
	if v.page != 0 || len(v.events) == 0 {
		t.Fatalf("filter: page %d, %d events", v.page, len(v.events))
	}
	target := v.events[0]
	h.act(func() {
		v.table.pick(0)
		v.banFor.SetSelected("1 hour")
	})
	if !strings.Contains(v.detail.Text, target.Rule) || !strings.Contains(v.detail.Text, "matched") {
		t.Fatalf("detail pane: %q", v.detail.Text)
	}
	h.act(func() { test.Tap(v.banBtn) })
	call := h.lastCall("Ban")
	if call.Args[0] != target.IP || call.Args[1] != time.Hour {
		t.Fatalf("ban call %+v, want %s for 1h", call, target.IP)
	}
	if !strings.Contains(v.msg.Text, target.IP+" banned for 1 hour") {
		t.Fatalf("message %q", v.msg.Text)
	}
	h.act(func() { test.Tap(v.exclBtn) })
	x := h.lastCall("AddWAFExclusion").Args[0].(source.WAFExclusion)
	if x.Rule != target.Rule || x.Path != target.Path {
		t.Fatalf("exclusion %+v for event %+v", x, target)
	}
	h.act(func() { v.doAllowlist(target) })
	if c := h.lastCall("AddAccess"); c.Args[0] != source.Allowlist || c.Args[1] != target.IP {
		t.Fatalf("allowlist call %+v", c)
	}
	h.act(func() { test.Tap(v.copy) })
	var back event.Event
	if err := json.Unmarshal([]byte(h.c.app.Clipboard().Content()), &back); err != nil || back.ID != target.ID {
		t.Fatalf("clipboard: %v %+v", err, back)
	}
}

func TestAppsLimitValidationAndSave(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Apps").(*appsScreen)
	if len(v.table.rows) != 3 {
		t.Fatalf("apps: %v", v.table.rows)
	}
	h.act(func() { v.table.pick(0) })
	mem := v.limits[0]
	if mem.entry.Text != "128" || len(v.versions.rows) != 3 || v.log.Text == "" {
		t.Fatalf("editor: mem %q, versions %d, log %q", mem.entry.Text, len(v.versions.rows), v.log.Text)
	}
	for _, bad := range []struct{ in, want string }{{"-5", "negative"}, {"lots", "not a whole number"}, {"99999", "out of range"}} {
		h.act(func() {
			mem.entry.SetText(bad.in)
			test.Tap(v.saveLim)
		})
		if !strings.Contains(mem.err.Text, bad.want) || !strings.Contains(v.limMsg.Text, "not saved") {
			t.Errorf("%q: field message %q, form message %q", bad.in, mem.err.Text, v.limMsg.Text)
		}
		if mem.entry.Validate() == nil {
			t.Errorf("%q passes the entry's validator", bad.in)
		}
	}
	h.noCalls("SetLimits")
	h.act(func() {
		mem.entry.SetText("256")
		test.Tap(v.saveLim)
	})
	c := h.lastCall("SetLimits")
	if c.Args[0] != "shop" || c.Args[1].(source.Limits).MemoryMB != 256 || mem.err.Text != "" {
		t.Fatalf("save: %+v, field message %q", c, mem.err.Text)
	}
	// Disable, then roll back to version 1.
	h.act(func() { v.enabled.SetChecked(false) })
	if c := h.lastCall("SetEnabled"); c.Args[1] != false {
		t.Fatalf("disable: %+v", c)
	}
}

func TestAppsDeployShowsProgressAndFullErrors(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Apps").(*appsScreen)
	h.act(func() { v.deploy("/home/dev/broken-shop") })
	if v.deployErr.Text != fake.DeployError || !strings.Contains(v.deployMsg.Text, "previous version keeps serving") {
		t.Fatalf("deploy error shown as %q / %q", v.deployErr.Text, v.deployMsg.Text)
	}
	h.act(func() { v.deploy("/home/dev/newsletter") })
	if v.progress.Value != 1 || !strings.Contains(v.deployMsg.Text, "deployed newsletter v1") || len(v.apps) != 4 {
		t.Fatalf("deploy: progress %v, %q, %d apps", v.progress.Value, v.deployMsg.Text, len(v.apps))
	}
}

func TestAccessRejectsInvalidAndDuplicateCIDRLocally(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Access").(*accessScreen)
	if len(v.allow.entries) != 1 || len(v.bans) != 2 || v.banTable.rows[0][2] != "47m" {
		t.Fatalf("access: %+v %+v", v.allow.entries, v.banTable.rows)
	}
	for _, bad := range []struct{ in, want string }{
		{"10.0.0.300/8", "not an IP address or CIDR"},
		{"10.1.2.3/8", "did you mean 10.0.0.0/8"},
		{"10.0.0.0/8", "already on this list"},
		{"", "enter an IP address"},
	} {
		h.act(func() {
			v.allow.cidr.SetText(bad.in)
			test.Tap(v.allow.add)
		})
		if !strings.Contains(v.allow.msg.Text, bad.want) {
			t.Errorf("%q: message %q lacks %q", bad.in, v.allow.msg.Text, bad.want)
		}
	}
	h.noCalls("AddAccess")
	h.act(func() {
		v.deny.cidr.SetText("2001:db8::/32")
		test.Tap(v.deny.add)
	})
	if c := h.lastCall("AddAccess"); c.Args[0] != source.Denylist || c.Args[1] != "2001:db8::/32" || len(v.deny.entries) != 2 {
		t.Fatalf("deny add: %+v, %d entries", c, len(v.deny.entries))
	}
	h.act(func() {
		v.banIP.SetText("not-an-ip")
		test.Tap(v.banBtn)
	})
	h.noCalls("Ban")
	h.act(func() {
		v.banTable.pick(0)
		test.Tap(v.unbanBtn)
	})
	if c := h.lastCall("Unban"); c.Args[0] != "203.0.113.7" || len(v.bans) != 1 {
		t.Fatalf("unban: %+v, %d bans", c, len(v.bans))
	}
}

func TestPoliciesWhitelistPreviewFollowsEdits(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Policies").(*policiesScreen)
	first := v.preview.Text
	if strings.Contains(first, "<script") || strings.Contains(first, "onclick") || strings.Contains(first, "javascript:") ||
		!strings.Contains(first, "<b>world</b>") || !strings.Contains(first, `href="https://example.test"`) {
		t.Fatalf("initial preview %q", first)
	}
	h.ui(func() { v.sample.SetText(`<u>under</u> <b>bold</b>`) })
	if v.preview.Text != "under <b>bold</b>" {
		t.Fatalf("preview %q", v.preview.Text)
	}
	h.ui(func() {
		v.addRow(source.TagRule{})
		v.rows[len(v.rows)-1].tag.SetText("u")
	})
	if v.preview.Text != "<u>under</u> <b>bold</b>" {
		t.Fatalf("after allowing <u>: %q", v.preview.Text)
	}
	h.ui(func() { v.rows[len(v.rows)-1].tag.SetText("script") })
	if !strings.Contains(v.htmlMsg.Text, "cannot be whitelisted") || !v.saveHTML.Disabled() {
		t.Fatalf("script allowed: %q", v.htmlMsg.Text)
	}
	h.ui(func() { v.rows[len(v.rows)-1].tag.SetText("u") })
	h.act(func() { test.Tap(v.saveHTML) })
	p := h.lastCall("SetHTMLPolicy").Args[0].(source.HTMLPolicy)
	if p.Tags[len(p.Tags)-1].Tag != "u" || strings.Join(p.Schemes, ",") != "https,mailto" {
		t.Fatalf("saved %+v", p)
	}
	// WAF and egress validate locally too.
	h.act(func() {
		v.exclRule.SetText("942100")
		v.exclPath.SetText("search")
		v.doAddExclusion()
	})
	if !strings.Contains(v.wafMsg.Text, "must start with /") {
		t.Fatalf("exclusion message %q", v.wafMsg.Text)
	}
	h.noCalls("AddWAFExclusion")
	h.act(func() {
		v.egressApp.SetSelected("shop")
		v.egress.SetText("api.stripe.com\nhttp://evil")
		v.doSaveEgress()
	})
	if !strings.Contains(v.egressMsg.Text, "line 2") {
		t.Fatalf("egress message %q", v.egressMsg.Text)
	}
	h.noCalls("SetEgress")
}

func TestAlertsAcknowledgeAndDuplicateRuleName(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Alerts").(*alertsScreen)
	if len(v.history) != 2 || v.histTable.rows[0][4] != "open" {
		t.Fatalf("history %v", v.histTable.rows)
	}
	h.act(func() {
		v.histTable.pick(0)
		test.Tap(v.ackBtn)
	})
	if c := h.lastCall("Acknowledge"); c.Args[0] != int64(9001) {
		t.Fatalf("ack call %+v", c)
	}
	if v.histTable.rows[0][4] != "acked by console" {
		t.Fatalf("after ack: %v", v.histTable.rows[0])
	}
	h.act(func() {
		v.newRule()
		v.name.SetText("SQLi burst")
		test.Tap(widgetByText(t, v.content, "Save rule"))
	})
	if !strings.Contains(v.ruleErrs.text("name"), "exists already") || !strings.Contains(v.ruleMsg.Text, "nothing sent") {
		t.Fatalf("duplicate name message %q / %q", v.ruleErrs.text("name"), v.ruleMsg.Text)
	}
	h.act(func() {
		v.name.SetText("probe flood")
		v.chans.SetText("nowhere")
		v.saveRule()
	})
	if !strings.Contains(v.ruleErrs.text("channels"), `no channel named "nowhere"`) || v.ruleErrs.text("name") != "" {
		t.Fatalf("channel message %q (name %q)", v.ruleErrs.text("channels"), v.ruleErrs.text("name"))
	}
	h.noCalls("SaveAlertRule")
	h.act(func() {
		v.chans.SetText("ops-mail")
		v.saveRule()
	})
	if r := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule); r.Name != "probe flood" || r.Threshold != 10 || r.Window != 5*time.Minute {
		t.Fatalf("saved rule %+v", r)
	}
	h.act(func() {
		v.chanTable.pick(0)
		test.Tap(v.testBtn)
	})
	if c := h.lastCall("TestChannel"); c.Args[0] != "ops-webhook" || !strings.Contains(v.chMsg.Text, "delivered") {
		t.Fatalf("test channel %+v %q", c, v.chMsg.Text)
	}
}

func TestClientsIssueWritesPrivateBundleAndRevoke(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Clients").(*clientsScreen)
	if len(v.clients) != 2 {
		t.Fatalf("clients %+v", v.clients)
	}
	h.ui(func() { v.name.SetText("alice") })
	if _, ok := v.checkName(); ok || !strings.Contains(v.msg.Text, "already has an active certificate") {
		t.Fatalf("duplicate client: %q", v.msg.Text)
	}
	out := filepath.Join(h.dir, "bob.bundle")
	os.WriteFile(out, nil, 0o644) // as a save dialog with a loose umask would leave it
	h.act(func() { v.issueTo("bob", out) })
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle file %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(out)
	if _, err := h.conn.ParseBundle(data); err != nil || len(v.clients) != 3 {
		t.Fatalf("issued bundle: %v, %d clients", err, len(v.clients))
	}
	h.act(func() { v.doRevoke("alice") })
	if c := h.lastCall("RevokeClient"); c.Args[0] != "alice" || v.table.rows[1][4] != "revoked" {
		t.Fatalf("revoke: %+v %v", c, v.table.rows)
	}
}

// The pager says where the page sits in the whole listing: "1–100 of 1,234", or "of N+"
// when the appliance stopped counting, and Next follows the appliance's More then.
func TestEventsPagerShowsTotalAndCap(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Events").(*eventsScreen)
	total := v.total
	if total <= 2*eventsPageSize {
		t.Fatalf("the fake should hold more than two pages, has %d", total)
	}
	want := "1–100 of " + thousands(total) + " · page 1 of " + thousands((total+eventsPageSize-1)/eventsPageSize)
	if v.pageLbl.Text != want || !v.prev.Disabled() || v.next.Disabled() {
		t.Fatalf("pager %q (want %q), prev disabled %v, next disabled %v", v.pageLbl.Text, want, v.prev.Disabled(), v.next.Disabled())
	}
	h.app.SetTotalCap(2*eventsPageSize - 50)
	h.act(v.refresh)
	if v.pageLbl.Text != "1–100 of 150+" || v.next.Disabled() {
		t.Fatalf("capped pager %q, next disabled %v", v.pageLbl.Text, v.next.Disabled())
	}
	h.act(func() { test.Tap(v.next) })
	h.act(func() { test.Tap(v.next) })
	if v.pageLbl.Text != "201–300 of 300+" || v.next.Disabled() != (total <= 3*eventsPageSize) {
		t.Fatalf("capped page 3: %q, next disabled %v with %d events", v.pageLbl.Text, v.next.Disabled(), total)
	}
	h.act(func() { v.text.SetText("no event has this text"); v.page = 0; v.refresh() })
	if v.pageLbl.Text != "no events match" || !v.next.Disabled() {
		t.Fatalf("empty listing: %q", v.pageLbl.Text)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
