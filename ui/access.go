package ui

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

// parseCIDR accepts an IP or a CIDR and returns its canonical form, or a sentence saying
// what is wrong with it.
func parseCIDR(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("enter an IP address or CIDR, e.g. 203.0.113.0/24")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an IP address or CIDR (e.g. 203.0.113.0/24 or 2001:db8::/32)", s)
	}
	if m := p.Masked(); m != p {
		return "", fmt.Errorf("%q has host bits set; did you mean %s?", s, m)
	}
	return p.String(), nil
}

// accessList is the allowlist or the denylist editor.
type accessList struct {
	s       *session
	list    source.List
	entries []source.AccessEntry
	table   *grid
	cidr    *widget.Entry
	note    *widget.Entry
	add     *widget.Button
	remove  *widget.Button
	msg     *widget.Label
	content fyne.CanvasObject
}

func newAccessList(s *session, list source.List, title string, reload func()) *accessList {
	l := &accessList{s: s, list: list}
	l.table = newGrid([]string{"IP or CIDR", "Note", "Added"}, []float32{135, 135, 100}, func(int) { l.remove.Enable() })
	l.cidr = widget.NewEntry()
	l.cidr.SetPlaceHolder("IP or CIDR")
	l.note = widget.NewEntry()
	l.note.SetPlaceHolder("note")
	l.msg = widget.NewLabel("")
	l.msg.Wrapping = fyne.TextWrapWord
	l.add = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), func() { l.doAdd(reload) })
	l.cidr.OnSubmitted = func(string) { l.doAdd(reload) }
	l.remove = widget.NewButtonWithIcon("Remove selected", theme.DeleteIcon(), func() { l.doRemove(reload) })
	l.remove.Disable()
	form := container.NewVBox(container.NewGridWithColumns(2, l.cidr, l.note), container.NewHBox(l.add, l.remove), l.msg)
	l.content = widget.NewCard("", title, container.NewBorder(nil, form, nil, nil, l.table))
	return l
}

func (l *accessList) set(entries []source.AccessEntry) {
	l.entries = entries
	rows := make([][]string, len(entries))
	for i, e := range entries {
		rows[i] = []string{e.CIDR, e.Note, e.Added.Local().Format("2006-01-02")}
	}
	l.table.setRows(rows)
	l.remove.Disable()
}

func (l *accessList) fail(m string) {
	l.msg.Importance = widget.DangerImportance
	l.msg.SetText(m)
}

// doAdd checks the entry here (syntax, duplicates) and sends nothing when it is wrong.
func (l *accessList) doAdd(reload func()) {
	cidr, err := parseCIDR(l.cidr.Text)
	if err != nil {
		l.fail(err.Error())
		return
	}
	for _, e := range l.entries {
		if e.CIDR == cidr {
			l.fail(cidr + " is already on this list")
			return
		}
	}
	note := strings.TrimSpace(l.note.Text)
	act(l.s, func(ctx context.Context) error { return l.s.app.AddAccess(ctx, l.list, cidr, note) }, func(err error) {
		if err != nil {
			l.fail(errText("add "+cidr, err))
			return
		}
		l.msg.Importance = widget.SuccessImportance
		l.msg.SetText(cidr + " added")
		l.cidr.SetText("")
		l.note.SetText("")
		reload()
	})
}

func (l *accessList) doRemove(reload func()) {
	row := l.table.selected
	if row < 0 || row >= len(l.entries) {
		return
	}
	cidr := l.entries[row].CIDR
	act(l.s, func(ctx context.Context) error { return l.s.app.RemoveAccess(ctx, l.list, cidr) }, func(err error) {
		if err != nil {
			l.fail(errText("remove "+cidr, err))
			return
		}
		reload()
	})
}

// accessScreen shows allowlist, denylist and bans with their remaining time.
type accessScreen struct {
	s           *session
	allow, deny *accessList
	bans        []source.BanEntry
	banTable    *grid
	banIP       *widget.Entry
	banFor      *widget.Select
	banBtn      *widget.Button
	unbanBtn    *widget.Button
	banMsg      *widget.Label
	content     fyne.CanvasObject
}

