package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"bulwark/core/alerts/mailtest"
	"bulwark/core/pki"
)

// notification is one org.freedesktop.Notifications.Notify call as the receiver got it.
type notification struct {
	App, Title, Body string
}

// notifier is a real notification daemon for a private session bus: it owns
// org.freedesktop.Notifications and records every Notify call.
type notifier struct {
	mu   sync.Mutex
	got  chan notification
	next uint32
}

// Notify implements org.freedesktop.Notifications.Notify (Desktop Notifications spec 1.2).
func (n *notifier) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	n.next++
	id := n.next
	n.mu.Unlock()
	n.got <- notification{App: app, Title: summary, Body: body}
	return id, nil
}

func (n *notifier) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

func (n *notifier) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "bulwark-e2e", "bulwark", "1", "1.2", nil
}

// sessionBus starts a private dbus-daemon on a socket in a temporary folder and a notifier
// on it; it returns the bus address for DBUS_SESSION_BUS_ADDRESS.
func sessionBus(t *testing.T) (string, *notifier) {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatal("dbus-daemon is missing: run make deps (packaging/devdeps.sh installs it)")
	}
	dir := t.TempDir()
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--address=unix:path="+filepath.Join(dir, "bus"), "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	var addr string
	select {
	case addr = <-line:
	case <-time.After(10 * time.Second):
	}
	if !strings.HasPrefix(addr, "unix:") {
		t.Fatalf("dbus-daemon printed no address (%q): %s", addr, stderr.String())
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifier{got: make(chan notification, 16)}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: %v %v", reply, err)
	}
	return addr, n
}

// The alert path end to end, through the real window under Xvfb: the console's channel
// editor creates an e-mail channel (STARTTLS with a private CA, authentication) on a real
// appliance and "Send test" delivers a mail to a real SMTP server on loopback (and, for a
// webhook and a syslog channel made the same way, a signed post and a datagram); its rule
// editor creates an "any" rule; an attack fires it, the appliance mails the alert, and the
// console raises a desktop notification over a private D-Bus session bus (received by a
// real org.freedesktop.Notifications owner) and shows the alert in its status bar.
func TestEndToEndAlertChannelNotificationAndBadge(t *testing.T) {
	if _, err := exec.LookPath("xvfb-run"); err != nil {
		t.Fatal("xvfb-run is missing: run make deps (packaging/devdeps.sh installs xvfb)")
	}
	bulwark, console := build(t)
	data, public := serve(t, bulwark)
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb := mailtest.Start(t, mailtest.Options{CA: ca, User: "alerts", Pass: "s3cret"})
	host, port := hostPort(mb.Addr)
	bus, notes := sessionBus(t)
	sigs := make(chan string, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		sigs <- req.Header.Get("X-Bulwark-Signature")
	}))
	defer hook.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	shost, sport := hostPort(pc.LocalAddr().String())

	pem := strings.ReplaceAll(strings.TrimSpace(string(ca.CertPEM)), "\n", `\n`)
	script := strings.Join([]string{
		"screen Alerts", "tab Channels", "tap Channel/New channel",
		"set Channel/Name=ops-mail", "set Channel/Type=email", "set Channel/Server=" + host, "set Channel/Port=" + strconv.Itoa(port),
		"set Channel/Security=STARTTLS", "set Channel/User=alerts", "set Channel/Password=s3cret",
		"set Channel/From=bulwark@example.test", "set Channel/To=ops@example.test", "set Channel/CA=" + pem,
		"tap Channel/Save channel", "until channel ops-mail saved",
		"tap Channel/Send test", "until test alert delivered to ops-mail",
		"tap Channel/New channel", "set Channel/Name=ops-hook", "set Channel/Type=webhook", "set Channel/URL=" + hook.URL + "/alerts",
		"set Channel/Sign posts (HMAC-SHA256, X-Bulwark-Signature)=true", "set Channel/Secret=k3y", "set Channel/Retries=1",
		"tap Channel/Save channel", "until channel ops-hook saved", "tap Channel/Send test", "until test alert delivered to ops-hook",
		"tap Channel/New channel", "set Channel/Name=siem", "set Channel/Type=syslog", "set Channel/Transport=udp",
		"set Channel/Server=" + shost, "set Channel/Port=" + strconv.Itoa(sport), "set Channel/App name=bulwark-e2e",
		"tap Channel/Save channel", "until channel siem saved", "tap Channel/Send test", "until test alert delivered to siem",
		"tab Rules", "tap Rule/New rule", "set Rule/Name=git-probe", "set Rule/Type=any", "set Rule/Event kind=probe",
		"set Rule/Min severity=info", "set Rule/Channels=ops-mail", "tap Rule/Save rule", "until rule git-probe saved",
		"summary", "say ready", "until badge=", "summary",
	}, "\n")
	sf := filepath.Join(t.TempDir(), "steps")
	if err := os.WriteFile(sf, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}

	run := t.TempDir()
	os.Chmod(run, 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xvfb-run", "-a", "-s", "-screen 0 1280x820x24", console,
		"--bundle", filepath.Join(data, "admin.bundle"), "--config-dir", filepath.Join(t.TempDir(), "appliances"),
		"--refresh", "1s", "--script", sf)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run, "LIBGL_ALWAYS_SOFTWARE=1", "DBUS_SESSION_BUS_ADDRESS="+bus)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	testMail := ""
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		switch line {
		case "ok until test alert delivered to ops-mail":
			testMail = mb.Wait(t, 10*time.Second)
		case "ready":
			attack(t, data, public, "/.git/HEAD")
		}
	}
	err = cmd.Wait()
	log := strings.Join(lines, "\n")
	if err != nil {
		t.Fatalf("console: %v\n%s\n%s", err, log, stderr.String())
	}
	if !strings.Contains(testMail, "Subject: [bulwark info] test alert") {
		t.Fatalf("the test mail:\n%s\nconsole:\n%s", testMail, log)
	}
	select {
	case s := <-sigs:
		if !strings.HasPrefix(s, "sha256=") {
			t.Fatalf("webhook test post signed %q", s)
		}
	default:
		t.Fatalf("Send test on the webhook channel posted nothing\n%s", log)
	}
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(time.Second))
	if n, _, err := pc.ReadFrom(buf); err != nil || !strings.Contains(string(buf[:n]), "bulwark-e2e") {
		t.Fatalf("Send test on the syslog channel: %q %v", buf[:n], err)
	}
	// The alert itself reaches the channel the console made.
	if m := mb.Wait(t, 15*time.Second); !strings.Contains(m, "git-probe") {
		t.Fatalf("alert mail:\n%s", m)
	}
	select {
	case n := <-notes.got:
		if n.App != "dev.bulwark.console" || !strings.Contains(n.Title, "git-probe") {
			t.Fatalf("notification %+v", n)
		}
		t.Logf("notification over D-Bus: %+v", n)
	case <-time.After(10 * time.Second):
		t.Fatalf("no Notify call reached the session bus\n%s\n%s", log, stderr.String())
	}
	last := lines[len(lines)-1]
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "summary ") {
			last = lines[i]
			break
		}
	}
	if !strings.Contains(last, `badge="1 new alert — git-probe`) {
		t.Fatalf("status bar badge missing: %s", last)
	}
}
