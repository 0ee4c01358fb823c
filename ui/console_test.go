package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"bulwark/core/event"
	"bulwark/ui/fake"
	"bulwark/ui/source"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	c     *Console
	app   *fake.Appliance
	conn  *fake.Connector
	store *Profiles
	dir   string

	mu    sync.Mutex
	notes []*fyne.Notification
}

func newHarness(t *testing.T, opt Options) *harness {
	t.Helper()
	a := test.NewTempApp(t)
	h := &harness{t: t, app: fake.New(testNow)}
	h.conn = fake.NewConnector(h.app)
	h.dir = t.TempDir()
	store, err := NewProfiles(filepath.Join(h.dir, "config", "bulwark-console", "appliances"))
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	if opt.Now == nil {
		opt.Now = func() time.Time { return testNow }
	}
	opt.Notify = func(n *fyne.Notification) { h.mu.Lock(); h.notes = append(h.notes, n); h.mu.Unlock() }
	h.c = New(a, h.conn, store, opt)
	h.c.win.Resize(fyne.NewSize(1280, 820))
	t.Cleanup(func() { h.c.Close(); h.c.Wait() })
	return h
}

// bundleFile writes a real bundle (fresh keys) to a file with the given mode.
func (h *harness) bundleFile(name string, notAfter time.Time, mode os.FileMode) string {
	h.t.Helper()
	b, err := fake.NewBundle(name, "127.0.0.1:9443", notAfter)
	if err != nil {
		h.t.Fatal(err)
	}
	data, _ := json.Marshal(b)
	p := filepath.Join(h.dir, name+".bundle")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// connected attaches the fake directly, as a successful import would.
func (h *harness) connected() *session {
	h.t.Helper()
	b, err := fake.NewBundle("admin", "127.0.0.1:9443", testNow.AddDate(1, 0, 0))
	if err != nil {
		h.t.Fatal(err)
	}
	b.Label = "lab"
	h.ui(func() { h.c.attach(b, h.app) })
	h.c.Wait()
	return h.c.cur
}

// ui runs f as the UI goroutine would: the real driver runs all UI work on one goroutine;
// the test driver runs fyne.Do on the caller's, so the test takes the same lock Console.do
// holds. Call Wait outside it.
func (h *harness) ui(f func()) {
	h.c.uiMu.Lock()
	defer h.c.uiMu.Unlock()
	f()
}

// act runs f as UI work, then waits for every call it started to land.
func (h *harness) act(f func()) {
	h.ui(f)
	h.c.Wait()
}

func (h *harness) view(title string) view {
	h.t.Helper()
	ok := false
	h.act(func() { ok = h.c.SelectScreen(title) })
	if !ok {
		h.t.Fatalf("no screen %q", title)
	}
	return h.c.currentView()
}

func (h *harness) mutations() []fake.Call { return h.app.Calls() }

func (h *harness) noCalls(method string) {
	h.t.Helper()
	for _, c := range h.mutations() {
		if c.Method == method {
			h.t.Fatalf("%s was sent to the appliance: %+v", method, c)
		}
	}
}

func (h *harness) lastCall(method string) fake.Call {
	h.t.Helper()
	calls := h.mutations()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Method == method {
			return calls[i]
		}
	}
	h.t.Fatalf("no %s call; calls: %+v", method, calls)
	return fake.Call{}
}

func TestEveryScreenRendersFromFakeData(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	if len(h.c.views) != len(screens()) {
		t.Fatalf("%d views for %d screens", len(h.c.views), len(screens()))
	}
	for _, sc := range screens() {
		v := h.view(sc.title)
		if v.object().Size().Width < 1000 {
			t.Errorf("%s: not laid out (%v)", sc.title, v.object().Size())
		}
	}
	title := h.c.win.Title()
	for _, want := range []string{"lab", "127.0.0.1:9443", "connected", "v0.9.0-demo"} {
		if !strings.Contains(title, want) {
			t.Errorf("window title %q lacks %q", title, want)
		}
	}
	if h.c.statelbl.Text != "connected" || h.c.verlbl.Text != "v0.9.0-demo" {
		t.Errorf("status bar: %q %q", h.c.statelbl.Text, h.c.verlbl.Text)
	}
}

