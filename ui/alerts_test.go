package ui

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"bulwark/core/event"
	"bulwark/ui/source"
)

// Every rule type survives the editor: picking a rule and saving it unchanged sends back
// exactly what the appliance gave, so no spike or any rule turns into a threshold one.
func TestAlertRuleEditorRoundTripsEveryType(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Alerts").(*alertsScreen)
	types := map[source.RuleType]bool{}
	for i, want := range append([]source.AlertRule(nil), v.rules...) {
		h.act(func() {
			v.ruleTable.pick(i)
			v.saveRule()
		})
		got := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rule %d round trip:\n got %+v\nwant %+v", i, got, want)
		}
		types[want.Type] = true
	}
	if len(types) != 3 {
		t.Fatalf("the fake should hold one rule of each type, has %v", types)
	}
	if got := strings.Join(v.ruleTable.rows[1], "|"); got != "probe spike|spike|probe ≥ low|4× usual per 5m, ≥20|-|ops-mail, soc-syslog|yes" {
		t.Fatalf("spike row %q", got)
	}
	if got := v.ruleTable.rows[2][3]; got != "every event" {
		t.Fatalf("any row says %q", got)
	}
	// Renaming replaces the rule (same id) instead of adding a copy.
	h.act(func() {
		v.ruleTable.pick(0)
		v.name.SetText("sqli flood")
		v.saveRule()
	})
	if r := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule); r.ID != "r1" || r.Name != "sqli flood" {
		t.Fatalf("rename sent %+v", r)
	}
	var names []string
	for _, r := range v.rules {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "sqli flood,probe spike,sandbox crash" {
		t.Fatalf("rules after renaming: %v", names)
	}
}

// A new spike rule and a new any rule: the form shows the fields of the chosen type, bad
// values are reported beside their field and nothing is sent, good ones are saved whole.
func TestAlertRuleEditorSpikeAndAnyRules(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Alerts").(*alertsScreen)
	h.act(func() {
		v.newRule()
		v.rtype.SetSelected("spike")
	})
	if !v.ruleForm.shown("spike") || v.ruleForm.shown("threshold") || v.ruleForm.shown("any") {
		t.Fatal("the spike form is not the one shown")
	}
	h.act(func() {
		v.name.SetText("scanner spike")
		v.kind.SetSelected("scanner")
		v.factor.SetText("1")
		v.minCount.SetText("-5")
		v.spWindow.SetText("90s")
		v.suppress.SetText("lots")
		v.chans.SetText("ops-webhook")
		v.saveRule()
	})
	wantFieldErrors(t, v.ruleErrs, map[string]string{"factor": "above 1", "min_count": "whole number", "spike.window": "whole number of minutes", "suppress": "not a duration"})
	h.noCalls("SaveAlertRule")
	h.act(func() {
		v.factor.SetText("2.5")
		v.minCount.SetText("30")
		v.spWindow.SetText("10m")
		v.suppress.SetText("1h")
		v.groupBy.SetSelected("ip")
		v.saveRule()
	})
	if v.ruleErrs.text("factor") != "" || len(v.ruleErrs.shown()) != 0 {
		t.Fatalf("errors left after fixing: %v", v.ruleErrs.shown())
	}
	want := source.AlertRule{Name: "scanner spike", Type: source.RuleSpike, Kind: event.Scanner, MinSeverity: event.High, Factor: 2.5,
		MinCount: 30, Window: 10 * time.Minute, GroupBy: "ip", Suppress: time.Hour, Channels: []string{"ops-webhook"}, Enabled: true}
	if got := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule); !reflect.DeepEqual(got, want) {
		t.Fatalf("saved\n got %+v\nwant %+v", got, want)
	}

	h.act(func() {
		v.newRule()
		v.rtype.SetSelected("any")
		v.name.SetText("admin auth")
		v.kind.SetSelected("admin_auth")
		v.minSev.SetSelected("info")
		v.threshold.SetText("not looked at") // a hidden threshold field does not count
		v.chans.SetText("ops-mail")
		v.saveRule()
	})
	want = source.AlertRule{Name: "admin auth", Type: source.RuleAny, Kind: event.AdminAuth, MinSeverity: event.Info,
		Channels: []string{"ops-mail"}, Enabled: true}
	if got := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule); !reflect.DeepEqual(got, want) {
		t.Fatalf("saved\n got %+v\nwant %+v", got, want)
	}

	// The appliance's own refusal, naming a field, lands beside that field.
	h.app.Refuse("SaveAlertRule", &source.FieldError{Field: "window", Message: "must be between 1m0s and 1h0m0s"})
	h.act(func() {
		v.ruleTable.pick(1) // probe spike
		v.saveRule()
	})
	if got := v.ruleErrs.text("spike.window"); !strings.Contains(got, "between") || !strings.Contains(v.ruleMsg.Text, "refused") {
		t.Fatalf("appliance refusal: field %q, message %q", got, v.ruleMsg.Text)
	}
}

