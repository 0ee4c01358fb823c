package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/core/event"
	"bulwark/ui/source"
)

var windowChoices = []string{"1m", "5m", "15m", "1h", "24h"}

// alertsScreen edits alert rules and channels and shows the alert history.
type alertsScreen struct {
	s *session

	rules     []source.AlertRule
	ruleTable *grid
	editing   string // name of the rule in the editor; "" for a new one
	name      *widget.Entry
	kind      *widget.Select
	minSev    *widget.Select
	threshold *widget.Entry
	window    *widget.Select
	chans     *widget.Entry
	enabled   *widget.Check
	ruleMsg   *widget.Label

	channels  []source.Channel
	chanTable *grid
	chName    *widget.Entry
	chType    *widget.Select
	chTarget  *widget.Entry
	chMsg     *widget.Label
	testBtn   *widget.Button

	history   []source.Alert
	histTable *grid
	ackBtn    *widget.Button
	histMsg   *widget.Label
	content   fyne.CanvasObject
}

func newAlerts(s *session) *alertsScreen {
	v := &alertsScreen{s: s}
	msg := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	v.ruleTable = newGrid([]string{"Rule", "Kind", "Min severity", "Fires at", "Channels", "On"},
		[]float32{120, 95, 95, 90, 130, 40}, func(row int) { v.editRule(v.rules[row]) })
	v.name = widget.NewEntry()
	v.kind = widget.NewSelect(kindChoices, nil)
	v.minSev = widget.NewSelect(severityChoices[1:], nil)
	v.threshold = widget.NewEntry()
	v.window = widget.NewSelect(windowChoices, nil)
	v.chans = widget.NewEntry()
	v.chans.SetPlaceHolder("channel names, comma separated")
	v.enabled = widget.NewCheck("Enabled", nil)
	v.ruleMsg = msg()
	form := widget.NewForm(widget.NewFormItem("Name", v.name), widget.NewFormItem("Kind", v.kind),
		widget.NewFormItem("Min severity", v.minSev), widget.NewFormItem("Events", v.threshold),
		widget.NewFormItem("Within", v.window), widget.NewFormItem("Channels", v.chans), widget.NewFormItem("", v.enabled))
	newRule := widget.NewButtonWithIcon("New rule", theme.ContentAddIcon(), v.newRule)
	saveRule := widget.NewButtonWithIcon("Save rule", theme.DocumentSaveIcon(), v.saveRule)
	delRule := widget.NewButtonWithIcon("Delete rule", theme.DeleteIcon(), v.deleteRule)
	rules := widget.NewCard("", "Rules", container.NewBorder(nil,
		container.NewVBox(form, container.NewHBox(newRule, saveRule, delRule), v.ruleMsg), nil, nil, v.ruleTable))

	v.chanTable = newGrid([]string{"Channel", "Type", "Target"}, []float32{120, 80, 260}, func(row int) {
		c := v.channels[row]
		v.chName.SetText(c.Name)
		v.chType.SetSelected(c.Type)
		v.chTarget.SetText(c.Target)
		v.testBtn.Enable()
	})
	v.chName = widget.NewEntry()
	v.chType = widget.NewSelect([]string{"webhook", "email", "syslog"}, nil)
	v.chTarget = widget.NewEntry()
	v.chTarget.SetPlaceHolder("https://… · ops@example.com · host:514")
	v.chMsg = msg()
	saveCh := widget.NewButtonWithIcon("Save channel", theme.DocumentSaveIcon(), v.saveChannel)
	v.testBtn = widget.NewButtonWithIcon("Send test", theme.MailSendIcon(), v.testChannel)
	v.testBtn.Disable()
	channels := widget.NewCard("", "Channels", container.NewBorder(nil, container.NewVBox(
		widget.NewForm(widget.NewFormItem("Name", v.chName), widget.NewFormItem("Type", v.chType), widget.NewFormItem("Target", v.chTarget)),
		container.NewHBox(saveCh, v.testBtn), v.chMsg), nil, nil, v.chanTable))

	v.histTable = newGrid([]string{"Fired", "Rule", "Severity", "Summary", "State"},
		[]float32{140, 120, 80, 320, 120}, func(row int) { setEnabled(v.ackBtn, !v.history[row].Acked) })
	v.ackBtn = widget.NewButtonWithIcon("Acknowledge", theme.ConfirmIcon(), v.acknowledge)
	v.ackBtn.Disable()
	v.histMsg = msg()
	history := widget.NewCard("", "History", container.NewBorder(nil, container.NewHBox(v.ackBtn, v.histMsg), nil, nil, v.histTable))

	top := container.NewHSplit(rules, channels)
	top.Offset = 0.55
	split := container.NewVSplit(top, history)
	split.Offset = 0.7
	v.content = container.NewPadded(split)
	v.newRule()
	return v
}

