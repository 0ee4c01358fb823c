package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
	"bulwark/core/alerts/mailtest"
	"bulwark/core/event"
	"bulwark/core/pki"
	"bulwark/ui/source"
)

func channelByName(t *testing.T, r *remote, name string) source.Channel {
	t.Helper()
	cs, err := r.Channels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no channel %q in %+v", name, cs)
	return source.Channel{}
}

// The console's adapter (remote.go) against one real `bulwark serve`: alert channels, alert
// rules and event totals.
func TestAdapterAgainstRealAppliance(t *testing.T) {
	bulwark, _ := build(t)
	data, public := serve(t, bulwark)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c, err := adminclient.Open(filepath.Join(data, "admin.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, st := range []struct {
		name string
		f    func(*testing.T, context.Context, *adminclient.Client, *remote, string, string)
	}{{"channels", testChannels}, {"rules", testRulesRoundTrip}, {"events total", testEventsTotal},
		{"mail over implicit TLS", testMailImplicitTLS}} {
		t.Run(st.name, func(t *testing.T) { st.f(t, ctx, c, newRemote(c), data, public) })
	}
}

// Against a real `bulwark serve`: every channel type the console writes is accepted, reads
// back the same (secrets only as "stored"), and "send test" reaches a real receiver on
// loopback: a mail server with STARTTLS and authentication, a webhook that checks the
// signature header, a syslog socket. A value the appliance refuses comes back naming its
// field.
func testChannels(t *testing.T, ctx context.Context, c *adminclient.Client, r *remote, data, public string) {

	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb := mailtest.Start(t, mailtest.Options{CA: ca, User: "alerts", Pass: "s3cret"})
	host, port := hostPort(mb.Addr)
	mail := source.Channel{Name: "ops-mail", Type: source.ChannelEmail, Email: &source.EmailSettings{Host: host, Port: port,
		Security: source.SecuritySTARTTLS, Username: "alerts", Password: "s3cret", From: "bulwark@example.test",
		To: []string{"ops@example.test", "oncall@example.test"}, CACert: string(ca.CertPEM)}}
	if err := r.SaveChannel(ctx, mail); err != nil {
		t.Fatal(err)
	}
	got := channelByName(t, r, "ops-mail")
	want := *mail.Email
	want.Password, want.PasswordSet = "", true
	if got.Type != source.ChannelEmail || got.Email == nil || !reflect.DeepEqual(*got.Email, want) {
		t.Fatalf("read back %+v\n%+v\nwant %+v", got, got.Email, want)
	}
	if err := r.TestChannel(ctx, "ops-mail"); err != nil {
		t.Fatal(err)
	}
	if m := mb.Wait(t, 10*time.Second); !strings.Contains(m, "test alert") || !strings.Contains(m, "To: ops@example.test, oncall@example.test") {
		t.Fatalf("mail:\n%s", m)
	}
	// Saving it again as listed (password empty, marked stored) keeps the stored password:
	// the test mail still authenticates.
	again := got
	again.Email.To = []string{"ops@example.test"}
	if err := r.SaveChannel(ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := r.TestChannel(ctx, "ops-mail"); err != nil {
		t.Fatalf("after editing without retyping the password: %v", err)
	}
	if m := mb.Wait(t, 10*time.Second); strings.Contains(m, "oncall@example.test") {
		t.Fatalf("the edit was not applied:\n%s", m)
	}

	// A wrong password: the test says why delivery failed.
	again.Email.Password = "wrong"
	if err := r.SaveChannel(ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := r.TestChannel(ctx, "ops-mail"); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("wrong password: %v", err)
	}

	// Webhook with a secret: the post carries the signature.
	sig := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		sig <- req.Header.Get("X-Bulwark-Signature")
	}))
	defer hook.Close()
	wh := source.Channel{Name: "hook", Type: source.ChannelWebhook, Webhook: &source.WebhookSettings{URL: hook.URL + "/x", Secret: "k", Timeout: 2 * time.Second, Retries: 1}}
	if err := r.SaveChannel(ctx, wh); err != nil {
		t.Fatal(err)
	}
	if g := channelByName(t, r, "hook"); g.Webhook == nil || !g.Webhook.SecretSet || g.Webhook.Secret != "" || g.Webhook.Timeout != 2*time.Second || g.Webhook.URL != hook.URL+"/x" {
		t.Fatalf("webhook read back %+v", g.Webhook)
	}
	if err := r.TestChannel(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	if s := <-sig; !strings.HasPrefix(s, "sha256=") {
		t.Fatalf("signature header %q", s)
	}

	// Syslog over UDP.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	shost, sport := hostPort(pc.LocalAddr().String())
	sl := source.Channel{Name: "siem", Type: source.ChannelSyslog, Syslog: &source.SyslogSettings{Network: "udp", Host: shost, Port: sport, Facility: 10, AppName: "bulwark-test"}}
	if err := r.SaveChannel(ctx, sl); err != nil {
		t.Fatal(err)
	}
	if g := channelByName(t, r, "siem"); g.Syslog == nil || *g.Syslog != *sl.Syslog {
		t.Fatalf("syslog read back %+v", g.Syslog)
	}
	if err := r.TestChannel(ctx, "siem"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "bulwark-test") || !strings.HasPrefix(string(buf[:n]), "<"+strconv.Itoa(10*8+6)+">1 ") {
		t.Fatalf("syslog datagram %q %v", buf[:n], err)
	}

	if err := r.SaveChannel(ctx, source.Channel{Name: "desk", Type: source.ChannelConsole}); err != nil {
		t.Fatal(err)
	}
	if g := channelByName(t, r, "desk"); g.Type != source.ChannelConsole {
		t.Fatalf("console channel %+v", g)
	}

	if err := r.DeleteChannel(ctx, "siem"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := r.Channels(ctx); len(cs) != 3 {
		t.Fatalf("after deleting siem: %+v", cs)
	}

	// The appliance's own check, mapped to the field: a syslog collector without a host.
	bad := source.Channel{Name: "siem2", Type: source.ChannelSyslog, Syslog: &source.SyslogSettings{Network: "udp", Port: 514}}
	var fe *source.FieldError
	if err := r.SaveChannel(ctx, bad); !errors.As(err, &fe) || fe.Field != "syslog.addr" {
		t.Fatalf("refusal: %v", err)
	}
}

// Against a real appliance: threshold, spike and any rules written by the console read back
// unchanged; fields the console does not edit (match.app, a "0s" quiet time) survive its
// save; a refused value names its field.
func testRulesRoundTrip(t *testing.T, ctx context.Context, c *adminclient.Client, r *remote, data, public string) {
	if err := r.SaveChannel(ctx, source.Channel{Name: "desk", Type: source.ChannelConsole}); err != nil {
		t.Fatal(err)
	}
	rules := []source.AlertRule{
		{Name: "sqli burst", Type: source.RuleThreshold, Kind: event.SQLi, MinSeverity: event.High, Threshold: 10, Window: time.Minute,
			GroupBy: "ip", Suppress: 15 * time.Minute, Channels: []string{"desk"}, Enabled: true},
		{Name: "probe spike", Type: source.RuleSpike, Kind: event.Probe, MinSeverity: event.Low, Factor: 2.5, MinCount: 20,
			Window: 10 * time.Minute, Channels: []string{"desk"}, Enabled: false},
		{Name: "admin auth", Type: source.RuleAny, Kind: event.AdminAuth, MinSeverity: event.Info, GroupBy: "app", Channels: []string{"desk"}, Enabled: true},
	}
	for _, x := range rules {
		if err := r.SaveAlertRule(ctx, x); err != nil {
			t.Fatalf("%s: %v", x.Name, err)
		}
	}
	got, err := r.AlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]source.AlertRule{}
	for _, x := range got {
		byName[x.Name] = x
	}
	for _, want := range rules {
		g := byName[want.Name]
		if g.ID == "" {
			t.Errorf("%s: no id", want.Name)
		}
		g.ID = ""
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s read back\n got %+v\nwant %+v", want.Name, g, want)
		}
	}
	// Renaming keeps the rule (same id), no copy under the old name.
	ren := byName["admin auth"]
	ren.Name = "admin logins"
	if err := r.SaveAlertRule(ctx, ren); err != nil {
		t.Fatal(err)
	}
	if raw, err := c.Rules(ctx); err != nil || len(raw) != 3 {
		t.Fatalf("rules after renaming: %+v %v", raw, err)
	} else {
		for _, x := range raw {
			if x.Name == "admin auth" || (x.Name == "admin logins" && x.ID != ren.ID) {
				t.Fatalf("rename made a copy: %+v", raw)
			}
		}
	}
	// Edit the spike rule into a threshold rule: the spike fields go.
	edit := byName["probe spike"]
	edit.Type, edit.Threshold, edit.Window, edit.Factor, edit.MinCount = source.RuleThreshold, 50, 5*time.Minute, 0, 0
	if err := r.SaveAlertRule(ctx, edit); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, x := range raw {
		if x.Name == "probe spike" {
			n++
			if x.Type != adminapi.RuleThreshold || x.Factor != 0 || x.MinCount != 0 || x.Threshold != 50 {
				t.Fatalf("edited rule on the appliance: %+v", x)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d rules named probe spike after editing (the edit made a copy?)", n)
	}

	// A rule made elsewhere with fields the console does not show.
	if _, err := c.PutRule(ctx, adminapi.Rule{Name: "shop logins", Type: adminapi.RuleThreshold, Threshold: 5, Window: "1m",
		Match: adminapi.Match{Kind: "login_failed", App: "shop", Action: "logged"}, Suppress: "0s", Severity: "critical", Channels: []string{"desk"}}); err != nil {
		t.Fatal(err)
	}
	got, err = r.AlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range got {
		if x.Name == "shop logins" {
			x.Threshold = 6
			if err := r.SaveAlertRule(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, _ = c.Rules(ctx)
	for _, x := range raw {
		if x.Name == "shop logins" && (x.Threshold != 6 || x.Match.App != "shop" || x.Match.Action != "logged" || x.Suppress != "0s" || x.Severity != "critical") {
			t.Fatalf("fields the console does not edit were lost: %+v", x)
		}
	}

	var fe *source.FieldError
	if err := r.DeleteChannel(ctx, "desk"); !errors.As(err, &fe) || fe.Field != "name" || !strings.Contains(fe.Message, "used by rules") {
		t.Fatalf("deleting a channel rules use: %v", err)
	}
	bad := source.AlertRule{Name: "too fast", Type: source.RuleSpike, Factor: 3, Window: 90 * time.Second, Channels: []string{"desk"}, Enabled: true}
	if err := r.SaveAlertRule(ctx, bad); !errors.As(err, &fe) || fe.Field != "window" {
		t.Fatalf("refusal: %v", err)
	}
}

// Against a real appliance: an e-mail channel the console saves with "TLS (implicit, port
// 465)" is stored as implicit TLS, reads back as such, and "send test" delivers over TLS
// from the first byte with authentication; a server with a certificate from another CA, and
// a plain-text server, are refused with the reason, and neither gets the mail.
func testMailImplicitTLS(t *testing.T, ctx context.Context, c *adminclient.Client, r *remote, data, public string) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb := mailtest.Start(t, mailtest.Options{CA: ca, Implicit: true, User: "alerts", Pass: "s3cret"})
	host, port := hostPort(mb.Addr)
	mail := source.Channel{Name: "smtps-mail", Type: source.ChannelEmail, Email: &source.EmailSettings{Host: host, Port: port,
		Security: source.SecurityTLS, Username: "alerts", Password: "s3cret", From: "bulwark@example.test",
		To: []string{"ops@example.test"}, CACert: string(ca.CertPEM)}}
	if err := r.SaveChannel(ctx, mail); err != nil {
		t.Fatal(err)
	}
	got := channelByName(t, r, "smtps-mail")
	want := *mail.Email
	want.Password, want.PasswordSet = "", true
	if got.Email == nil || !reflect.DeepEqual(*got.Email, want) {
		t.Fatalf("read back %+v\nwant %+v", got.Email, want)
	}
	// What the appliance stored, through the admin API itself.
	cs, err := c.Channels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range cs {
		if ch.Name == "smtps-mail" && (ch.SMTP == nil || ch.SMTP.TLS != adminapi.SMTPImplicitTLS || ch.SMTP.Insecure) {
			t.Fatalf("stored %+v", ch.SMTP)
		}
	}
	if err := r.TestChannel(ctx, "smtps-mail"); err != nil {
		t.Fatal(err)
	}
	if m := mb.Wait(t, 10*time.Second); !strings.Contains(m, "test alert") || !strings.Contains(m, "To: ops@example.test") {
		t.Fatalf("mail:\n%s", m)
	}

	// A certificate from another CA: refused, nothing delivered.
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged := mailtest.Start(t, mailtest.Options{CA: other, Implicit: true, User: "alerts", Pass: "s3cret"})
	fhost, fport := hostPort(forged.Addr)
	mail.Name, mail.Email.Host, mail.Email.Port = "smtps-forged", fhost, fport
	if err := r.SaveChannel(ctx, mail); err != nil {
		t.Fatal(err)
	}
	if err := r.TestChannel(ctx, "smtps-forged"); err == nil || !strings.Contains(err.Error(), "implicit TLS") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server with another CA's certificate: %v", err)
	}

	// A plain-text relay behind an implicit-TLS channel: a prompt, clear failure.
	plain := mailtest.Start(t, mailtest.Options{})
	phost, pport := hostPort(plain.Addr)
	mail.Name, mail.Email.Host, mail.Email.Port, mail.Email.Username, mail.Email.Password = "smtps-plain", phost, pport, "", ""
	if err := r.SaveChannel(ctx, mail); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.TestChannel(ctx, "smtps-plain"); err == nil || !strings.Contains(err.Error(), "plain text") {
		t.Fatalf("plain-text server on an implicit-TLS channel: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the failure took %s (channel timeout 10s)", d)
	}
	if len(forged.Got) != 0 || len(plain.Got) != 0 {
		t.Fatal("an untrusted or plain-text server got the mail")
	}

	// The appliance refuses implicit TLS mixed with insecure, naming the field.
	var re *adminclient.RequestError
	err = c.PutChannel(ctx, adminapi.Channel{Name: "mixed", Type: adminapi.ChannelSMTP, SMTP: &adminapi.SMTPConfig{Addr: mb.Addr,
		From: "bulwark@example.test", To: []string{"ops@example.test"}, TLS: adminapi.SMTPImplicitTLS, Insecure: true}})
	if !errors.As(err, &re) || re.Field != "smtp.insecure" {
		t.Fatalf("implicit TLS with insecure: %v", err)
	}
	// A security the console does not know never reaches the appliance as something else.
	mail.Name, mail.Email.Security = "smtps-odd", "ssl"
	var fe *source.FieldError
	if err := r.SaveChannel(ctx, mail); !errors.As(err, &fe) || fe.Field != "smtp.tls" {
		t.Fatalf("unknown security: %v", err)
	}
	for _, ch := range []string{"smtps-odd", "mixed"} {
		if cs, _ := c.Channels(ctx); slices.ContainsFunc(cs, func(x adminapi.Channel) bool { return x.Name == ch }) {
			t.Fatalf("refused channel %s was stored", ch)
		}
	}
}