// A new e-mail channel with every SMTP field; bad input is reported beside each field and
// nothing is sent; the saved channel's password is write-only from then on; "Send test" goes
// to the saved channel.
func TestEmailChannelEditorValidatesSavesAndTests(t *testing.T) {
	h, v := newEmailChannel(t)
	if !v.chForm.shown("email") || v.chForm.shown("webhook") || v.chForm.shown("syslog") || !v.testBtn.Disabled() {
		t.Fatal("a new e-mail channel shows the wrong form, or Send test is enabled before saving")
	}
	h.act(func() {
		v.chName.SetText("night shift")
		v.mHost.SetText("mail.example.test:25")
		v.mPort.SetText("lots")
		v.mSec.SetSelected(securityChoice(source.SecurityNone))
		v.mPass.SetText("hunter2")
		v.mFrom.SetText("bulwark")
		v.mTo.SetText("ops@example.test, oncall")
		v.mCA.SetText("not a certificate")
		test.Tap(widgetByText(t, v.content, "Save channel"))
	})
	wantFieldErrors(t, v.chErrs, map[string]string{"name": "letters, digits", "smtp.addr": "port has its own field", "smtp.port": `"lots"`,
		"smtp.password": "never sent without TLS", "smtp.from": "not an e-mail address", "smtp.to": `"oncall"`, "smtp.ca_cert": "no PEM"})
	h.noCalls("SaveChannel")
	h.act(func() {
		v.chName.SetText("night-shift")
		v.mHost.SetText("mail.example.test")
		v.mPort.SetText("2525")
		v.mSec.SetSelected(securityChoice(source.SecuritySTARTTLS))
		v.mUser.SetText("bulwark")
		v.mFrom.SetText("bulwark@example.test")
		v.mTo.SetText("ops@example.test, oncall@example.test")
		v.mCA.SetText("")
		v.saveChannel()
	})
	want := source.Channel{Name: "night-shift", Type: "email", Target: "ops@example.test, oncall@example.test",
		Email: &source.EmailSettings{Host: "mail.example.test", Port: 2525, Security: source.SecuritySTARTTLS, Username: "bulwark",
			Password: "hunter2", From: "bulwark@example.test", To: []string{"ops@example.test", "oncall@example.test"}}}
	if got := h.lastCall("SaveChannel").Args[0].(source.Channel); !reflect.DeepEqual(got, want) {
		t.Fatalf("saved\n got %+v %+v\nwant %+v %+v", got, got.Email, want, want.Email)
	}
	if v.mPass.Text != "" || !strings.Contains(v.mPass.PlaceHolder, "stored") || v.testBtn.Disabled() {
		t.Fatalf("after saving: password field %q (placeholder %q), Send test disabled %v", v.mPass.Text, v.mPass.PlaceHolder, v.testBtn.Disabled())
	}
	h.act(func() { test.Tap(v.testBtn) })
	if c := h.lastCall("TestChannel"); c.Args[0] != "night-shift" || !strings.Contains(v.chMsg.Text, "delivered to night-shift") {
		t.Fatalf("test: %+v %q", c, v.chMsg.Text)
	}

	// Editing a stored channel: the password never comes back; saving with the field empty
	// keeps the stored one, typing a new one replaces it.
	var row int
	for i, c := range v.channels {
		if c.Name == "night-shift" {
			row = i
		}
	}
	h.act(func() { v.chanTable.pick(row) })
	if v.mPass.Text != "" || v.mUser.Text != "bulwark" || v.mPort.Text != "2525" {
		t.Fatalf("loaded: user %q port %q password %q", v.mUser.Text, v.mPort.Text, v.mPass.Text)
	}
	n := len(h.mutations())
	h.act(func() {
		v.mTo.SetText("ops@example.test")
		v.saveChannel()
	})
	if c, _ := h.app.Channel("night-shift"); len(h.mutations()) != n+1 || !c.Email.PasswordSet || c.Email.Password != "" || len(c.Email.To) != 1 {
		t.Fatalf("saved with the password field empty: %d mutations, %+v", len(h.mutations())-n, c.Email)
	}
	// Without TLS a kept password would be sent in clear: refused before anything is sent.
	h.act(func() {
		v.mSec.SetSelected(securityChoice(source.SecurityNone))
		v.saveChannel()
	})
	if got := v.chErrs.text("smtp.password"); !strings.Contains(got, "never sent without TLS") || len(h.mutations()) != n+1 {
		t.Fatalf("kept password over plain text: %q", got)
	}
	h.act(func() { v.mSec.SetSelected(securityChoice(source.SecuritySTARTTLS)) })
	h.act(func() {
		v.mPass.SetText("hunter3")
		v.saveChannel()
	})
	if c, _ := h.app.Channel("night-shift"); c.Email.Password != "hunter3" || len(c.Email.To) != 1 {
		t.Fatalf("stored %+v", c.Email)
	}
}