func TestDashboardShowsStatsTopsAndLiveFeed(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	d := h.view("Dashboard").(*dashboard)
	data := d.chart.Data()
	if data.buckets() != 61 || len(data.Series) == 0 {
		t.Fatalf("last-hour chart: %d buckets, %d series", data.buckets(), len(data.Series))
	}
	sum := 0.0
	for i := 0; i < data.buckets(); i++ {
		sum += data.total(i)
	}
	if got := float64(atoi(d.blocked.Text) + atoi(d.logged.Text)); got != sum || sum == 0 {
		t.Fatalf("blocked+logged = %v, chart total %v", got, sum)
	}
	if d.bans.Text != "2" || d.alerts.Text != "1" {
		t.Fatalf("bans %q, open alerts %q", d.bans.Text, d.alerts.Text)
	}
	for k, tl := range d.top {
		if len(tl.rows) == 0 {
			t.Errorf("top %s empty", k)
		}
	}
	// 24 h view: 15-minute buckets.
	h.act(func() { d.period.SetSelected("Last 24 h") })
	if n := d.chart.Data().buckets(); n != 97 {
		t.Fatalf("24 h chart has %d buckets", n)
	}
	h.act(func() { d.period.SetSelected("Last hour") })

	// A streamed attack lands in the feed, the counter and the current bucket.
	before := atoi(d.blocked.Text)
	last := d.chart.Data().total(60)
	h.app.Push(event.Event{TS: testNow, Kind: event.SQLi, Severity: event.Critical, Action: event.Blocked, IP: "203.0.113.50", Path: "/login"})
	waitReceived(t, d, 1)
	h.c.uiMu.Lock()
	defer h.c.uiMu.Unlock()
	if len(d.feed) != 1 || d.feed[0].IP != "203.0.113.50" {
		t.Fatalf("feed: %+v", d.feed)
	}
	if atoi(d.blocked.Text) != before+1 || d.chart.Data().total(60) != last+1 {
		t.Fatalf("live event not counted: blocked %s (was %d), bucket %v (was %v)", d.blocked.Text, before, d.chart.Data().total(60), last)
	}
}

func TestChartAxesAndTooltip(t *testing.T) {
	test.NewTempApp(t)
	c := NewChart()
	w := test.NewWindow(c)
	defer w.Close()
	w.Resize(fyne.NewSize(600, 300))
	start := testNow.Add(-10 * time.Minute)
	c.SetData(ChartData{Start: start, Step: time.Minute, Series: []Series{
		{Name: "sqli", Values: []float64{1, 0, 3, 0, 0, 0, 0, 0, 0, 7}},
		{Name: "xss", Values: []float64{0, 2, 1, 0, 0, 0, 0, 0, 0, 0}},
	}})
	if got := niceMax(c.Data()); got != 8 {
		t.Fatalf("y axis max %v, want 8 (tallest stack 7)", got)
	}
	if c.Tooltip() != "" {
		t.Fatal("tooltip without hover")
	}
	plot := plotArea(c.Size())
	// Hover the third bucket (index 2): sqli 3 + xss 1.
	x := plot.Position.X + plot.Size.Width*2.5/10
	c.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(x, plot.Position.Y+10)}})
	tip := c.Tooltip()
	if !strings.Contains(tip, "total 4") || !strings.Contains(tip, "sqli 3") || !strings.Contains(tip, "xss 1") {
		t.Fatalf("tooltip %q", tip)
	}
	r := test.WidgetRenderer(c).(*chartRenderer)
	if r.tipBg.Hidden || len(r.yLabels) != yTicks+1 || r.yLabels[yTicks].Text != "8" || len(r.xLabels) != xTicks {
		t.Fatalf("axes/tooltip not drawn: tip hidden %v, y labels %d", r.tipBg.Hidden, len(r.yLabels))
	}
	if r.tipBg.Position().X+r.tipBg.Size().Width > c.Size().Width {
		t.Fatal("tooltip clipped on the right")
	}
	c.MouseOut()
	if c.Tooltip() != "" || !test.WidgetRenderer(c).(*chartRenderer).tipBg.Hidden {
		t.Fatal("tooltip stays after mouse out")
	}
}

