package alerts

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/alerts/mailtest"
	"bulwark/core/event"
	"bulwark/core/pki"
	"bulwark/db"
)

// ---- receivers on loopback ----

type webhookRx struct {
	mu     sync.Mutex
	bodies [][]byte
	got    chan time.Time
	fail   atomic.Int32 // answer 500 this many times first
	secret string
	badSig atomic.Int32
}

func newWebhook(t *testing.T, secret string) (*webhookRx, *httptest.Server) {
	rx := &webhookRx{got: make(chan time.Time, 100), secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rx.fail.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
		m := hmac.New(sha256.New, []byte(rx.secret))
		m.Write(b)
		if r.Header.Get(SignatureHeader) != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			rx.badSig.Add(1)
		}
		rx.mu.Lock()
		rx.bodies = append(rx.bodies, b)
		rx.mu.Unlock()
		rx.got <- time.Now()
	}))
	t.Cleanup(srv.Close)
	return rx, srv
}

// newSMTP serves SMTP on 127.0.0.1 with STARTTLS (a certificate from ca) and AUTH PLAIN as
// alerts/s3cret only inside TLS.
func newSMTP(t *testing.T, ca *pki.CA) (*mailtest.Server, string) {
	s := mailtest.Start(t, mailtest.Options{CA: ca, User: "alerts", Pass: "s3cret", Buffer: 100})
	return s, s.Addr
}

func newSyslogUDP(t *testing.T) (chan string, string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return got, pc.LocalAddr().String()
}

func newSyslogTCP(t *testing.T) (chan string, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					ls, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSpace(ls))
					if err != nil {
						got <- "BAD FRAMING: " + ls
						return
					}
					msg := make([]byte, n)
					if _, err := io.ReadFull(br, msg); err != nil {
						return
					}
					got <- string(msg)
				}
			}(c)
		}
	}()
	return got, ln.Addr().String()
}

// ---- engine harness ----

