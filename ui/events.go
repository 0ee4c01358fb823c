package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/core/event"
	"bulwark/ui/source"
)

const eventsPageSize = 100

var (
	anyChoice   = "any"
	kindChoices = []string{anyChoice, "xss", "sqli", "traversal", "probe", "scanner", "waf", "csrf", "rate_limit", "banned",
		"login_failed", "login_new_ip", "credential_stuffing", "account_changed", "sandbox_cpu", "sandbox_memory",
		"sandbox_crash", "egress_denied", "admin_auth"}
	severityChoices = []string{anyChoice, "info", "low", "medium", "high", "critical"}
	actionChoices   = []string{anyChoice, "blocked", "logged", "banned", "throttled"}
	rangeChoices    = []string{"Last 15 min", "Last hour", "Last 24 h", "Last 7 days", "All"}
	banChoices      = []string{"15 min", "1 hour", "24 hours", "7 days", "30 days"}
)

func rangeSince(choice string, now time.Time) time.Time {
	switch choice {
	case "Last 15 min":
		return now.Add(-15 * time.Minute)
	case "Last hour":
		return now.Add(-time.Hour)
	case "Last 24 h":
		return now.Add(-24 * time.Hour)
	case "Last 7 days":
		return now.Add(-7 * 24 * time.Hour)
	}
	return time.Time{}
}

func banDuration(choice string) time.Duration {
	return map[string]time.Duration{"15 min": 15 * time.Minute, "1 hour": time.Hour, "24 hours": 24 * time.Hour,
		"7 days": 7 * 24 * time.Hour, "30 days": 30 * 24 * time.Hour}[choice]
}

// eventsScreen is the filtered, paged event table with a detail pane and row actions.
type eventsScreen struct {
	s                               *session
	rng, kind, severity, action     *widget.Select
	ip, app, rule, text             *widget.Entry
	table                           *grid
	page                            int
	total                           int
	events                          []event.Event
	pageLbl                         *widget.Label
	prev, next                      *widget.Button
	detail                          *widget.Entry
	banFor                          *widget.Select
	banBtn, allowBtn, exclBtn, copy *widget.Button
	msg                             *widget.Label
	content                         fyne.CanvasObject
}

func newEvents(s *session) *eventsScreen {
	v := &eventsScreen{s: s}
	sel := func(opts []string, initial string) *widget.Select {
		w := widget.NewSelect(opts, func(string) { v.page = 0; v.refresh() })
		w.Selected = initial
		return w
	}
	v.rng = sel(rangeChoices, "Last 24 h")
	v.kind = sel(kindChoices, anyChoice)
	v.severity = sel(severityChoices, anyChoice)
	v.action = sel(actionChoices, anyChoice)
	entry := func(ph string) *widget.Entry {
		e := widget.NewEntry()
		e.SetPlaceHolder(ph)
		e.OnSubmitted = func(string) { v.page = 0; v.refresh() }
		return e
	}
	v.ip, v.app, v.rule, v.text = entry("IP"), entry("app"), entry("rule"), entry("search text (Ctrl+F)")
	apply := widget.NewButtonWithIcon("Apply", theme.SearchIcon(), func() { v.page = 0; v.refresh() })
	filters := container.NewVBox(
		container.NewGridWithColumns(4, v.rng, v.kind, v.severity, v.action),
		container.NewBorder(nil, nil, nil, apply, container.NewGridWithColumns(4, v.ip, v.app, v.rule, v.text)))
	v.table = newGrid([]string{"Time", "Kind", "Severity", "Action", "IP", "Method", "Path", "App", "Rule"},
		[]float32{118, 96, 72, 72, 120, 62, 190, 56, 80}, v.show)
	v.pageLbl = widget.NewLabel("")
	v.prev = widget.NewButtonWithIcon("", theme.NavigateBackIcon(), func() { v.page--; v.refresh() })
	v.next = widget.NewButtonWithIcon("", theme.NavigateNextIcon(), func() { v.page++; v.refresh() })
	pager := container.NewHBox(v.prev, v.pageLbl, v.next)
	v.detail = widget.NewMultiLineEntry()
	v.detail.Wrapping = fyne.TextWrapBreak
	v.detail.TextStyle.Monospace = true
	v.detail.SetPlaceHolder("select an event to see all of it")
	v.banFor = widget.NewSelect(banChoices, nil)
	v.banFor.Selected = "24 hours"
	v.banBtn = widget.NewButtonWithIcon("Ban IP", theme.CancelIcon(), v.ban)
	v.allowBtn = widget.NewButtonWithIcon("Allowlist IP", theme.ConfirmIcon(), v.allowlist)
	v.exclBtn = widget.NewButtonWithIcon("Exclude rule on path", theme.ContentRemoveIcon(), v.exclude)
	v.copy = widget.NewButtonWithIcon("Copy as JSON", theme.ContentCopyIcon(), v.copyJSON)
	v.msg = widget.NewLabel("")
	v.msg.Wrapping = fyne.TextWrapWord
	v.enableActions(false)
	actions := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("for"), v.banBtn, v.banFor),
		container.NewGridWithColumns(3, v.allowBtn, v.exclBtn, v.copy), v.msg)
	detail := widget.NewCard("", "Event", container.NewBorder(nil, actions, nil, nil, v.detail))
	split := container.NewHSplit(container.NewBorder(filters, pager, nil, nil, v.table), detail)
	split.Offset = 0.68
	v.content = container.NewPadded(split)
	return v
}