func TestUIStaysResponsiveWhenApplianceIsSlowOrDead(t *testing.T) {
	h := newHarness(t, Options{Timeout: 300 * time.Millisecond, Slow: 50 * time.Millisecond})
	s := h.connected()
	h.app.SetDelay(2 * time.Second)
	start := time.Now()
	h.ui(h.c.Refresh) // the dashboard fires several calls
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Refresh blocked the UI goroutine for %v", d)
	}
	h.c.Wait()
	if !strings.Contains(s.state, "not answering") || !strings.Contains(h.c.win.Title(), "not answering") {
		t.Fatalf("state after timeouts: %q", s.state)
	}
	d := h.c.currentView().(*dashboard)
	if !strings.Contains(d.msg.Text, "did not answer in time") {
		t.Fatalf("dashboard message %q", d.msg.Text)
	}
	h.app.SetDelay(0)
	h.app.SetDead(true)
	h.act(h.c.Refresh)
	if !strings.Contains(s.state, "unreachable") {
		t.Fatalf("state when dead: %q", s.state)
	}
	h.app.SetDead(false)
	h.act(s.loadStatus)
	if s.state != "connected" {
		t.Fatalf("state after recovery: %q", s.state)
	}
}

func TestNewAlertRaisesNotification(t *testing.T) {
	h := newHarness(t, Options{})
	s := h.connected()
	if len(h.notes) != 0 {
		t.Fatalf("existing alerts notified: %v", h.notes)
	}
	h.app.FireAlert("sqli burst", "40 sqli events from 198.51.100.9 in 1m", event.Critical)
	h.act(s.pollAlerts)
	h.act(s.pollAlerts) // the same alert again: no second notification
	if len(h.notes) != 1 || !strings.Contains(h.notes[0].Content, "198.51.100.9") || !strings.Contains(h.notes[0].Title, "sqli burst") {
		t.Fatalf("notifications: %+v", h.notes)
	}
	// Without a notification daemon the operator still sees it: the status bar's badge.
	if !h.c.alertBtn.Visible() || !strings.Contains(h.c.alertBtn.Text, "1 new alert — sqli burst") ||
		!strings.Contains(h.c.Summary(), `badge="1 new alert`) {
		t.Fatalf("badge %q visible %v", h.c.alertBtn.Text, h.c.alertBtn.Visible())
	}
	h.act(func() { test.Tap(h.c.alertBtn) })
	v, ok := h.c.currentView().(*alertsScreen)
	if !ok || v.tabs.Selected().Text != "History" || h.c.alertBtn.Visible() {
		t.Fatalf("tapping the badge: view %T, badge visible %v", h.c.currentView(), h.c.alertBtn.Visible())
	}
	if v.history[0].Summary != "40 sqli events from 198.51.100.9 in 1m" {
		t.Fatalf("history %+v", v.history[0])
	}
}

func TestKeyboardShortcutsRefreshAndSearch(t *testing.T) {
	h := newHarness(t, Options{})
	h.connected()
	ev := h.view("Events").(*eventsScreen)
	before := len(ev.events)
	h.app.Push(event.Event{TS: testNow, Kind: event.XSS, Severity: event.High, Action: event.Blocked, IP: "192.0.2.9", Path: "/x"})
	waitReceived(t, h.c.views[0].(*dashboard), 1)
	cv := h.c.win.Canvas()
	h.act(func() { h.key(fyne.KeyR, fyne.KeyModifierShortcutDefault) })
	if ev.total != before+1 && len(ev.events) != min(before+1, eventsPageSize) {
		t.Fatalf("Ctrl+R did not reload events: total %d", ev.total)
	}
	h.ui(func() { h.key(fyne.KeyF, fyne.KeyModifierShortcutDefault) })
	if cv.Focused() != ev.text {
		t.Fatalf("Ctrl+F focused %v, want the search field", cv.Focused())
	}
}

// key presses a shortcut through the window's binding table (the test canvas does not
// dispatch shortcuts itself).
func (h *harness) key(k fyne.KeyName, mod fyne.KeyModifier) {
	h.t.Helper()
	for _, b := range h.c.bindings() {
		if b.key == k && b.mod == mod {
			b.do()
			return
		}
	}
	h.t.Fatalf("no shortcut %v+%v", mod, k)
}

func waitReceived(t *testing.T, d *dashboard, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.received.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if d.received.Load() < n {
		t.Fatalf("stream delivered %d events, want %d", d.received.Load(), n)
	}
}

var _ source.Appliance = (*fake.Appliance)(nil)
var _ source.Connector = (*fake.Connector)(nil)

// widgetByText finds the button with that label under o.
func widgetByText(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var found *widget.Button
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if found != nil || o == nil {
			return
		}
		switch w := o.(type) {
		case *widget.Button:
			if w.Text == text {
				found = w
			}
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(w).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	if found == nil {
		t.Fatalf("no button %q", text)
	}
	return found
}
