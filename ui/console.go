// Package ui is the desktop console's window and screens (Fyne), one file per screen as in
// Fyne's own demo: connect, dashboard, events, apps, access, policies, alerts, clients, and
// the chart widget the dashboard draws with.
//
// Screens are built only from a source.Appliance (ui/source): they never reach the network
// themselves. Every call to the appliance runs off the UI goroutine and lands back through
// fyne.Do, so a slow or dead appliance shows up as a state in the status bar, never as a
// frozen window. The chart is our own (chart.go) rather than a library: Fyne has no chart
// widget (fyne-io/fyne#2228 is still open, the fyne-x chart proposal #35 was closed
// unmerged), and the one third-party package found (fyneline, v1.0.0 in 2026, no importers)
// is too young to bet the dashboard on for the ~300 lines a stacked bar chart with axes and
// hover tooltips takes.
package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

// Appliance is what screens are built from (see ui/source).
type Appliance = source.Appliance

// Options tune a Console; the zero value is the desktop default.
type Options struct {
	// Refresh is how often screens reload while shown (0: never; tests drive it by hand).
	Refresh time.Duration
	// Timeout bounds one call to the appliance (default 15 s).
	Timeout time.Duration
	// Slow is how long a call may take before the status bar says so (default 2 s).
	Slow time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Notify shows a desktop notification (default: the app's).
	Notify func(*fyne.Notification)
}

// view is one screen of a connected appliance.
type view interface {
	object() fyne.CanvasObject
	// refresh reloads the screen's data (asynchronously).
	refresh()
}

// autoRefresher marks views that reload on the refresh timer; the others reload when shown or on
// Ctrl+R, so a timer never wipes a selection or an edit in progress.
type autoRefresher interface{ autoRefresh() }

// searcher is a view with a search field that Ctrl+F focuses.
type searcher interface{ searchEntry() *widget.Entry }

// screen is one row of the table of screens.
type screen struct {
	title string
	icon  fyne.Resource
	make  func(*session) view
}

// screens is the table of screens shown for a connected appliance, in tab order.
func screens() []screen {
	return []screen{
		{"Dashboard", theme.HomeIcon(), func(s *session) view { return newDashboard(s) }},
		{"Events", theme.ListIcon(), func(s *session) view { return newEvents(s) }},
		{"Apps", theme.ComputerIcon(), func(s *session) view { return newApps(s) }},
		{"Access", theme.AccountIcon(), func(s *session) view { return newAccess(s) }},
		{"Policies", theme.SettingsIcon(), func(s *session) view { return newPolicies(s) }},
		{"Alerts", theme.WarningIcon(), func(s *session) view { return newAlerts(s) }},
		{"Clients", theme.LoginIcon(), func(s *session) view { return newClients(s) }},
	}
}

// Console is the console window and the appliance it is connected to.
type Console struct {
	app   fyne.App
	win   fyne.Window
	conn  source.Connector
	store *Profiles
	opt   Options

	// tasks counts calls in flight so tests can wait for them.
	tasks sync.WaitGroup
	// uiMu serialises work handed back to the UI. Fyne's driver already runs it on one
	// goroutine; the test driver runs it on the caller's, so this keeps both the same.
	uiMu sync.Mutex

	// UI goroutine only:
	cur      *session
	connect  *connectScreen
	body     *fyne.Container
	tabs     *container.AppTabs
	views    []view
	applbl   *widget.Label
	statelbl *widget.Label
	verlbl   *widget.Label
	busy     *widget.Activity
	picker   *widget.Select
	// alertBtn is the status bar's badge for alerts that arrived since the operator last
	// looked: visible without a desktop notification daemon.
	alertBtn *widget.Button
	newAlert int
}

// New builds the console window. It does not show it.
func New(a fyne.App, conn source.Connector, store *Profiles, opt Options) *Console {
	if opt.Timeout == 0 {
		opt.Timeout = 15 * time.Second
	}
	if opt.Slow == 0 {
		opt.Slow = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Notify == nil {
		opt.Notify = a.SendNotification
	}
	c := &Console{app: a, conn: conn, store: store, opt: opt}
	c.win = a.NewWindow("Bulwark console")
	c.applbl = widget.NewLabel("no appliance")
	c.statelbl = widget.NewLabel("not connected")
	c.verlbl = widget.NewLabel("")
	c.busy = widget.NewActivity()
	c.busy.Hide()
	c.picker = widget.NewSelect(nil, func(label string) { c.switchTo(label) })
	c.picker.PlaceHolder = "Switch appliance"
	c.alertBtn = widget.NewButtonWithIcon("", theme.WarningIcon(), c.openAlerts)
	c.alertBtn.Importance = widget.DangerImportance
	c.alertBtn.Hide()
	c.connect = newConnect(c)
	c.body = container.NewStack(c.connect.object())
	status := container.NewHBox(widget.NewIcon(theme.StorageIcon()), c.applbl, widget.NewSeparator(),
		c.statelbl, widget.NewSeparator(), c.verlbl, c.busy, layout.NewSpacer(), c.alertBtn)
	addBtn := widget.NewButtonWithIcon("Appliances", theme.ContentAddIcon(), func() { c.showConnect() })
	top := container.NewBorder(nil, nil, nil, container.NewHBox(c.picker, addBtn))
	c.win.SetContent(container.NewBorder(top, container.NewVBox(widget.NewSeparator(), status), nil, nil, c.body))
	c.win.Resize(fyne.NewSize(1280, 820))
	c.shortcuts()
	c.reloadPicker()
	c.updateTitle()
	return c
}

// do runs f on the UI goroutine. Only call it from other goroutines.
func (c *Console) do(f func()) {
	fyne.Do(func() {
		c.uiMu.Lock()
		defer c.uiMu.Unlock()
		f()
	})
}

// Window is the console's window.
func (c *Console) Window() fyne.Window { return c.win }

// Wait blocks until every call in flight has landed (for tests and screenshots).
func (c *Console) Wait() { c.tasks.Wait() }

// keyBinding is one keyboard shortcut of the window.
type keyBinding struct {
	key  fyne.KeyName
	mod  fyne.KeyModifier
	what string
	do   func()
}

// bindings lists the window's keyboard shortcuts in one place.
func (c *Console) bindings() []keyBinding {
	return []keyBinding{
		{fyne.KeyR, fyne.KeyModifierShortcutDefault, "refresh", c.Refresh},
		{fyne.KeyF5, 0, "refresh", c.Refresh},
		{fyne.KeyF, fyne.KeyModifierShortcutDefault, "search", c.focusSearch},
	}
}

func (c *Console) shortcuts() {
	for _, b := range c.bindings() {
		do := b.do
		c.win.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: b.key, Modifier: b.mod}, func(fyne.Shortcut) { do() })
	}
}