func (v *eventsScreen) object() fyne.CanvasObject { return v.content }
func (v *eventsScreen) pickFirst() {
	if len(v.events) > 0 {
		v.table.pick(0)
	}
}
func (v *eventsScreen) searchEntry() *widget.Entry { return v.text }

func choice(s *widget.Select) string {
	if s.Selected == anyChoice {
		return ""
	}
	return s.Selected
}

func (v *eventsScreen) filter() source.EventFilter {
	return source.EventFilter{
		Since: rangeSince(v.rng.Selected, v.s.now()), Kind: event.Kind(choice(v.kind)),
		Severity: event.Severity(choice(v.severity)), Action: event.Action(choice(v.action)),
		IP: strings.TrimSpace(v.ip.Text), App: strings.TrimSpace(v.app.Text),
		Rule: strings.TrimSpace(v.rule.Text), Text: strings.TrimSpace(v.text.Text),
		Offset: v.page * eventsPageSize, Limit: eventsPageSize,
	}
}

func (v *eventsScreen) refresh() {
	v.page = max(v.page, 0)
	f := v.filter()
	app := v.s.app
	run(v.s, func(ctx context.Context) (source.EventPage, error) { return app.Events(ctx, f) },
		func(p source.EventPage, err error) {
			if err != nil {
				v.say(errText("load events", err), true)
				return
			}
			v.events, v.total = p.Events, p.Total
			rows := make([][]string, len(p.Events))
			for i, e := range p.Events {
				rows[i] = []string{e.TS.Local().Format("01-02 15:04:05"), string(e.Kind), string(e.Severity),
					string(e.Action), e.IP, e.Method, e.Path, e.App, e.Rule}
			}
			v.table.setRows(rows)
			v.pageLbl.SetText(pageText(v.page, len(p.Events), p))
			pages := max(1, (p.Total+eventsPageSize-1)/eventsPageSize)
			setEnabled(v.prev, v.page > 0)
			setEnabled(v.next, p.More || (!p.TotalCapped && v.page+1 < pages))
			v.detail.SetText("")
			v.enableActions(false)
		})
}