// Webhook, syslog and console channels: each type's own fields and checks.
func TestWebhookSyslogAndConsoleChannels(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Alerts").(*alertsScreen)
	h.act(func() {
		v.newChannel()
		v.chType.SetSelected("webhook")
		v.chName.SetText("hook")
		v.whURL.SetText("ftp://x")
		v.whSign.SetChecked(true)
		v.whRetries.SetText("11")
		v.whTimeout.SetText("2h")
		v.saveChannel()
	})
	wantFieldErrors(t, v.chErrs, map[string]string{"webhook.url": "not an http(s) URL", "webhook.secret": "type the secret",
		"webhook.retries": "from 1 to 10", "webhook.timeout": "from 100ms to 1m"})
	h.act(func() {
		v.whURL.SetText("https://hooks.example.test/x")
		v.whSecret.SetText("s3cret")
		v.whRetries.SetText("2")
		v.whTimeout.SetText("3s")
		v.saveChannel()
	})
	want := source.Channel{Name: "hook", Type: "webhook", Target: "https://hooks.example.test/x",
		Webhook: &source.WebhookSettings{URL: "https://hooks.example.test/x", Secret: "s3cret", Timeout: 3 * time.Second, Retries: 2}}
	if got := h.lastCall("SaveChannel").Args[0].(source.Channel); !reflect.DeepEqual(got, want) {
		t.Fatalf("saved\n got %+v %+v\nwant %+v", got, got.Webhook, want.Webhook)
	}

	h.act(func() {
		v.newChannel()
		v.chType.SetSelected("syslog")
		v.chName.SetText("siem")
		v.slNet.SetSelected("tcp")
		v.slHost.SetText("")
		v.slPort.SetText("70000")
		v.slFacility.SetText("24")
		v.slApp.SetText("bul wark")
		v.saveChannel()
	})
	wantFieldErrors(t, v.chErrs, map[string]string{"syslog.addr": "host name", "syslog.port": "from 1 to 65535",
		"syslog.facility": "from 1 to 23", "syslog.app_name": "no spaces"})
	h.act(func() {
		v.slHost.SetText("127.0.0.1")
		v.slPort.SetText("1514")
		v.slFacility.SetText("10")
		v.slApp.SetText("bulwark")
		v.saveChannel()
	})
	if got := h.lastCall("SaveChannel").Args[0].(source.Channel); got.Syslog == nil ||
		*got.Syslog != (source.SyslogSettings{Network: "tcp", Host: "127.0.0.1", Port: 1514, Facility: 10, AppName: "bulwark"}) {
		t.Fatalf("saved %+v", got)
	}
	// The appliance's refusal of an address lands beside the server field.
	h.app.Refuse("SaveChannel", &source.FieldError{Field: "syslog.addr", Message: `"x" is not host:port`})
	h.act(v.saveChannel)
	if got := v.chErrs.text("syslog.addr"); !strings.Contains(got, "host:port") {
		t.Fatalf("appliance refusal: %q / %q", got, v.chMsg.Text)
	}

	h.act(func() {
		v.newChannel()
		v.chType.SetSelected("console")
		v.chName.SetText("desk")
		v.saveChannel()
	})
	if got := h.lastCall("SaveChannel").Args[0].(source.Channel); got.Type != "console" || got.Webhook != nil || got.Email != nil || got.Syslog != nil {
		t.Fatalf("console channel %+v", got)
	}

	// Delete: an unused channel goes; one a rule uses stays, and the editor says which rule.
	h.act(func() { test.Tap(v.delChBtn) })
	if _, ok := h.app.Channel("desk"); ok || !strings.Contains(v.chMsg.Text, "desk deleted") || !v.delChBtn.Disabled() {
		t.Fatalf("delete desk: %q", v.chMsg.Text)
	}
	for i, c := range v.channels {
		if c.Name == "ops-mail" {
			h.act(func() { v.chanTable.pick(i) })
		}
	}
	h.act(func() { test.Tap(v.delChBtn) })
	if _, ok := h.app.Channel("ops-mail"); !ok || !strings.Contains(v.chErrs.text("name"), "used by rules [probe spike sandbox crash]") {
		t.Fatalf("delete a used channel: %q / %q", v.chErrs.text("name"), v.chMsg.Text)
	}
}