// Refresh reloads the screen on show.
func (c *Console) Refresh() {
	if v := c.currentView(); v != nil {
		v.refresh()
	}
}

func (c *Console) focusSearch() {
	if s, ok := c.currentView().(searcher); ok {
		c.win.Canvas().Focus(s.searchEntry())
	}
}

func (c *Console) currentView() view {
	if c.tabs == nil || c.cur == nil {
		return nil
	}
	i := c.tabs.SelectedIndex()
	if i < 0 || i >= len(c.views) {
		return nil
	}
	return c.views[i]
}

// Open connects to the appliance of b and, once it answers, stores b and shows its screens.
func (c *Console) Open(b source.Bundle) { c.connect.open(b, true) }

// ImportFile checks a bundle file as the "Open bundle file" button does, then opens it.
func (c *Console) ImportFile(path string) { c.connect.importFile(path) }

// OpenStored connects to the first stored appliance; it reports whether there was one.
func (c *Console) OpenStored() bool {
	list, _ := c.store.List()
	if len(list) == 0 {
		return false
	}
	c.connect.open(list[0], false)
	return true
}

// PickFirst selects the first row of the shown screen's main table, so its detail pane
// fills (the screenshot tour uses it).
func (c *Console) PickFirst() {
	if p, ok := c.currentView().(interface{ pickFirst() }); ok {
		p.pickFirst()
	}
}