func (v *alertsScreen) object() fyne.CanvasObject { return v.content }

func (v *alertsScreen) refresh() {
	run(v.s, func(ctx context.Context) ([]source.AlertRule, error) { return v.s.app.AlertRules(ctx) },
		func(rs []source.AlertRule, err error) {
			if err != nil {
				v.ruleMsg.SetText(errText("load rules", err))
				return
			}
			v.rules = rs
			rows := make([][]string, len(rs))
			for i, r := range rs {
				kind := string(r.Kind)
				if kind == "" {
					kind = anyChoice
				}
				rows[i] = []string{r.Name, kind, string(r.MinSeverity), fmt.Sprintf("%d in %s", r.Threshold, shortDur(r.Window)),
					strings.Join(r.Channels, ", "), map[bool]string{true: "yes", false: "no"}[r.Enabled]}
			}
			v.ruleTable.setRows(rows)
		})
	run(v.s, func(ctx context.Context) ([]source.Channel, error) { return v.s.app.Channels(ctx) },
		func(cs []source.Channel, err error) {
			if err != nil {
				return
			}
			v.channels = cs
			rows := make([][]string, len(cs))
			for i, c := range cs {
				rows[i] = []string{c.Name, c.Type, c.Target}
			}
			v.chanTable.setRows(rows)
			v.testBtn.Disable()
		})
	run(v.s, func(ctx context.Context) ([]source.Alert, error) { return v.s.app.AlertHistory(ctx, 500) },
		func(as []source.Alert, err error) {
			if err != nil {
				v.histMsg.SetText(errText("load history", err))
				return
			}
			v.setHistory(as)
		})
}

func (v *alertsScreen) setHistory(as []source.Alert) {
	v.history = as
	rows := make([][]string, len(as))
	for i, a := range as {
		state := "open"
		if a.Acked {
			state = "acked by " + a.AckedBy
		}
		rows[i] = []string{a.Fired.Local().Format("2006-01-02 15:04"), a.Rule, string(a.Severity), a.Summary, state}
	}
	v.histTable.setRows(rows)
	v.ackBtn.Disable()
}

func shortDur(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func (v *alertsScreen) newRule() {
	v.editing = ""
	v.name.SetText("")
	v.kind.SetSelected(anyChoice)
	v.minSev.SetSelected("high")
	v.threshold.SetText("10")
	v.window.SetSelected("5m")
	v.chans.SetText("")
	v.enabled.SetChecked(true)
	v.ruleMsg.SetText("")
}

func (v *alertsScreen) editRule(r source.AlertRule) {
	v.editing = r.Name
	v.name.SetText(r.Name)
	kind := string(r.Kind)
	if kind == "" {
		kind = anyChoice
	}
	v.kind.SetSelected(kind)
	v.minSev.SetSelected(string(r.MinSeverity))
	v.threshold.SetText(strconv.Itoa(r.Threshold))
	v.window.SetSelected(shortDur(r.Window))
	v.chans.SetText(strings.Join(r.Channels, ", "))
	v.enabled.SetChecked(r.Enabled)
	v.ruleMsg.SetText("")
}

// ruleFromForm validates the editor; a name another rule already has is refused here.
func (v *alertsScreen) ruleFromForm() (source.AlertRule, error) {
	r := source.AlertRule{Name: strings.TrimSpace(v.name.Text), Kind: event.Kind(choice(v.kind)),
		MinSeverity: event.Severity(v.minSev.Selected), Enabled: v.enabled.Checked}
	if r.Name == "" {
		return r, fmt.Errorf("name: give the rule a name")
	}
	for _, x := range v.rules {
		if strings.EqualFold(x.Name, r.Name) && x.Name != v.editing {
			return r, fmt.Errorf("name: a rule named %q exists already; pick another name or select it to edit", x.Name)
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.threshold.Text))
	if err != nil || n < 1 || n > 1000000 {
		return r, fmt.Errorf("events: %q must be a whole number from 1 to 1000000", strings.TrimSpace(v.threshold.Text))
	}
	r.Threshold = n
	w, err := time.ParseDuration(v.window.Selected)
	if err != nil {
		return r, fmt.Errorf("within: choose a window")
	}
	r.Window = w
	known := map[string]bool{}
	for _, c := range v.channels {
		known[c.Name] = true
	}
	for _, c := range splitList(v.chans.Text) {
		if !known[c] {
			return r, fmt.Errorf("channels: no channel named %q", c)
		}
		r.Channels = append(r.Channels, c)
	}
	return r, nil
}

func (v *alertsScreen) fail(l *widget.Label, m string) {
	l.Importance = widget.DangerImportance
	l.SetText(m)
}

func (v *alertsScreen) ok(l *widget.Label, m string) {
	l.Importance = widget.SuccessImportance
	l.SetText(m)
}

func (v *alertsScreen) saveRule() {
	r, err := v.ruleFromForm()
	if err != nil {
		v.fail(v.ruleMsg, err.Error())
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SaveAlertRule(ctx, r) }, func(err error) {
		if err != nil {
			v.fail(v.ruleMsg, errText("save rule", err))
			return
		}
		v.editing = r.Name
		v.ok(v.ruleMsg, "rule "+r.Name+" saved")
		v.refresh()
	})
}

