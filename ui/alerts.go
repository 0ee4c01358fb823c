package ui

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
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

// Choices of the alert editors, as the operator reads them.
var (
	ruleTypeChoices = []string{string(source.RuleThreshold), string(source.RuleSpike), string(source.RuleAny)}
	ruleTypeHelp    = map[string]string{
		string(source.RuleThreshold): "Fires when this many matching events arrive within the window.",
		string(source.RuleSpike):     "Fires when the last window holds factor × the previous hour's average per window.",
		string(source.RuleAny):       "Fires on every matching event (e.g. each sandbox_crash or admin_auth).",
	}
	groupChoices = []string{"none", "ip", "app"}
	// securityChoices label securityValues (source.Security*), in the same order.
	securityChoices  = []string{"STARTTLS", "TLS (implicit, port 465)", "none (trusted local relay)"}
	securityValues   = []string{source.SecuritySTARTTLS, source.SecurityTLS, source.SecurityNone}
	syslogNetChoices = []string{"udp", "tcp", "tls"}
	// channelNameRE is the appliance's rule for channel names (core/alerts).
	channelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// alertsScreen edits alert rules and channels and shows the alert history, one tab each.
type alertsScreen struct {
	s    *session
	tabs *container.AppTabs

	rules     []source.AlertRule
	ruleTable *grid
	editing   string // name of the rule in the editor; "" for a new one
	editingID string // its id on the appliance
	name      *widget.Entry
	rtype     *widget.Select
	rtypeHelp *widget.Label
	kind      *widget.Select
	minSev    *widget.Select
	// threshold
	threshold, thWindow *widget.Entry
	// spike
	factor, minCount, spWindow *widget.Entry
	ruleForm                   *formRows
	groupBy                    *widget.Select
	suppress                   *widget.Entry
	chans                      *widget.Entry
	enabled                    *widget.Check
	ruleErrs                   *fieldErrors
	ruleMsg                    *widget.Label

	channels  []source.Channel
	chanTable *grid
	chLoaded  source.Channel // the saved channel in the editor (Name "" for a new one)
	chName    *widget.Entry
	chType    *widget.Select
	chForm    *formRows
	// webhook
	whURL, whSecret, whTimeout, whRetries, whCA *widget.Entry
	whSign                                      *widget.Check
	// e-mail
	mHost, mPort, mUser, mPass, mFrom, mTo, mCA *widget.Entry
	mSec                                        *widget.Select
	// syslog
	slHost, slPort, slFacility, slApp, slCA *widget.Entry
	slNet                                   *widget.Select
	chErrs                                  *fieldErrors
	chMsg                                   *widget.Label
	testBtn, delChBtn                       *widget.Button

	history   []source.Alert
	histTable *grid
	ackBtn    *widget.Button
	histMsg   *widget.Label
	content   fyne.CanvasObject
}

func msgLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	return l
}

func entry(placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	return e
}

func newAlerts(s *session) *alertsScreen {
	v := &alertsScreen{s: s}
	v.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Rules", theme.WarningIcon(), v.buildRules()),
		container.NewTabItemWithIcon("Channels", theme.MailSendIcon(), v.buildChannels()),
		container.NewTabItemWithIcon("History", theme.HistoryIcon(), v.buildHistory()),
	)
	v.content = container.NewPadded(v.tabs)
	v.newRule()
	v.newChannel()
	return v
}

