package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
)

// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)) on webhook posts.
const SignatureHeader = "X-Bulwark-Signature"

// WebhookPayload is the JSON body of a webhook post.
type WebhookPayload struct {
	Appliance string          `json:"appliance"`
	Alert     adminapi.Firing `json:"alert"`
}

func (e *Engine) send(ctx context.Context, ch adminapi.Channel, f adminapi.Firing) (int, error) {
	switch ch.Type {
	case adminapi.ChannelWebhook:
		return e.sendWebhook(ctx, ch.Webhook, f)
	case adminapi.ChannelSMTP:
		return 1, e.sendMail(ctx, ch.SMTP, f)
	case adminapi.ChannelSyslog:
		return 1, e.sendSyslog(ctx, ch.Syslog, f)
	case adminapi.ChannelConsole:
		e.opt.Sink.Emit(event.Event{TS: f.TS, Kind: AlertKind, Severity: event.Severity(f.Severity), Action: event.Logged,
			IP: groupIP(f), Rule: f.RuleID, Detail: event.DetailJSON(f)})
		return 1, nil
	}
	return 0, fmt.Errorf("unknown channel type %q", ch.Type)
}

func groupIP(f adminapi.Firing) string {
	if net.ParseIP(f.Group) != nil {
		return f.Group
	}
	return ""
}

func pool(p string) *x509.CertPool {
	if p == "" {
		return nil // system roots
	}
	cp := x509.NewCertPool()
	cp.AppendCertsFromPEM([]byte(p))
	return cp
}

func orDefault(v string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return def
}

// sendWebhook posts the alert, retrying transport errors, 429 and 5xx with exponential
// backoff; each attempt has its own timeout.
func (e *Engine) sendWebhook(ctx context.Context, w *adminapi.WebhookConfig, f adminapi.Firing) (int, error) {
	body, _ := json.Marshal(WebhookPayload{Appliance: e.opt.Hostname, Alert: f})
	timeout := orDefault(w.Timeout, 5*time.Second)
	retries := w.Retries
	if retries == 0 {
		retries = 3
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(w.CACert), MinVersion: tls.VersionTLS12},
		Proxy:           http.ProxyFromEnvironment,
	}}
	defer hc.CloseIdleConnections()
	sig := ""
	if w.Secret != "" {
		m := hmac.New(sha256.New, []byte(w.Secret))
		m.Write(body)
		sig = "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	backoff := 200 * time.Millisecond
	var last error
	for attempt := 1; attempt <= retries+1; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", w.URL, bytes.NewReader(body))
		if err != nil {
			return attempt, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "bulwark-alerts")
		req.Header.Set("X-Bulwark-Alert-Id", strconv.FormatInt(f.ID, 10))
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return attempt, nil
			}
			last = fmt.Errorf("webhook %s answered %s", w.URL, resp.Status)
			if resp.StatusCode < 500 && resp.StatusCode != 429 {
				return attempt, last // the receiver refuses this alert: retrying will not help
			}
		} else {
			last = fmt.Errorf("webhook %s: %w", w.URL, err)
		}
		if attempt <= retries {
			select {
			case <-ctx.Done():
				return attempt, ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
	}
	return retries + 1, last
}