func (v *alertsScreen) deleteRule() {
	name := v.editing
	if name == "" {
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.DeleteAlertRule(ctx, name) }, func(err error) {
		if err != nil {
			v.fail(v.ruleMsg, errText("delete rule", err))
			return
		}
		v.newRule()
		v.refresh()
	})
}

func (v *alertsScreen) saveChannel() {
	c := source.Channel{Name: strings.TrimSpace(v.chName.Text), Type: v.chType.Selected, Target: strings.TrimSpace(v.chTarget.Text)}
	switch {
	case c.Name == "":
		v.fail(v.chMsg, "name: give the channel a name")
		return
	case c.Type == "":
		v.fail(v.chMsg, "type: choose webhook, email or syslog")
		return
	case c.Type == "webhook" && !strings.HasPrefix(c.Target, "https://") && !strings.HasPrefix(c.Target, "http://"):
		v.fail(v.chMsg, fmt.Sprintf("target: %q is not an http(s) URL", c.Target))
		return
	case c.Type == "email" && !strings.Contains(c.Target, "@"):
		v.fail(v.chMsg, fmt.Sprintf("target: %q is not an e-mail address", c.Target))
		return
	case c.Type == "syslog" && !strings.Contains(c.Target, ":"):
		v.fail(v.chMsg, fmt.Sprintf("target: %q is not host:port", c.Target))
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SaveChannel(ctx, c) }, func(err error) {
		if err != nil {
			v.fail(v.chMsg, errText("save channel", err))
			return
		}
		v.ok(v.chMsg, "channel "+c.Name+" saved")
		v.refresh()
	})
}

func (v *alertsScreen) testChannel() {
	row := v.chanTable.selected
	if row < 0 || row >= len(v.channels) {
		return
	}
	name := v.channels[row].Name
	v.chMsg.Importance = widget.MediumImportance
	v.chMsg.SetText("sending a test alert to " + name + "…")
	act(v.s, func(ctx context.Context) error { return v.s.app.TestChannel(ctx, name) }, func(err error) {
		if err != nil {
			v.fail(v.chMsg, errText("test "+name, err))
			return
		}
		v.ok(v.chMsg, "test alert delivered to "+name)
	})
}

func (v *alertsScreen) acknowledge() {
	row := v.histTable.selected
	if row < 0 || row >= len(v.history) {
		return
	}
	id := v.history[row].ID
	act(v.s, func(ctx context.Context) error { return v.s.app.Acknowledge(ctx, id) }, func(err error) {
		if err != nil {
			v.fail(v.histMsg, errText("acknowledge", err))
			return
		}
		v.ok(v.histMsg, fmt.Sprintf("alert %d acknowledged", id))
		v.refresh()
	})
}

// pollAlerts raises a desktop notification for each open alert not seen before. The first
// poll of a session only learns what is already there.
func (s *session) pollAlerts() {
	run(s, func(ctx context.Context) ([]source.Alert, error) { return s.app.AlertHistory(ctx, 50) },
		func(as []source.Alert, err error) {
			if err != nil {
				return
			}
			first := s.seenAlerts == nil
			if first {
				s.seenAlerts = map[int64]bool{}
			}
			for _, a := range as {
				if s.seenAlerts[a.ID] {
					continue
				}
				s.seenAlerts[a.ID] = true
				if !first && !a.Acked {
					s.c.opt.Notify(fyne.NewNotification(fmt.Sprintf("Bulwark %s: %s", s.bundle.Label, a.Rule), a.Summary))
				}
			}
		})
}