func (v *alertsScreen) buildRules() fyne.CanvasObject {
	v.ruleTable = newGrid([]string{"Rule", "Type", "Watches", "Fires when", "Group", "Channels", "On"},
		[]float32{110, 80, 110, 170, 50, 110, 40}, func(row int) { v.editRule(v.rules[row]) })
	v.ruleErrs = newFieldErrors()
	e := v.ruleErrs
	v.name = widget.NewEntry()
	v.rtypeHelp = msgLabel()
	v.rtype = widget.NewSelect(ruleTypeChoices, func(t string) { v.showRuleType(t) })
	v.kind = widget.NewSelect(kindChoices, nil)
	v.minSev = widget.NewSelect(severityChoices[1:], nil)
	v.threshold = entry("events, 1 to 100000")
	v.thWindow = entry("e.g. 1m, 5m, 1h (1s to 24h)")
	v.factor = entry("e.g. 3 (three times the usual rate)")
	v.minCount = entry("0: any count")
	v.spWindow = entry("whole minutes, 1m to 1h (default 5m)")
	v.groupBy = widget.NewSelect(groupChoices, nil)
	v.suppress = entry("empty: the appliance's default (10m)")
	v.chans = entry("channel names, comma separated")
	v.enabled = widget.NewCheck("Enabled", nil)
	v.ruleMsg = msgLabel()
	note := func(text string) *widget.Label {
		l := widget.NewLabel(text)
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	f := newFormRows()
	f.add("", "Name", e.wrap("name", v.name))
	f.add("", "Type", e.wrap("type", v.rtype))
	f.add("", "", v.rtypeHelp)
	f.add("", "Event kind", e.wrap("match.kind", v.kind))
	f.add("", "Min severity", e.wrap("match.severity", v.minSev))
	f.add(string(source.RuleThreshold), "Events", e.wrap("threshold", v.threshold))
	f.add(string(source.RuleThreshold), "Within", e.wrap("threshold.window", v.thWindow))
	f.add(string(source.RuleSpike), "Factor", e.wrap("factor", v.factor))
	f.add(string(source.RuleSpike), "Min events", e.wrap("min_count", v.minCount))
	f.add(string(source.RuleSpike), "Window", e.wrap("spike.window", v.spWindow))
	f.add(string(source.RuleAny), "", note("No count or window: every matching event fires (the quiet time still applies per group)."))
	f.add("", "Group by", e.wrap("group_by", v.groupBy))
	f.add("", "Quiet for", e.wrap("suppress", v.suppress))
	f.add("", "Channels", e.wrap("channels", v.chans))
	f.add("", "", v.enabled)
	v.ruleForm = f
	newRule := widget.NewButtonWithIcon("New rule", theme.ContentAddIcon(), v.newRule)
	saveRule := widget.NewButtonWithIcon("Save rule", theme.DocumentSaveIcon(), v.saveRule)
	delRule := widget.NewButtonWithIcon("Delete rule", theme.DeleteIcon(), v.deleteRule)
	editor := widget.NewCard("", "Rule", container.NewVScroll(container.NewVBox(f.box,
		container.NewHBox(newRule, saveRule, delRule), v.ruleMsg)))
	split := container.NewHSplit(widget.NewCard("", "Rules", v.ruleTable), editor)
	split.Offset = 0.58
	return split
}

func (v *alertsScreen) buildChannels() fyne.CanvasObject {
	v.chanTable = newGrid([]string{"Channel", "Type", "Target"}, []float32{120, 85, 300}, func(row int) {
		v.editChannel(v.channels[row])
	})
	v.chErrs = newFieldErrors()
	e := v.chErrs
	v.chName = widget.NewEntry()
	v.chType = widget.NewSelect(source.ChannelTypes, func(t string) { v.showChannelType(t) })

	v.whURL = entry("https://hooks.example.com/bulwark")
	v.whSign = widget.NewCheck("Sign posts (HMAC-SHA256, X-Bulwark-Signature)", func(on bool) { setEnabled(v.whSecret, on) })
	v.whSecret = widget.NewPasswordEntry()
	v.whTimeout = entry("per attempt, default 5s")
	v.whRetries = entry("extra attempts, 1 to 10; empty: the appliance's 3")
	v.whCA = multiline("PEM of a private CA for the URL (optional)")

	v.mHost = entry("smtp.example.com")
	v.mPort = entry("587")
	v.mSec = widget.NewSelect(securityChoices, v.securityChanged)
	v.mUser = entry("empty: no authentication")
	v.mPass = widget.NewPasswordEntry()
	v.mFrom = entry("bulwark@example.com")
	v.mTo = entry("ops@example.com, oncall@example.com")
	v.mCA = multiline("PEM of a private CA for the server's certificate (optional)")

	v.slNet = widget.NewSelect(syslogNetChoices, nil)
	v.slHost = entry("logs.example.com")
	v.slPort = entry("514 (6514 for tls)")
	v.slFacility = entry("1 to 23; empty: 4 (auth)")
	v.slApp = entry("default bulwark")
	v.slCA = multiline("PEM of a private CA for tls (optional)")

	f := newFormRows()
	f.add("", "Name", e.wrap("name", v.chName))
	f.add("", "Type", e.wrap("type", v.chType))
	wh, em, sl := source.ChannelWebhook, source.ChannelEmail, source.ChannelSyslog
	f.add(wh, "URL", e.wrap("webhook.url", v.whURL))
	f.add(wh, "", v.whSign)
	f.add(wh, "Secret", e.wrap("webhook.secret", v.whSecret))
	f.add(wh, "Timeout", e.wrap("webhook.timeout", v.whTimeout))
	f.add(wh, "Retries", e.wrap("webhook.retries", v.whRetries))
	f.add(wh, "CA", e.wrap("webhook.ca_cert", v.whCA))
	f.add(em, "Server", e.wrap("smtp.addr", v.mHost))
	f.add(em, "Port", e.wrap("smtp.port", v.mPort))
	f.add(em, "Security", e.wrap("smtp.insecure", v.mSec))
	e.labels["smtp.tls"] = e.labels["smtp.insecure"] // the appliance names either for the security choice
	f.add(em, "User", e.wrap("smtp.username", v.mUser))
	f.add(em, "Password", e.wrap("smtp.password", v.mPass))
	f.add(em, "From", e.wrap("smtp.from", v.mFrom))
	f.add(em, "To", e.wrap("smtp.to", v.mTo))
	f.add(em, "CA", e.wrap("smtp.ca_cert", v.mCA))
	f.add(sl, "Transport", e.wrap("syslog.network", v.slNet))
	f.add(sl, "Server", e.wrap("syslog.addr", v.slHost))
	f.add(sl, "Port", e.wrap("syslog.port", v.slPort))
	f.add(sl, "Facility", e.wrap("syslog.facility", v.slFacility))
	f.add(sl, "App name", e.wrap("syslog.app_name", v.slApp))
	f.add(sl, "CA", e.wrap("syslog.ca_cert", v.slCA))
	consoleNote := widget.NewLabel("Alerts go to the appliance's live stream: every connected console shows them.")
	consoleNote.Wrapping = fyne.TextWrapWord
	f.add(source.ChannelConsole, "", consoleNote)
	v.chForm = f
	v.chMsg = msgLabel()
	newCh := widget.NewButtonWithIcon("New channel", theme.ContentAddIcon(), v.newChannel)
	saveCh := widget.NewButtonWithIcon("Save channel", theme.DocumentSaveIcon(), v.saveChannel)
	v.testBtn = widget.NewButtonWithIcon("Send test", theme.MailSendIcon(), v.testChannel)
	v.testBtn.Disable()
	v.delChBtn = widget.NewButtonWithIcon("Delete channel", theme.DeleteIcon(), v.deleteChannel)
	v.delChBtn.Disable()
	editor := widget.NewCard("", "Channel", container.NewVScroll(container.NewVBox(f.box,
		container.NewHBox(newCh, saveCh, v.testBtn, v.delChBtn), v.chMsg)))
	split := container.NewHSplit(widget.NewCard("", "Channels", v.chanTable), editor)
	split.Offset = 0.5
	return split
}

func multiline(placeholder string) *widget.Entry {
	e := widget.NewMultiLineEntry()
	e.SetPlaceHolder(placeholder)
	e.SetMinRowsVisible(2)
	e.Wrapping = fyne.TextWrapOff
	return e
}

func (v *alertsScreen) buildHistory() fyne.CanvasObject {
	v.histTable = newGrid([]string{"Fired", "Rule", "Severity", "Summary", "State"},
		[]float32{140, 140, 80, 520, 160}, func(row int) { setEnabled(v.ackBtn, !v.history[row].Acked) })
	v.ackBtn = widget.NewButtonWithIcon("Acknowledge", theme.ConfirmIcon(), v.acknowledge)
	v.ackBtn.Disable()
	v.histMsg = msgLabel()
	return container.NewBorder(nil, container.NewHBox(v.ackBtn, v.histMsg), nil, nil, v.histTable)
}

func (v *alertsScreen) object() fyne.CanvasObject { return v.content }

// pickFirst fills the shown tab's editor (or selection) from its first row.
func (v *alertsScreen) pickFirst() {
	switch v.tabs.Selected().Text {
	case "Rules":
		if len(v.rules) > 0 {
			v.ruleTable.pick(0)
		}
	case "Channels":
		// The richest channel shows the most of the editor: e-mail first.
		for i, c := range v.channels {
			if c.Type == source.ChannelEmail {
				v.chanTable.pick(i)
				return
			}
		}
		if len(v.channels) > 0 {
			v.chanTable.pick(0)
		}
	case "History":
		if len(v.history) > 0 {
			v.histTable.pick(0)
		}
	}
}

func (v *alertsScreen) tabTitles() []string {
	var out []string
	for _, it := range v.tabs.Items {
		out = append(out, it.Text)
	}
	return out
}

// showTab shows the tab with that title ("Rules", "Channels", "History").
func (v *alertsScreen) showTab(title string) {
	for i, it := range v.tabs.Items {
		if it.Text == title {
			v.tabs.SelectIndex(i)
		}
	}
}

func (v *alertsScreen) summary() string {
	open := 0
	for _, a := range v.history {
		if !a.Acked {
			open++
		}
	}
	var rules []string
	for _, r := range v.ruleTable.rows {
		rules = append(rules, strings.Join(r, "|"))
	}
	var chans []string
	for _, c := range v.chanTable.rows {
		chans = append(chans, strings.Join(c, "|"))
	}
	return fmt.Sprintf("tab=%q rules=%q channels=%q open=%d rule_msg=%q rule_errors=%q channel_msg=%q channel_errors=%q",
		v.tabs.Selected().Text, rules, chans, open, v.ruleMsg.Text, v.ruleErrs.shown(), v.chMsg.Text, v.chErrs.shown())
}

func ruleType(r source.AlertRule) source.RuleType {
	if r.Type == "" {
		return source.RuleThreshold
	}
	return r.Type
}

// firesWhen is the rule's condition in a few words, for the table.
func firesWhen(r source.AlertRule) string {
	switch ruleType(r) {
	case source.RuleSpike:
		s := fmt.Sprintf("%g× usual per %s", r.Factor, shortDur(r.Window))
		if r.MinCount > 0 {
			s += fmt.Sprintf(", ≥%d", r.MinCount)
		}
		return s
	case source.RuleAny:
		return "every event"
	}
	return fmt.Sprintf("%d in %s", r.Threshold, shortDur(r.Window))
}

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
				watch := string(r.Kind)
				if watch == "" {
					watch = anyChoice
				}
				if r.MinSeverity != "" {
					watch += " ≥ " + string(r.MinSeverity)
				}
				group := r.GroupBy
				if group == "" {
					group = "-"
				}
				rows[i] = []string{r.Name, string(ruleType(r)), watch, firesWhen(r), group,
					strings.Join(r.Channels, ", "), map[bool]string{true: "yes", false: "no"}[r.Enabled]}
			}
			v.ruleTable.setRows(rows)
		})
	run(v.s, func(ctx context.Context) ([]source.Channel, error) { return v.s.app.Channels(ctx) },
		func(cs []source.Channel, err error) {
			if err != nil {
				v.chMsg.SetText(errText("load channels", err))
				return
			}
			v.channels = cs
			rows := make([][]string, len(cs))
			for i, c := range cs {
				rows[i] = []string{c.Name, c.Type, c.Target}
			}
			v.chanTable.setRows(rows)
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
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durText is a duration for an entry: "" for zero.
func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return shortDur(d)
}

func (v *alertsScreen) showRuleType(t string) {
	v.ruleForm.showOnly(t)
	v.rtypeHelp.SetText(ruleTypeHelp[t])
	v.ruleErrs.scope = t
}

func (v *alertsScreen) newRule() {
	v.editRule(source.AlertRule{Type: source.RuleThreshold, MinSeverity: event.High, Threshold: 10, Window: 5 * time.Minute, Enabled: true})
	v.editing, v.editingID = "", ""
}

func (v *alertsScreen) editRule(r source.AlertRule) {
	v.editing, v.editingID = r.Name, r.ID
	v.name.SetText(r.Name)
	v.rtype.SetSelected(string(ruleType(r)))
	kind := string(r.Kind)
	if kind == "" {
		kind = anyChoice
	}
	v.kind.SetSelected(kind)
	sev := string(r.MinSeverity)
	if sev == "" {
		sev = "info"
	}
	v.minSev.SetSelected(sev)
	v.threshold.SetText("")
	v.thWindow.SetText("")
	v.factor.SetText("")
	v.minCount.SetText("")
	v.spWindow.SetText("")
	switch ruleType(r) {
	case source.RuleThreshold:
		v.threshold.SetText(strconv.Itoa(r.Threshold))
		v.thWindow.SetText(durText(r.Window))
	case source.RuleSpike:
		v.factor.SetText(strconv.FormatFloat(r.Factor, 'g', -1, 64))
		v.minCount.SetText(strconv.Itoa(r.MinCount))
		v.spWindow.SetText(durText(r.Window))
	}
	group := r.GroupBy
	if group == "" {
		group = "none"
	}
	v.groupBy.SetSelected(group)
	v.suppress.SetText(durText(r.Suppress))
	v.chans.SetText(strings.Join(r.Channels, ", "))
	v.enabled.SetChecked(r.Enabled)
	v.ruleErrs.clear()
	v.ruleMsg.SetText("")
}

// parseDur reads an optional duration entry between lo and hi.
func parseDur(text string, lo, hi time.Duration) (time.Duration, string) {
	d, err := time.ParseDuration(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Sprintf("%q is not a duration (e.g. 30s, 5m, 1h)", strings.TrimSpace(text))
	}
	if d < lo || d > hi {
		return 0, fmt.Sprintf("must be from %s to %s", shortDur(lo), shortDur(hi))
	}
	return d, ""
}

// wholeNumber reads an integer entry between lo and hi; empty reads as def.
func wholeNumber(text string, def, lo, hi int) (int, string) {
	t := strings.TrimSpace(text)
	if t == "" {
		return def, ""
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Sprintf("%q must be a whole number from %d to %d", t, lo, hi)
	}
	return n, ""
}

// ruleFromForm reads the editor; each problem is reported against its field. A name
// another rule already has is refused here.
func (v *alertsScreen) ruleFromForm() (source.AlertRule, []*source.FieldError) {
	var errs []*source.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &source.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	r := source.AlertRule{ID: v.editingID, Name: strings.TrimSpace(v.name.Text), Type: source.RuleType(v.rtype.Selected),
		Kind: event.Kind(choice(v.kind)), MinSeverity: event.Severity(v.minSev.Selected), Enabled: v.enabled.Checked}
	switch {
	case r.Name == "":
		bad("name", "give the rule a name")
	case len(r.Name) > 200:
		bad("name", "at most 200 characters")
	}
	for _, x := range v.rules {
		if r.Name != "" && strings.EqualFold(x.Name, r.Name) && x.Name != v.editing {
			bad("name", "a rule named %q exists already; pick another name or select it to edit", x.Name)
		}
	}
	var msg string
	switch r.Type {
	case source.RuleThreshold:
		if r.Threshold, msg = wholeNumber(v.threshold.Text, -1, 1, 100000); msg != "" || r.Threshold < 0 {
			bad("threshold", "%s", orText(msg, "how many events fire the rule (1 to 100000)"))
		}
		if r.Window, msg = parseDur(v.thWindow.Text, time.Second, 24*time.Hour); msg != "" {
			bad("window", "%s", msg)
		}
	case source.RuleSpike:
		t := strings.TrimSpace(v.factor.Text)
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || f <= 1 || f > 1000 {
			bad("factor", "%q must be a number above 1 and at most 1000 (e.g. 3 for three times the usual rate)", t)
		}
		r.Factor = f
		if r.MinCount, msg = wholeNumber(v.minCount.Text, 0, 0, 1000000); msg != "" {
			bad("min_count", "%s", msg)
		}
		r.Window = 5 * time.Minute
		if strings.TrimSpace(v.spWindow.Text) != "" {
			if r.Window, msg = parseDur(v.spWindow.Text, time.Minute, time.Hour); msg != "" {
				bad("window", "%s", msg)
			} else if r.Window%time.Minute != 0 {
				bad("window", "a spike window is a whole number of minutes")
			}
		}
	case source.RuleAny:
	default:
		bad("type", "choose threshold, spike or any")
	}
	if g := v.groupBy.Selected; g != "none" {
		r.GroupBy = g
	}
	if strings.TrimSpace(v.suppress.Text) != "" {
		if r.Suppress, msg = parseDur(v.suppress.Text, time.Second, 7*24*time.Hour); msg != "" {
			bad("suppress", "%s", msg)
		}
	}
	known := map[string]bool{}
	for _, c := range v.channels {
		known[c.Name] = true
	}
	r.Channels = splitNames(v.chans.Text)
	if len(r.Channels) == 0 {
		bad("channels", "name at least one channel (create it on the Channels tab)")
	}
	for _, c := range r.Channels {
		if !known[c] {
			bad("channels", "no channel named %q", c)
		}
	}
	return r, errs
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (v *alertsScreen) fail(l *widget.Label, m string) {
	l.Importance = widget.DangerImportance
	l.SetText(m)
}

func (v *alertsScreen) ok(l *widget.Label, m string) {
	l.Importance = widget.SuccessImportance
	l.SetText(m)
}

// showErrors puts each error beside its field and says so below the buttons.
func showErrors(fe *fieldErrors, msg *widget.Label, errs []*source.FieldError, v *alertsScreen) {
	fe.clear()
	rest := fe.showAll(errs)
	text := "nothing sent: fix the marked fields"
	if len(rest) > 0 {
		text = "nothing sent: " + strings.Join(rest, "; ")
	}
	v.fail(msg, text)
}

func (v *alertsScreen) saveRule() {
	r, errs := v.ruleFromForm()
	v.submit(v.ruleErrs, v.ruleMsg, "rule", errs, func(ctx context.Context) error { return v.s.app.SaveAlertRule(ctx, r) }, func() {
		v.editing = r.Name
		v.ok(v.ruleMsg, "rule "+r.Name+" saved")
		v.refresh()
	})
}

// submit sends a form's value when the local checks found nothing, and shows the errors
// (local, or the appliance's naming a field) beside their fields; saved runs on success.
func (v *alertsScreen) submit(fe *fieldErrors, msg *widget.Label, what string, errs []*source.FieldError, call func(context.Context) error, saved func()) {
	if len(errs) > 0 {
		showErrors(fe, msg, errs, v)
		return
	}
	fe.clear()
	act(v.s, call, func(err error) {
		if err != nil {
			if fe.fromAppliance(err) {
				v.fail(msg, "the appliance refused the "+what+": see the marked field")
				return
			}
			v.fail(msg, errText("save "+what, err))
			return
		}
		saved()
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

func (v *alertsScreen) showChannelType(t string) { v.chForm.showOnly(t) }

// securityChoice is the label of a source.Security* value; an unknown or empty one reads
// as STARTTLS, the appliance's default.
func securityChoice(value string) string {
	for i, s := range securityValues {
		if s == value {
			return securityChoices[i]
		}
	}
	return securityChoices[0]
}

// securityValue is the source.Security* value of a label.
func securityValue(label string) string {
	for i, c := range securityChoices {
		if c == label {
			return securityValues[i]
		}
	}
	return source.SecuritySTARTTLS
}

// securityChanged follows the choice with the port when the port is still the other mode's
// standard one (or empty), so switching to implicit TLS does not leave 587 behind.
func (v *alertsScreen) securityChanged(label string) {
	if v.mPort == nil {
		return
	}
	switch p := strings.TrimSpace(v.mPort.Text); securityValue(label) {
	case source.SecurityTLS:
		if p == "" || p == "587" {
			v.mPort.SetText("465")
		}
	case source.SecuritySTARTTLS:
		if p == "465" {
			v.mPort.SetText("587")
		}
	}
}

func (v *alertsScreen) newChannel() {
	v.editChannel(source.Channel{Type: source.ChannelEmail, Email: &source.EmailSettings{Port: 587, Security: source.SecuritySTARTTLS}})
}

// editChannel loads c into the editor. Stored secrets never come back from the appliance:
// their fields stay empty and say whether one is stored.
func (v *alertsScreen) editChannel(c source.Channel) {
	v.chLoaded = c
	v.chName.SetText(c.Name)
	v.chType.SetSelected(c.Type)
	for _, e := range []*widget.Entry{v.whURL, v.whSecret, v.whTimeout, v.whRetries, v.whCA, v.mHost, v.mPort, v.mUser,
		v.mPass, v.mFrom, v.mTo, v.mCA, v.slHost, v.slPort, v.slFacility, v.slApp, v.slCA} {
		e.SetText("")
	}
	v.whSign.SetChecked(false)
	setEnabled(v.whSecret, false)
	v.whSecret.SetPlaceHolder("shared secret the receiver checks")
	v.mPass.SetPlaceHolder("empty: none")
	v.mSec.SetSelected(securityChoice(source.SecuritySTARTTLS))
	v.slNet.SetSelected("udp")
	if w := c.Webhook; w != nil {
		v.whURL.SetText(w.URL)
		v.whSign.SetChecked(w.SecretSet)
		if w.SecretSet {
			v.whSecret.SetPlaceHolder("stored (never shown): leave empty to keep it")
		}
		v.whTimeout.SetText(durText(w.Timeout))
		if w.Retries != 0 {
			v.whRetries.SetText(strconv.Itoa(w.Retries))
		}
		v.whCA.SetText(w.CACert)
	}
	if m := c.Email; m != nil {
		v.mHost.SetText(m.Host)
		if m.Port != 0 {
			v.mPort.SetText(strconv.Itoa(m.Port))
		}
		v.mSec.SetSelected(securityChoice(m.Security))
		v.mUser.SetText(m.Username)
		if m.PasswordSet {
			v.mPass.SetPlaceHolder("stored (never shown): leave empty to keep it")
		}
		v.mFrom.SetText(m.From)
		v.mTo.SetText(strings.Join(m.To, ", "))
		v.mCA.SetText(m.CACert)
	}
	if s := c.Syslog; s != nil {
		v.slNet.SetSelected(s.Network)
		v.slHost.SetText(s.Host)
		if s.Port != 0 {
			v.slPort.SetText(strconv.Itoa(s.Port))
		}
		if s.Facility != 0 {
			v.slFacility.SetText(strconv.Itoa(s.Facility))
		}
		v.slApp.SetText(s.AppName)
		v.slCA.SetText(s.CACert)
	}
	setEnabled(v.testBtn, c.Name != "")
	setEnabled(v.delChBtn, c.Name != "")
	v.chErrs.clear()
	v.chMsg.SetText("")
}

func checkPEM(text string) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(text)) {
		return "no PEM certificate found (paste the CA's -----BEGIN CERTIFICATE----- block)"
	}
	return ""
}

func checkHost(text string) string {
	h := strings.TrimSpace(text)
	if h == "" {
		return "the server's host name or address"
	}
	if strings.ContainsAny(h, " /:\t") && !strings.HasPrefix(h, "[") {
		return fmt.Sprintf("%q is not a host name (the port has its own field)", h)
	}
	return ""
}

func mailAddress(a string) bool {
	return strings.Count(a, "@") == 1 && !strings.HasPrefix(a, "@") && !strings.HasSuffix(a, "@") && !strings.ContainsAny(a, "\r\n<> ,;")
}

// channelFromForm reads the editor; each problem is reported against its field.
func (v *alertsScreen) channelFromForm() (source.Channel, []*source.FieldError) {
	var errs []*source.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &source.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := source.Channel{Name: strings.TrimSpace(v.chName.Text), Type: v.chType.Selected}
	if !channelNameRE.MatchString(c.Name) {
		bad("name", "%q: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Name)
	}
	old := v.chLoaded
	if old.Name != c.Name || old.Type != c.Type {
		old = source.Channel{} // a new channel, or another type: nothing is stored for it
	}
	switch c.Type {
	case source.ChannelWebhook:
		w := &source.WebhookSettings{URL: strings.TrimSpace(v.whURL.Text), CACert: strings.TrimSpace(v.whCA.Text)}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhook.url", "%q is not an http(s) URL", w.URL)
		}
		if v.whSign.Checked {
			w.Secret = v.whSecret.Text
			if w.Secret == "" {
				if old.Webhook != nil && old.Webhook.SecretSet {
					w.SecretSet = true // keep the stored secret
				} else {
					bad("webhook.secret", "type the secret the receiver checks (or untick signing)")
				}
			}
		}
		var msg string
		if t := strings.TrimSpace(v.whTimeout.Text); t != "" {
			if w.Timeout, msg = parseDur(t, 100*time.Millisecond, time.Minute); msg != "" {
				bad("webhook.timeout", "%s", msg)
			}
		}
		// 0 on the wire means the appliance's default (3), so it is not offered.
		if w.Retries, msg = wholeNumber(v.whRetries.Text, 0, 1, 10); msg != "" {
			bad("webhook.retries", "%s", msg)
		}
		if msg := checkPEM(w.CACert); msg != "" {
			bad("webhook.ca_cert", "%s", msg)
		}
		c.Webhook, c.Target = w, w.URL
	case source.ChannelEmail:
		m := &source.EmailSettings{Host: strings.TrimSpace(v.mHost.Text), Security: securityValue(v.mSec.Selected),
			Username: strings.TrimSpace(v.mUser.Text), Password: v.mPass.Text, From: strings.TrimSpace(v.mFrom.Text),
			To: splitNames(v.mTo.Text), CACert: strings.TrimSpace(v.mCA.Text)}
		if msg := checkHost(m.Host); msg != "" {
			bad("smtp.addr", "%s", msg)
		}
		var msg string
		if m.Port, msg = wholeNumber(v.mPort.Text, -1, 1, 65535); msg != "" || m.Port < 0 {
			bad("smtp.port", "%s", orText(msg, "the server's port (587 for STARTTLS, 465 for implicit TLS)"))
		}
		// An empty password field keeps the stored one while a user name is given.
		m.PasswordSet = m.Password == "" && m.Username != "" && old.Email != nil && old.Email.PasswordSet
		switch {
		case (m.Password != "" || m.PasswordSet) && m.Security == source.SecurityNone:
			bad("smtp.password", "a password is never sent without TLS: choose STARTTLS or TLS, or clear the user name and password")
		case m.Password != "" && m.Username == "":
			bad("smtp.username", "required with a password")
		}
		if !mailAddress(m.From) {
			bad("smtp.from", "%q is not an e-mail address", m.From)
		}
		if len(m.To) == 0 {
			bad("smtp.to", "at least one recipient")
		}
		for _, t := range m.To {
			if !mailAddress(t) {
				bad("smtp.to", "%q is not an e-mail address", t)
			}
		}
		if msg := checkPEM(m.CACert); msg != "" {
			bad("smtp.ca_cert", "%s", msg)
		}
		c.Email, c.Target = m, strings.Join(m.To, ", ")
	case source.ChannelSyslog:
		s := &source.SyslogSettings{Network: v.slNet.Selected, Host: strings.TrimSpace(v.slHost.Text),
			AppName: strings.TrimSpace(v.slApp.Text), CACert: strings.TrimSpace(v.slCA.Text)}
		if msg := checkHost(s.Host); msg != "" {
			bad("syslog.addr", "%s", msg)
		}
		var msg string
		if s.Port, msg = wholeNumber(v.slPort.Text, -1, 1, 65535); msg != "" || s.Port < 0 {
			bad("syslog.port", "%s", orText(msg, "the collector's port (514, or 6514 for tls)"))
		}
		// 0 (kern) on the wire means the appliance's default (4, auth), so it is not offered.
		if s.Facility, msg = wholeNumber(v.slFacility.Text, 0, 1, 23); msg != "" {
			bad("syslog.facility", "%s", msg)
		}
		if len(s.AppName) > 48 || strings.ContainsAny(s.AppName, " \t\r\n") {
			bad("syslog.app_name", "at most 48 characters, no spaces")
		}
		if msg := checkPEM(s.CACert); msg != "" {
			bad("syslog.ca_cert", "%s", msg)
		}
		c.Syslog, c.Target = s, fmt.Sprintf("%s://%s:%d", s.Network, s.Host, s.Port)
	case source.ChannelConsole:
		c.Target = "live stream"
	default:
		bad("type", "choose webhook, email, syslog or console")
	}
	return c, errs
}

func (v *alertsScreen) saveChannel() {
	c, errs := v.channelFromForm()
	v.submit(v.chErrs, v.chMsg, "channel", errs, func(ctx context.Context) error { return v.s.app.SaveChannel(ctx, c) }, func() {
		// What is stored now, as the appliance will list it: secrets typed become "stored".
		saved := c
		if w := saved.Webhook; w != nil {
			cp := *w
			cp.SecretSet, cp.Secret = w.Secret != "" || w.SecretSet, ""
			saved.Webhook = &cp
		}
		if m := saved.Email; m != nil {
			cp := *m
			cp.PasswordSet, cp.Password = m.Password != "" || m.PasswordSet, ""
			saved.Email = &cp
		}
		v.editChannel(saved)
		v.ok(v.chMsg, "channel "+c.Name+" saved; Send test delivers a test alert through it")
		v.refresh()
	})
}

// deleteChannel removes the saved channel in the editor; the appliance refuses while a
// rule uses it, and says which.
func (v *alertsScreen) deleteChannel() {
	name := v.chLoaded.Name
	if name == "" {
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.DeleteChannel(ctx, name) }, func(err error) {
		if err != nil {
			v.chErrs.clear()
			if v.chErrs.fromAppliance(err) {
				v.fail(v.chMsg, "channel "+name+" was not deleted: see the marked field")
				return
			}
			v.fail(v.chMsg, errText("delete "+name, err))
			return
		}
		v.newChannel()
		v.ok(v.chMsg, "channel "+name+" deleted")
		v.refresh()
	})
}

// testChannel sends a test alert through the saved channel in the editor.
func (v *alertsScreen) testChannel() {
	name := v.chLoaded.Name
	if name == "" {
		return
	}
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

// pollAlerts raises a desktop notification and the status bar's badge for each open alert
// not seen before. The first poll of a session only learns what is already there. The
// notification is sent off the UI goroutine: it is a D-Bus call that can block.
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
			var fresh []source.Alert
			for _, a := range as {
				if s.seenAlerts[a.ID] {
					continue
				}
				s.seenAlerts[a.ID] = true
				if !first && !a.Acked {
					fresh = append(fresh, a)
				}
			}
			if len(fresh) == 0 {
				return
			}
			for i := len(fresh) - 1; i >= 0; i-- { // oldest first
				a := fresh[i]
				n := fyne.NewNotification(fmt.Sprintf("Bulwark %s: %s", s.bundle.Label, a.Rule), a.Summary)
				notify := s.c.opt.Notify
				s.c.tasks.Add(1)
				go func() {
					defer s.c.tasks.Done()
					notify(n)
				}()
			}
			s.c.alertBadge(len(fresh), fresh[0])
		})
}