func newAccess(s *session) *accessScreen {
	v := &accessScreen{s: s}
	v.allow = newAccessList(s, source.Allowlist, "Allowlist (never banned or rate limited)", v.refresh)
	v.deny = newAccessList(s, source.Denylist, "Denylist (always refused)", v.refresh)
	v.banTable = newGrid([]string{"IP", "Reason", "Remaining"}, []float32{125, 160, 85}, func(int) { v.unbanBtn.Enable() })
	v.banIP = widget.NewEntry()
	v.banIP.SetPlaceHolder("IP to ban")
	v.banFor = widget.NewSelect(banChoices, nil)
	v.banFor.Selected = "24 hours"
	v.banMsg = widget.NewLabel("")
	v.banMsg.Wrapping = fyne.TextWrapWord
	v.banBtn = widget.NewButtonWithIcon("Ban", theme.CancelIcon(), v.doBan)
	v.unbanBtn = widget.NewButtonWithIcon("Lift selected ban", theme.DeleteIcon(), v.doUnban)
	v.unbanBtn.Disable()
	banForm := container.NewVBox(container.NewGridWithColumns(2, v.banIP, v.banFor), container.NewHBox(v.banBtn, v.unbanBtn), v.banMsg)
	bans := widget.NewCard("", "Active bans", container.NewBorder(nil, banForm, nil, nil, v.banTable))
	v.content = container.NewPadded(container.NewGridWithColumns(3, v.allow.content, v.deny.content, bans))
	return v
}

func (v *accessScreen) object() fyne.CanvasObject { return v.content }
func (v *accessScreen) autoRefresh()              {}

func (v *accessScreen) refresh() {
	run(v.s, func(ctx context.Context) (source.AccessLists, error) { return v.s.app.Access(ctx) },
		func(a source.AccessLists, err error) {
			if err != nil {
				v.banMsg.SetText(errText("load access lists", err))
				return
			}
			v.allow.set(a.Allow)
			v.deny.set(a.Deny)
			v.bans = a.Bans
			now := v.s.now()
			rows := make([][]string, len(a.Bans))
			for i, b := range a.Bans {
				rows[i] = []string{b.IP, b.Reason, remaining(b.Until.Sub(now))}
			}
			v.banTable.setRows(rows)
			v.unbanBtn.Disable()
		})
}

// remaining says how long a ban still runs, to the minute.
func remaining(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "< 1m"
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h >= 48:
		return fmt.Sprintf("%dd %dh", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

func (v *accessScreen) doBan() {
	ip, err := netip.ParseAddr(strings.TrimSpace(v.banIP.Text))
	if err != nil {
		v.banMsg.Importance = widget.DangerImportance
		v.banMsg.SetText(fmt.Sprintf("%q is not an IP address", strings.TrimSpace(v.banIP.Text)))
		return
	}
	d := banDuration(v.banFor.Selected)
	act(v.s, func(ctx context.Context) error { return v.s.app.Ban(ctx, ip.String(), d, "manual ban from console") }, func(err error) {
		if err != nil {
			v.banMsg.Importance = widget.DangerImportance
			v.banMsg.SetText(errText("ban "+ip.String(), err))
			return
		}
		v.banMsg.Importance = widget.SuccessImportance
		v.banMsg.SetText(ip.String() + " banned for " + v.banFor.Selected)
		v.banIP.SetText("")
		v.refresh()
	})
}

func (v *accessScreen) doUnban() {
	row := v.banTable.selected
	if row < 0 || row >= len(v.bans) {
		return
	}
	ip := v.bans[row].IP
	act(v.s, func(ctx context.Context) error { return v.s.app.Unban(ctx, ip) }, func(err error) {
		if err != nil {
			v.banMsg.SetText(errText("lift ban on "+ip, err))
			return
		}
		v.refresh()
	})
}