// The scripted steps the end-to-end test drives the real window with fill the same editor
// an operator does, and refuse what an operator could not do.
func TestScriptedStepsCreateAChannelAndRule(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	steps := []string{
		"screen Alerts", "tab Channels", "tap Channel/New channel",
		"set Channel/Name=relay", "set Channel/Type=email", "set Channel/Server=127.0.0.1", "set Channel/Port=2525",
		"set Channel/Security=none (trusted local relay)", "set Channel/From=bulwark@example.test", "set Channel/To=ops@example.test",
		"tap Channel/Save channel", "tap Channel/Send test",
		"tab Rules", "tap Rule/New rule", "set Rule/Name=env probe", "set Rule/Type=any", "set Rule/Event kind=probe",
		"set Rule/Min severity=info", "set Rule/Channels=relay", "tap Rule/Save rule",
	}
	for _, st := range steps {
		var err error
		h.act(func() { err = h.c.Do(st) })
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	ch := h.lastCall("SaveChannel").Args[0].(source.Channel)
	if ch.Email == nil || ch.Email.Port != 2525 || ch.Email.Security != source.SecurityNone || ch.Email.To[0] != "ops@example.test" {
		t.Fatalf("channel %+v %+v", ch, ch.Email)
	}
	if c := h.lastCall("TestChannel"); c.Args[0] != "relay" {
		t.Fatalf("test %+v", c)
	}
	if r := h.lastCall("SaveAlertRule").Args[0].(source.AlertRule); r.Type != source.RuleAny || r.Kind != event.Probe || r.Channels[0] != "relay" {
		t.Fatalf("rule %+v", r)
	}
	for step, want := range map[string]string{
		"set Rule/Factor=3":          `no field "Factor"`, // the spike form is hidden for an any rule
		"set Rule/Type=sometimes":    "not a choice",
		"tap Rule/Launch":            `no button "Launch"`,
		"set Channel/Name=x":         `no card "Channel"`, // on another tab
		"dance":                      "unknown step",
		"set Rule/Name":              "CARD/LABEL=VALUE",
		"screen Nowhere":             "no screen",
		"set Rule/Min severity=warn": "not a choice",
	} {
		var err error
		h.act(func() { err = h.c.Do(step) })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", step, err, want)
		}
	}
}