// sendMail submits the alert over SMTP: over implicit TLS when the channel says so,
// otherwise STARTTLS is required unless the channel says insecure; PLAIN authentication is
// used when a username is set (net/smtp sends it only over TLS, or to localhost).
func (e *Engine) sendMail(ctx context.Context, s *adminapi.SMTPConfig, f adminapi.Firing) error {
	timeout := orDefault(s.Timeout, 10*time.Second)
	host, _, _ := net.SplitHostPort(s.Addr)
	tlsConf := &tls.Config{ServerName: host, RootCAs: pool(s.CACert), MinVersion: tls.VersionTLS12}
	implicit := s.TLS == adminapi.SMTPImplicitTLS
	// The dialer's timeout bounds the TCP connect and, for implicit TLS, the handshake too:
	// a server that speaks plain text or nothing at all cannot hold the delivery longer.
	d := net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("no TLS handshake within %s (timeout; is this the server's implicit-TLS port, usually 465?)", timeout)
			}
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) {
				err = fmt.Errorf("%w (the server answered in plain text: for its STARTTLS port, usually 587, choose STARTTLS)", err)
			}
			return fmt.Errorf("smtp %s: implicit TLS: %w", s.Addr, err)
		}
	} else if conn, err = d.DialContext(ctx, "tcp", s.Addr); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	defer c.Close()
	if err := c.Hello(e.opt.Hostname); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", s.Addr, err)
	}
	// Implicit TLS is already encrypted and verified: a STARTTLS offer inside it is ignored.
	if !implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("smtp %s: STARTTLS: %w", s.Addr, err)
			}
		} else if !s.Insecure {
			return fmt.Errorf("smtp %s does not offer STARTTLS (set insecure only for a trusted local relay, or use implicit TLS if it listens for it)", s.Addr)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("smtp %s: authentication: %w", s.Addr, err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", s.Addr, err)
	}
	for _, to := range s.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", s.Addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", s.Addr, err)
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: [bulwark %s] %s\r\nDate: %s\r\nMessage-ID: <alert-%d-%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		s.From, strings.Join(s.To, ", "), f.Severity, oneLine(f.Summary), f.TS.Format(time.RFC1123Z), f.ID, f.TS.UnixNano(), e.opt.Hostname)
	fmt.Fprintf(w, "%s\r\n\r\nrule:     %s (%s)\r\ngroup:    %s\r\ncount:    %d\r\nfirst:    %s\r\nlast:     %s\r\nalert id: %d\r\nappliance: %s\r\n",
		f.Summary, f.RuleName, f.RuleID, f.Group, f.Count, f.FirstTS.Format(time.RFC3339), f.TS.Format(time.RFC3339), f.ID, e.opt.Hostname)
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message: %w", s.Addr, err)
	}
	return c.Quit()
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// syslogSeverity maps an alert severity to RFC 5424's numeric severity.
func syslogSeverity(s string) int {
	switch event.Severity(s) {
	case event.Critical:
		return 2
	case event.High:
		return 3
	case event.Medium:
		return 4
	case event.Low:
		return 5
	}
	return 6
}

// sdEscape escapes an SD-PARAM value (RFC 5424 section 6.3.3).
func sdEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(v)
}

// SyslogMessage formats an alert as one RFC 5424 message.
func SyslogMessage(facility int, host, app string, f adminapi.Firing, now time.Time) string {
	if facility == 0 {
		facility = 4 // security/authorization messages
	}
	if app == "" {
		app = "bulwark"
	}
	pri := facility*8 + syslogSeverity(f.Severity)
	sd := fmt.Sprintf(`[bulwark@32473 alert="%d" rule="%s" group="%s" count="%d" severity="%s"]`,
		f.ID, sdEscape(f.RuleID), sdEscape(f.Group), f.Count, sdEscape(f.Severity))
	return fmt.Sprintf("<%d>1 %s %s %s - alert %s %s", pri, now.UTC().Format("2006-01-02T15:04:05.000000Z"), host, app, sd, oneLine(f.Summary))
}

// sendSyslog sends one message: a datagram over UDP, octet-counted framing (RFC 6587 /
// RFC 5425) over TCP and TLS.
func (e *Engine) sendSyslog(ctx context.Context, s *adminapi.SyslogConfig, f adminapi.Firing) error {
	msg := SyslogMessage(s.Facility, e.opt.Hostname, s.AppName, f, e.now())
	d := net.Dialer{Timeout: 5 * time.Second}
	var conn net.Conn
	var err error
	switch s.Network {
	case "udp":
		conn, err = d.DialContext(ctx, "udp", s.Addr)
	case "tcp":
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	case "tls":
		host, _, _ := net.SplitHostPort(s.Addr)
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host, RootCAs: pool(s.CACert), MinVersion: tls.VersionTLS12}}
		conn, err = td.DialContext(ctx, "tcp", s.Addr)
	default:
		return fmt.Errorf("syslog: unknown network %q", s.Network)
	}
	if err != nil {
		return fmt.Errorf("syslog %s://%s: %w", s.Network, s.Addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	payload := msg
	if s.Network != "udp" {
		payload = strconv.Itoa(len(msg)) + " " + msg
	}
	if _, err := io.WriteString(conn, payload); err != nil {
		return fmt.Errorf("syslog %s://%s: %w", s.Network, s.Addr, err)
	}
	return nil
}