// Summary describes what the shown screen displays, one line of key=value pairs, for tests
// that drive the real window from outside (the dashboard reports its counters, top lists
// and live feed).
func (c *Console) Summary() string {
	state := "not connected"
	if c.cur != nil {
		state = c.cur.state
	}
	out := fmt.Sprintf("state=%q", state)
	if c.newAlert > 0 {
		out += fmt.Sprintf(" badge=%q", c.alertBtn.Text)
	}
	if s, ok := c.currentView().(interface{ summary() string }); ok {
		out += " " + s.summary()
	}
	return out
}

// ShowConnect shows the screen that adds appliances.
func (c *Console) ShowConnect() { c.showConnect() }

// Screens lists the titles of the screens of a connected appliance, in tab order.
func Screens() []string {
	var out []string
	for _, s := range screens() {
		out = append(out, s.title)
	}
	return out
}

// SelectScreen shows the screen with that title (for screenshots and tests).
func (c *Console) SelectScreen(title string) bool {
	if c.tabs == nil {
		return false
	}
	for i, it := range c.tabs.Items {
		if it.Text == title {
			c.tabs.SelectIndex(i)
			return true
		}
	}
	return false
}

func (c *Console) showConnect() {
	c.connect.reload()
	c.body.Objects = []fyne.CanvasObject{c.connect.object()}
	c.body.Refresh()
}

func (c *Console) reloadPicker() {
	list, _ := c.store.List()
	var labels []string
	for _, b := range list {
		labels = append(labels, b.Label)
	}
	c.picker.SetOptions(labels)
}

func (c *Console) switchTo(label string) {
	if label == "" || (c.cur != nil && c.cur.bundle.Label == label) {
		return
	}
	list, _ := c.store.List()
	for _, b := range list {
		if b.Label == label {
			c.connect.open(b, false)
			return
		}
	}
}

// attach makes app the current appliance and shows its screens (UI goroutine).
func (c *Console) attach(b source.Bundle, app source.Appliance) {
	c.detach()
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{c: c, bundle: b, app: app, ctx: ctx, cancel: cancel}
	c.cur = s
	c.views = nil
	tabs := container.NewAppTabs()
	for _, sc := range screens() {
		v := sc.make(s)
		c.views = append(c.views, v)
		tabs.Append(container.NewTabItemWithIcon(sc.title, sc.icon, v.object()))
	}
	tabs.OnSelected = func(*container.TabItem) { c.Refresh() }
	c.tabs = tabs
	c.body.Objects = []fyne.CanvasObject{tabs}
	c.body.Refresh()
	c.reloadPicker()
	c.picker.SetSelected(b.Label)
	s.setState("connecting…")
	s.loadStatus()
	s.pollAlerts()
	for _, v := range c.views {
		v.refresh()
	}
	s.startLive()
}

// alertBadge counts n more new alerts in the status bar, naming the newest (UI goroutine).
func (c *Console) alertBadge(n int, newest source.Alert) {
	c.newAlert += n
	word := "alert"
	if c.newAlert > 1 {
		word = "alerts"
	}
	what := newest.Summary
	if !strings.HasPrefix(what, newest.Rule) { // the appliance's summaries start with the rule
		what = newest.Rule + ": " + what
	}
	if r := []rune(what); len(r) > 90 {
		what = string(r[:89]) + "…"
	}
	c.alertBtn.SetText(fmt.Sprintf("%d new %s — %s", c.newAlert, word, what))
	c.alertBtn.Show()
}

// openAlerts shows the alert history and clears the badge.
func (c *Console) openAlerts() {
	c.newAlert = 0
	c.alertBtn.Hide()
	if !c.SelectScreen("Alerts") {
		return
	}
	if v, ok := c.currentView().(*alertsScreen); ok {
		v.showTab("History")
		v.refresh() // selecting the screen it was already on reloads nothing
	}
}