func newEngine(t *testing.T) (*Engine, *event.Bus, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus()
	e, err := New(context.Background(), Options{Store: DBStore{DB: store}, Sink: bus, Hostname: "test-appliance",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.Start(ctx, bus.Subscribe("alerts", 1<<14))
	t.Cleanup(func() { cancel(); e.Wait() })
	return e, bus, ca
}

func within(t *testing.T, what string, start time.Time, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s arrived after %s (> 5s)", what, d)
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing within 5s", what)
	}
	return ""
}

func nothing(t *testing.T, what string, ch <-chan string) {
	t.Helper()
	select {
	case s := <-ch:
		t.Errorf("%s: unexpected second delivery %q", what, s)
	default:
	}
}

func TestFailedLoginRuleReachesEveryChannelOnce(t *testing.T) {
	e, bus, ca := newEngine(t)
	wh, whSrv := newWebhook(t, "hook-secret")
	mail, mailAddr := newSMTP(t, ca)
	udp, udpAddr := newSyslogUDP(t)
	tcp, tcpAddr := newSyslogTCP(t)
	alertsOnBus := bus.Subscribe("console", 100)

	for _, ch := range []adminapi.Channel{
		{Name: "hook", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: whSrv.URL, Secret: "hook-secret", Timeout: "2s"}},
		{Name: "mail", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: mailAddr, From: "bulwark@example.test", To: []string{"soc@example.test"},
			Username: "alerts", Password: "s3cret", CACert: string(ca.CertPEM)}},
		{Name: "syslog-udp", Type: "syslog", Syslog: &adminapi.SyslogConfig{Network: "udp", Addr: udpAddr}},
		{Name: "syslog-tcp", Type: "syslog", Syslog: &adminapi.SyslogConfig{Network: "tcp", Addr: tcpAddr}},
		{Name: "console", Type: "console"},
	} {
		if err := e.PutChannel(ch); err != nil {
			t.Fatalf("channel %s: %v", ch.Name, err)
		}
	}
	rule, err := e.PutRule(adminapi.Rule{Name: "credential guessing", Type: "threshold", Match: adminapi.Match{Kind: "login_failed"},
		Threshold: 5, Window: "1m", GroupBy: "ip", Suppress: "10m", Severity: "high",
		Channels: []string{"hook", "mail", "syslog-udp", "syslog-tcp", "console"}})
	if err != nil {
		t.Fatal(err)
	}
	login := func(ip string) {
		bus.Emit(event.Event{Kind: event.LoginFailed, Severity: event.Low, Action: event.Logged, IP: ip, App: "shop", Path: "/login"})
	}
	for i := 0; i < 4; i++ {
		login("198.51.100.9")
		login("203.0.113.5") // another attacker, below the threshold
	}
	time.Sleep(300 * time.Millisecond)
	if h := e.History(10); len(h) != 0 {
		t.Fatalf("fired below the threshold: %+v", h)
	}
	start := time.Now()
	login("198.51.100.9") // the fifth: crosses

	hookCh := make(chan string, 10)
	go func() {
		for range wh.got {
			hookCh <- "post"
		}
	}()
	within(t, "webhook", start, hookCh)
	msg := within(t, "smtp", start, mail.Got)
	if !strings.Contains(msg, "Subject: [bulwark high] credential guessing") || !strings.Contains(msg, "198.51.100.9") {
		t.Errorf("mail: %q", msg)
	}
	u := within(t, "syslog udp", start, udp)
	if !strings.HasPrefix(u, "<35>1 ") || !strings.Contains(u, `rule="`+rule.ID+`"`) || !strings.Contains(u, "test-appliance bulwark - alert") {
		t.Errorf("syslog udp: %q", u)
	}
	if tm := within(t, "syslog tcp", start, tcp); !strings.HasPrefix(tm, "<35>1 ") {
		t.Errorf("syslog tcp: %q", tm)
	}
	consoleSeen := false
	for deadline := time.After(5 * time.Second); !consoleSeen; {
		select {
		case ev := <-alertsOnBus.C:
			consoleSeen = ev.Kind == AlertKind && ev.IP == "198.51.100.9"
		case <-deadline:
			t.Fatal("console channel: no alert event on the bus within 5s")
		}
	}
	if wh.badSig.Load() != 0 {
		t.Error("webhook signature did not verify")
	}
	var p WebhookPayload
	json.Unmarshal(wh.bodies[0], &p)
	if p.Alert.RuleID != rule.ID || p.Alert.Group != "198.51.100.9" || p.Alert.Count != 5 {
		t.Errorf("webhook payload: %+v", p)
	}

	// The same attacker keeps going: suppressed, no second notification anywhere.
	for i := 0; i < 20; i++ {
		login("198.51.100.9")
	}
	time.Sleep(time.Second)
	nothing(t, "webhook", hookCh)
	nothing(t, "smtp", mail.Got)
	nothing(t, "syslog udp", udp)
	nothing(t, "syslog tcp", tcp)

	h := e.History(10)
	if len(h) != 1 {
		t.Fatalf("history: want 1 alert, got %d: %+v", len(h), h)
	}
	f := h[0]
	if f.Suppressed != 4 || f.Count != 25 || f.State != "open" || f.Group != "198.51.100.9" {
		t.Errorf("firing: %+v", f)
	}
	ok := 0
	for _, d := range f.Deliveries {
		if d.OK {
			ok++
		} else {
			t.Errorf("delivery %s failed: %s", d.Channel, d.Error)
		}
	}
	if ok != 5 {
		t.Errorf("deliveries: %+v", f.Deliveries)
	}
	if mail.Auths.Load() != 1 {
		t.Errorf("smtp auth count %d", mail.Auths.Load())
	}

	// Acknowledge, and the history survives a restart from the database.
	if _, err := e.Acknowledge(f.ID, "root", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	e2, err := New(context.Background(), Options{Store: e.opt.Store, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	h2 := e2.History(10)
	if len(h2) != 1 || h2[0].State != "acknowledged" || h2[0].AckBy != "root" || len(h2[0].Deliveries) != 5 || len(e2.Rules()) != 1 || len(e2.Channels()) != 5 {
		t.Fatalf("after reload: %+v rules=%d channels=%d", h2, len(e2.Rules()), len(e2.Channels()))
	}
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	e, bus, _ := newEngine(t)
	wh, srv := newWebhook(t, "")
	wh.fail.Store(2)
	e.PutChannel(adminapi.Channel{Name: "hook", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: srv.URL, Retries: 3}})
	if _, err := e.PutRule(adminapi.Rule{Name: "crash", Type: "any", Match: adminapi.Match{Kind: "sandbox_crash"}, Channels: []string{"hook"}}); err != nil {
		t.Fatal(err)
	}
	bus.Emit(event.Event{Kind: event.SandboxCrash, Severity: event.High, App: "shop"})
	select {
	case <-wh.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook after retries")
	}
	time.Sleep(100 * time.Millisecond)
	h := e.History(1)
	if len(h) != 1 || len(h[0].Deliveries) != 1 || !h[0].Deliveries[0].OK || h[0].Deliveries[0].Attempts != 3 {
		t.Fatalf("history: %+v", h)
	}
}

func TestSpikeRule(t *testing.T) {
	e, _, _ := newEngine(t)
	e.PutChannel(adminapi.Channel{Name: "console", Type: "console"})
	if _, err := e.PutRule(adminapi.Rule{Name: "flood", Type: "spike", Match: adminapi.Match{Kind: "rate_limit"}, Window: "1m", Factor: 3, MinCount: 5, Channels: []string{"console"}}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	// An hour at 2 per minute is normal.
	for m := 0; m < 60; m++ {
		for i := 0; i < 2; i++ {
			e.Observe(event.Event{Kind: event.RateLimit, TS: base.Add(time.Duration(m)*time.Minute + time.Duration(i)*time.Second)})
		}
	}
	if len(e.History(5)) != 0 {
		t.Fatal("steady rate fired")
	}
	// Then 6 in one minute: 3x the usual is 6.
	for i := 0; i < 6; i++ {
		e.Observe(event.Event{Kind: event.RateLimit, TS: base.Add(60*time.Minute + time.Duration(i)*time.Second)})
	}
	if h := e.History(5); len(h) != 1 || h[0].Count != 6 {
		t.Fatalf("spike: %+v", h)
	}
}

func TestRuleAndChannelValidation(t *testing.T) {
	e, _, _ := newEngine(t)
	e.PutChannel(adminapi.Channel{Name: "c", Type: "console"})
	for _, tc := range []struct {
		r     adminapi.Rule
		field string
	}{
		{adminapi.Rule{Name: "x", Type: "threshold", Threshold: 5, Window: "five minutes", Channels: []string{"c"}}, "window"},
		{adminapi.Rule{Name: "x", Type: "threshold", Threshold: 0, Window: "1m", Channels: []string{"c"}}, "threshold"},
		{adminapi.Rule{Name: "x", Type: "any", Match: adminapi.Match{IP: "10.0.0.0/40"}, Channels: []string{"c"}}, "match.ip"},
		{adminapi.Rule{Name: "x", Type: "any", Suppress: "-1m", Channels: []string{"c"}}, "suppress"},
		{adminapi.Rule{Name: "x", Type: "any", Channels: []string{"nope"}}, "channels"},
		{adminapi.Rule{Name: "x", Type: "sometimes", Channels: []string{"c"}}, "type"},
		{adminapi.Rule{Name: "x", Type: "spike", Factor: 0.5, Channels: []string{"c"}}, "factor"},
		{adminapi.Rule{Name: "x", Type: "any", GroupBy: "country", Channels: []string{"c"}}, "group_by"},
	} {
		_, err := e.PutRule(tc.r)
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("%+v: want error on %s, got %v", tc.r, tc.field, err)
		}
	}
	for _, tc := range []struct {
		c     adminapi.Channel
		field string
	}{
		{adminapi.Channel{Name: "w", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: "ftp://x"}}, "webhook.url"},
		{adminapi.Channel{Name: "w", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: "http://x", Timeout: "soon"}}, "webhook.timeout"},
		{adminapi.Channel{Name: "m", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: "x:25", From: "a@b", To: []string{"c@d"}, Username: "u", Password: "p", Insecure: true}}, "smtp.insecure"},
		{adminapi.Channel{Name: "m", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: "x", From: "a@b", To: []string{"c@d"}}}, "smtp.addr"},
		{adminapi.Channel{Name: "s", Type: "syslog", Syslog: &adminapi.SyslogConfig{Network: "sctp", Addr: "x:514"}}, "syslog.network"},
		{adminapi.Channel{Name: "bad name", Type: "console"}, "name"},
	} {
		err := e.PutChannel(tc.c)
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("%+v: want error on %s, got %v", tc.c, tc.field, err)
		}
	}
	if len(e.Rules()) != 0 || len(e.Channels()) != 1 {
		t.Fatal("invalid input was stored")
	}
	if err := e.DeleteChannel("c"); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPRefusesWithoutSTARTTLS(t *testing.T) {
	e, _, _ := newEngine(t)
	// A plain server without STARTTLS: the alert must not be sent (nor the password).
	rx := mailtest.Start(t, mailtest.Options{User: "alerts", Pass: "s3cret", InsecureAuth: true, Buffer: 1})
	e.PutChannel(adminapi.Channel{Name: "m", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: rx.Addr, From: "a@b.test", To: []string{"c@d.test"}, Username: "alerts", Password: "s3cret"}})
	d, err := e.TestChannel(context.Background(), "m")
	if err != nil || d.OK || !strings.Contains(d.Error, "STARTTLS") || rx.Auths.Load() != 0 {
		t.Fatalf("want refusal without STARTTLS: %+v %v", d, err)
	}
}