// pageText is "1–100 of 1,234 · page 1 of 13" for the page shown; a capped total reads
// "of 100,000+" and gives no page count.
func pageText(page, shown int, p source.EventPage) string {
	if shown == 0 {
		if page == 0 {
			return "no events match"
		}
		return fmt.Sprintf("page %d: no events (the listing changed; go back)", page+1)
	}
	first := page*eventsPageSize + 1
	last := first + shown - 1
	if p.TotalCapped {
		return fmt.Sprintf("%s–%s of %s+", thousands(first), thousands(last), thousands(max(p.Total, last)))
	}
	pages := max(1, (p.Total+eventsPageSize-1)/eventsPageSize)
	return fmt.Sprintf("%s–%s of %s · page %d of %s", thousands(first), thousands(last), thousands(max(p.Total, last)), page+1, thousands(pages))
}

// thousands writes n with comma separators (1,234,567).
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func setEnabled(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

func (v *eventsScreen) enableActions(on bool) {
	for _, b := range []*widget.Button{v.banBtn, v.allowBtn, v.exclBtn, v.copy} {
		setEnabled(b, on)
	}
}

func (v *eventsScreen) say(m string, bad bool) {
	v.msg.Importance = widget.MediumImportance
	if bad {
		v.msg.Importance = widget.DangerImportance
	}
	v.msg.SetText(m)
}

func (v *eventsScreen) current() (event.Event, bool) {
	if v.table.selected < 0 || v.table.selected >= len(v.events) {
		return event.Event{}, false
	}
	return v.events[v.table.selected], true
}

// show puts the whole event, its detail unfolded, into the detail pane.
func (v *eventsScreen) show(row int) {
	e := v.events[row]
	v.detail.SetText(eventJSON(e))
	v.enableActions(true)
	setEnabled(v.exclBtn, e.Rule != "")
	v.say("", false)
}

func eventJSON(e event.Event) string {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (v *eventsScreen) ban() {
	e, ok := v.current()
	if !ok {
		return
	}
	d := banDuration(v.banFor.Selected)
	reason := fmt.Sprintf("%s %s on %s (event %d)", e.Kind, e.Rule, e.Path, e.ID)
	act(v.s, func(ctx context.Context) error { return v.s.app.Ban(ctx, e.IP, d, reason) }, func(err error) {
		if err != nil {
			v.say(errText("ban "+e.IP, err), true)
			return
		}
		v.say(fmt.Sprintf("%s banned for %s", e.IP, v.banFor.Selected), false)
	})
}

func (v *eventsScreen) allowlist() {
	e, ok := v.current()
	if !ok {
		return
	}
	dialog.ShowConfirm("Allowlist "+e.IP, "Requests from "+e.IP+" will skip bans and rate limits. Continue?", func(yes bool) {
		if yes {
			v.doAllowlist(e)
		}
	}, v.s.c.win)
}

func (v *eventsScreen) doAllowlist(e event.Event) {
	act(v.s, func(ctx context.Context) error {
		return v.s.app.AddAccess(ctx, source.Allowlist, e.IP, "from event "+fmt.Sprint(e.ID))
	}, func(err error) {
		if err != nil {
			v.say(errText("allowlist "+e.IP, err), true)
			return
		}
		v.say(e.IP+" added to the allowlist", false)
	})
}

func (v *eventsScreen) exclude() {
	e, ok := v.current()
	if !ok || e.Rule == "" {
		return
	}
	x := source.WAFExclusion{Rule: e.Rule, Path: e.Path, App: e.App}
	act(v.s, func(ctx context.Context) error { return v.s.app.AddWAFExclusion(ctx, x) }, func(err error) {
		if err != nil {
			v.say(errText("add exclusion", err), true)
			return
		}
		v.say(fmt.Sprintf("rule %s no longer applies to %s", x.Rule, x.Path), false)
	})
}

func (v *eventsScreen) copyJSON() {
	e, ok := v.current()
	if !ok {
		return
	}
	b, _ := json.Marshal(e)
	v.s.c.app.Clipboard().SetContent(string(b))
	v.say("event copied as JSON", false)
}