// Implicit TLS (port 465): choosing it moves the default port along, the channel saves as
// source.SecurityTLS with its password (TLS protects it), and it loads back as TLS.
func TestEmailChannelOverImplicitTLS(t *testing.T) {
	h, v := newEmailChannel(t)
	if v.mPort.Text != "587" || v.mSec.Selected != "STARTTLS" {
		t.Fatalf("a new e-mail channel: port %q security %q", v.mPort.Text, v.mSec.Selected)
	}
	h.act(func() { v.mSec.SetSelected("TLS (implicit, port 465)") })
	if v.mPort.Text != "465" {
		t.Fatalf("implicit TLS left port %q", v.mPort.Text)
	}
	h.act(func() { v.mSec.SetSelected(securityChoice(source.SecuritySTARTTLS)) })
	if v.mPort.Text != "587" {
		t.Fatalf("back to STARTTLS: port %q", v.mPort.Text)
	}
	// A port the operator typed is theirs: switching security leaves it alone.
	h.act(func() {
		v.mPort.SetText("2465")
		v.mSec.SetSelected(securityChoice(source.SecurityTLS))
	})
	if v.mPort.Text != "2465" {
		t.Fatalf("a typed port was replaced by %q", v.mPort.Text)
	}
	h.act(func() {
		v.mPort.SetText("465")
		v.chName.SetText("smtps")
		v.mHost.SetText("smtp.example.test")
		v.mUser.SetText("bulwark")
		v.mPass.SetText("hunter2")
		v.mFrom.SetText("bulwark@example.test")
		v.mTo.SetText("ops@example.test")
		test.Tap(widgetByText(t, v.content, "Save channel"))
	})
	if msg := v.chErrs.text("smtp.password"); msg != "" {
		t.Fatalf("a password over implicit TLS was refused: %q", msg)
	}
	want := source.Channel{Name: "smtps", Type: "email", Target: "ops@example.test",
		Email: &source.EmailSettings{Host: "smtp.example.test", Port: 465, Security: source.SecurityTLS, Username: "bulwark",
			Password: "hunter2", From: "bulwark@example.test", To: []string{"ops@example.test"}}}
	if got := h.lastCall("SaveChannel").Args[0].(source.Channel); !reflect.DeepEqual(got, want) {
		t.Fatalf("saved\n got %+v %+v\nwant %+v %+v", got, got.Email, want, want.Email)
	}
	if c, ok := h.app.Channel("smtps"); !ok || c.Email.Security != source.SecurityTLS {
		t.Fatalf("the fake stored %+v", c)
	}
	// Loaded back from the listing: TLS is selected and the port is untouched.
	h.act(func() { v.newChannel() })
	for i, c := range v.channels {
		if c.Name == "smtps" {
			h.act(func() { v.chanTable.pick(i) })
		}
	}
	if v.mSec.Selected != "TLS (implicit, port 465)" || v.mPort.Text != "465" || !strings.Contains(v.mPass.PlaceHolder, "stored") {
		t.Fatalf("loaded: security %q port %q password placeholder %q", v.mSec.Selected, v.mPort.Text, v.mPass.PlaceHolder)
	}
	h.act(func() { test.Tap(v.testBtn) })
	if c := h.lastCall("TestChannel"); c.Args[0] != "smtps" || !strings.Contains(v.chMsg.Text, "delivered to smtps") {
		t.Fatalf("test: %+v %q", c, v.chMsg.Text)
	}
	// The appliance's word on the TLS mode lands beside Security.
	if !v.chErrs.set("smtp.tls", "must be starttls or implicit") || !strings.Contains(v.chErrs.text("smtp.tls"), "implicit") {
		t.Fatal("no place beside Security for an smtp.tls error")
	}
	// The scripted steps reach the choice by its label.
	steps := []string{"tap Channel/New channel", "set Channel/Name=relay465", "set Channel/Type=email", "set Channel/Server=127.0.0.1",
		"set Channel/Security=TLS (implicit, port 465)", "set Channel/From=bulwark@example.test", "set Channel/To=ops@example.test",
		"tap Channel/Save channel"}
	for _, st := range steps {
		var err error
		h.act(func() { err = h.c.Do(st) })
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	if ch := h.lastCall("SaveChannel").Args[0].(source.Channel); ch.Name != "relay465" || ch.Email.Security != source.SecurityTLS || ch.Email.Port != 465 {
		t.Fatalf("scripted channel %+v %+v", ch, ch.Email)
	}
}

// wantFieldErrors checks that each field's message under the form contains the wanted text.
func wantFieldErrors(t *testing.T, fe *fieldErrors, want map[string]string) {
	t.Helper()
	for field, w := range want {
		if got := fe.text(field); !strings.Contains(got, w) {
			t.Errorf("%s: message %q, want %q", field, got, w)
		}
	}
}

// newEmailChannel opens a connected console's Alerts, Channels, New channel, type e-mail.
func newEmailChannel(t *testing.T) (*harness, *alertsScreen) {
	t.Helper()
	h := newHarness(t, Options{})
	h.connected()
	v := h.view("Alerts").(*alertsScreen)
	h.act(func() {
		v.showTab("Channels")
		test.Tap(widgetByText(t, v.content, "New channel"))
		v.chType.SetSelected("email")
	})
	return h, v
}