func TestSyslogOverTLS(t *testing.T) {
	e, _, ca := newEngine(t)
	certPEM, keyPEM, _ := ca.Issue(pki.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				ls, err := br.ReadString(' ')
				if err != nil {
					return
				}
				n, _ := strconv.Atoi(strings.TrimSpace(ls))
				msg := make([]byte, n)
				io.ReadFull(br, msg)
				got <- string(msg)
			}()
		}
	}()
	if err := e.PutChannel(adminapi.Channel{Name: "siem", Type: "syslog", Syslog: &adminapi.SyslogConfig{Network: "tls", Addr: ln.Addr().String(), CACert: string(ca.CertPEM), Facility: 10, AppName: "bulwark-test"}}); err != nil {
		t.Fatal(err)
	}
	d, err := e.TestChannel(context.Background(), "siem")
	if err != nil || !d.OK {
		t.Fatalf("delivery: %+v %v", d, err)
	}
	select {
	case m := <-got:
		// facility 10 (authpriv) * 8 + severity 6 (info) = 86
		if !strings.HasPrefix(m, "<86>1 ") || !strings.Contains(m, " bulwark-test - alert [bulwark@32473 ") {
			t.Fatalf("message %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received over TLS")
	}
	// A server whose certificate the channel does not trust gets nothing.
	other, _ := pki.LoadOrCreateCA(t.TempDir())
	e.PutChannel(adminapi.Channel{Name: "siem2", Type: "syslog", Syslog: &adminapi.SyslogConfig{Network: "tls", Addr: ln.Addr().String(), CACert: string(other.CertPEM)}})
	if d, _ := e.TestChannel(context.Background(), "siem2"); d.OK || !strings.Contains(d.Error, "certificate") {
		t.Fatalf("untrusted syslog server: %+v", d)
	}
}