func (c *Console) detach() {
	if c.cur == nil {
		return
	}
	c.newAlert = 0
	c.alertBtn.Hide()
	c.cur.cancel()
	_ = c.cur.app.Close()
	c.cur = nil
	c.tabs = nil
	c.views = nil
}

// Close stops the live feeds and timers of the current appliance.
func (c *Console) Close() { c.detach() }

func (c *Console) updateTitle() {
	title := "Bulwark console"
	if c.cur != nil {
		where := c.cur.bundle.Label
		if !strings.Contains(where, c.cur.bundle.Addr) {
			where += " (" + c.cur.bundle.Addr + ")"
		}
		title = fmt.Sprintf("Bulwark — %s — %s", where, c.cur.state)
		if c.cur.version != "" {
			title += " — " + c.cur.version
		}
		c.applbl.SetText(where)
		c.statelbl.SetText(c.cur.state)
		c.verlbl.SetText(c.cur.version)
	}
	c.win.SetTitle(title)
}

// session is one connection to one appliance; its context ends when the operator switches.
type session struct {
	c      *Console
	bundle source.Bundle
	app    source.Appliance
	ctx    context.Context
	cancel context.CancelFunc

	// UI goroutine only:
	state      string
	version    string
	pending    int
	seenAlerts map[int64]bool
}

func (s *session) now() time.Time { return s.c.opt.Now() }

func (s *session) setState(st string) {
	s.state = st
	if s.c.cur == s {
		s.c.updateTitle()
	}
}

func (s *session) loadStatus() {
	run(s, func(ctx context.Context) (source.Status, error) { return s.app.Status(ctx) },
		func(st source.Status, err error) {
			if err == nil {
				s.version = st.Version
				s.setState("connected")
			}
		})
}

// startLive starts the periodic refresh of the shown screen, if configured.
func (s *session) startLive() {
	if s.c.opt.Refresh <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(s.c.opt.Refresh)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.c.do(func() {
					if s.c.cur == s {
						s.loadStatus()
						s.pollAlerts()
						if v, ok := s.c.currentView().(autoRefresher); ok {
							v.(view).refresh()
						}
					}
				})
			}
		}
	}()
}

// run calls f off the UI goroutine with a bounded context and hands its result to apply on
// the UI goroutine. Connection trouble also shows in the status bar; a call that outlives
// Options.Slow says so there while it waits.
func run[T any](s *session, f func(context.Context) (T, error), apply func(T, error)) {
	c := s.c
	c.tasks.Add(1)
	s.pending++
	c.busy.Start()
	c.busy.Show()
	go func() {
		defer c.tasks.Done()
		ctx, cancel := context.WithTimeout(s.ctx, c.opt.Timeout)
		slow := time.AfterFunc(c.opt.Slow, func() {
			c.do(func() {
				if s.pending > 0 && s.ctx.Err() == nil {
					s.setState("waiting for the appliance…")
				}
			})
		})
		v, err := f(ctx)
		slow.Stop()
		cancel()
		c.do(func() {
			s.pending--
			if s.pending == 0 {
				c.busy.Stop()
				c.busy.Hide()
			}
			if s.ctx.Err() != nil || c.cur != s {
				return // switched away: drop the answer
			}
			switch {
			case err == nil:
				if s.state != "connected" && s.version != "" {
					s.setState("connected")
				}
			case errors.Is(err, context.DeadlineExceeded):
				s.setState(fmt.Sprintf("not answering (gave up after %s)", c.opt.Timeout))
			case errors.Is(err, source.ErrUnreachable):
				s.setState("unreachable — retrying on refresh")
			}
			apply(v, err)
		})
	}()
}

// act is run for calls that return only an error.
func act(s *session, f func(context.Context) error, done func(error)) {
	run(s, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) },
		func(_ struct{}, err error) { done(err) })
}

// errText is the operator's sentence for an error from the appliance.
func errText(what string, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return what + ": the appliance did not answer in time; try again or check it runs"
	case errors.Is(err, source.ErrUnreachable):
		return what + ": the appliance is unreachable (" + err.Error() + ")"
	}
	return fmt.Sprintf("%s: %v", what, err)
}