// An operator edits a channel from a listing, where secrets show as the mask: sending the
// mask back keeps the stored secret; a mask with nothing behind it is refused, never stored.
func TestMaskedSecretKeepsTheStoredOne(t *testing.T) {
	e, _, _ := newEngine(t)
	hook := adminapi.Channel{Name: "hook", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: "https://127.0.0.1:1/h", Secret: "s3cret"}}
	mail := adminapi.Channel{Name: "mail", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: "127.0.0.1:25", From: "a@b", To: []string{"c@d"}, Username: "u", Password: "pw"}}
	for _, c := range []adminapi.Channel{hook, mail} {
		if err := e.PutChannel(c); err != nil {
			t.Fatal(err)
		}
	}
	hook.Webhook = &adminapi.WebhookConfig{URL: "https://127.0.0.1:2/h", Secret: adminapi.SecretMask}
	mail.SMTP = &adminapi.SMTPConfig{Addr: "127.0.0.1:587", From: "a@b", To: []string{"c@d"}, Username: "u", Password: adminapi.SecretMask}
	for _, c := range []adminapi.Channel{hook, mail} {
		if err := e.PutChannel(c); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]adminapi.Channel{}
	for _, c := range e.Channels() {
		got[c.Name] = c
	}
	if w := got["hook"].Webhook; w.Secret != "s3cret" || w.URL != "https://127.0.0.1:2/h" {
		t.Errorf("webhook after a masked edit: %+v", w)
	}
	if m := got["mail"].SMTP; m.Password != "pw" || m.Addr != "127.0.0.1:587" {
		t.Errorf("smtp after a masked edit: %+v", m)
	}
	for _, tc := range []struct {
		c     adminapi.Channel
		field string
	}{
		{adminapi.Channel{Name: "new", Type: "webhook", Webhook: &adminapi.WebhookConfig{URL: "https://x/", Secret: adminapi.SecretMask}}, "webhook.secret"},
		{adminapi.Channel{Name: "hook2", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: "x:25", From: "a@b", To: []string{"c@d"}, Username: "u", Password: adminapi.SecretMask}}, "smtp.password"},
	} {
		err := e.PutChannel(tc.c)
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("%s: want error on %s, got %v", tc.c.Name, tc.field, err)
		}
	}
	if len(e.Channels()) != 2 {
		t.Fatalf("a refused channel was stored: %d channels", len(e.Channels()))
	}
}
