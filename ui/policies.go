package ui

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/microcosm-cc/bluemonday"

	"bulwark/ui/source"
)

var (
	htmlName   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	schemeName = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	hostName   = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:[0-9]{1,5})?$`)
	ruleID     = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// Tags no whitelist can make safe: they run code or load it.
	neverTags = map[string]bool{"script": true, "style": true, "iframe": true, "object": true, "embed": true, "frame": true, "frameset": true, "base": true, "meta": true, "link": true}
)

// tagRow is one editable row of the HTML whitelist.
type tagRow struct {
	tag, attrs *widget.Entry
	box        fyne.CanvasObject
}

// policiesScreen edits the HTML whitelist (with a live preview), WAF, egress and headers.
type policiesScreen struct {
	s   *session
	pol source.Policies

	rows     []*tagRow
	rowsBox  *fyne.Container
	schemes  *widget.Entry
	sample   *widget.Entry
	preview  *widget.Label
	htmlMsg  *widget.Label
	saveHTML *widget.Button

	mode     *widget.Select
	paranoia *widget.Select
	wafMsg   *widget.Label
	excl     *grid
	exclRule *widget.Entry
	exclPath *widget.Entry
	exclApp  *widget.Entry

	apps      []source.App
	egressApp *widget.Select
	egress    *widget.Entry
	egressMsg *widget.Label

	headers    *widget.Select
	headersMsg *widget.Label
	tabs       *container.AppTabs
	content    fyne.CanvasObject
}

func newPolicies(s *session) *policiesScreen {
	v := &policiesScreen{s: s}
	msg := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	// HTML whitelist
	v.rowsBox = container.NewVBox()
	v.schemes = widget.NewEntry()
	v.schemes.SetPlaceHolder("URL schemes, comma separated: https, mailto")
	v.schemes.OnChanged = func(string) { v.updatePreview() }
	v.sample = widget.NewMultiLineEntry()
	v.sample.SetText(`<p>Hello <b>world</b> <a href="https://example.test" onclick="steal()">link</a> <a href="javascript:alert(1)">js</a><script>alert(1)</script><img src=x onerror=alert(1)></p>`)
	v.sample.Wrapping = fyne.TextWrapBreak
	v.sample.SetMinRowsVisible(4)
	v.sample.OnChanged = func(string) { v.updatePreview() }
	v.preview = widget.NewLabel("")
	v.preview.Wrapping = fyne.TextWrapBreak
	v.preview.TextStyle.Monospace = true
	v.preview.Selectable = true
	v.htmlMsg = msg()
	v.saveHTML = widget.NewButtonWithIcon("Save whitelist", theme.DocumentSaveIcon(), v.doSaveHTML)
	addRow := widget.NewButtonWithIcon("Add tag", theme.ContentAddIcon(), func() { v.addRow(source.TagRule{}); v.updatePreview() })
	header := container.NewGridWithColumns(2, widget.NewLabelWithStyle("Tag", 0, fyne.TextStyle{Bold: true}),
		widget.NewLabelWithStyle("Allowed attributes (comma separated)", 0, fyne.TextStyle{Bold: true}))
	whitelist := widget.NewCard("", "HTML sanitizer whitelist", container.NewBorder(
		header, container.NewVBox(widget.NewForm(widget.NewFormItem("URL schemes", v.schemes)), container.NewHBox(addRow, v.saveHTML), v.htmlMsg),
		nil, nil, container.NewVScroll(v.rowsBox)))
	previewCard := widget.NewCard("", "Live preview", container.NewBorder(
		container.NewVBox(widget.NewLabel("Sample HTML"), v.sample, widget.NewLabel("After sanitizing")), nil, nil, nil,
		container.NewVScroll(v.preview)))
	htmlTab := container.NewHSplit(whitelist, previewCard)

	// WAF
	v.mode = widget.NewSelect([]string{"block", "detect", "off"}, nil)
	v.paranoia = widget.NewSelect([]string{"1", "2", "3", "4"}, nil)
	v.wafMsg = msg()
	saveWAF := widget.NewButtonWithIcon("Save WAF settings", theme.DocumentSaveIcon(), v.doSaveWAF)
	v.excl = newGrid([]string{"Rule", "Path", "App"}, []float32{120, 260, 120}, nil)
	v.exclRule, v.exclPath, v.exclApp = widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	v.exclRule.SetPlaceHolder("rule id, e.g. 942100")
	v.exclPath.SetPlaceHolder("path prefix, e.g. /search")
	v.exclApp.SetPlaceHolder("app (empty: all)")
	addExcl := widget.NewButtonWithIcon("Add exclusion", theme.ContentAddIcon(), v.doAddExclusion)
	rmExcl := widget.NewButtonWithIcon("Remove selected", theme.DeleteIcon(), v.doRemoveExclusion)
	wafTab := container.NewBorder(
		widget.NewCard("", "Mode", container.NewVBox(widget.NewForm(
			widget.NewFormItem("Mode", v.mode), widget.NewFormItem("Paranoia level", v.paranoia)), saveWAF)),
		container.NewVBox(container.NewGridWithColumns(3, v.exclRule, v.exclPath, v.exclApp), container.NewHBox(addExcl, rmExcl), v.wafMsg),
		nil, nil, widget.NewCard("", "Exclusions", v.excl))

	// Egress
	v.egressApp = widget.NewSelect(nil, func(name string) { v.showEgress(name) })
	v.egressApp.PlaceHolder = "choose an app"
	v.egress = widget.NewMultiLineEntry()
	v.egress.SetPlaceHolder("one host per line: api.example.com, *.example.net, host:8443")
	v.egress.SetMinRowsVisible(8)
	v.egressMsg = msg()
	saveEgress := widget.NewButtonWithIcon("Save egress allowlist", theme.DocumentSaveIcon(), v.doSaveEgress)
	egressTab := widget.NewCard("", "Hosts an app may fetch", container.NewVBox(v.egressApp, v.egress, saveEgress, v.egressMsg))

	// Headers
	v.headers = widget.NewSelect(nil, nil)
	v.headersMsg = msg()
	saveHeaders := widget.NewButtonWithIcon("Apply profile", theme.DocumentSaveIcon(), v.doSaveHeaders)
	headersTab := widget.NewCard("", "Security headers profile", container.NewVBox(v.headers, saveHeaders, v.headersMsg,
		widget.NewLabel("strict: HSTS, CSP default-src 'self', frame-ancestors 'none', no referrer\nstandard: HSTS, nosniff, SAMEORIGIN framing\nrelaxed: nosniff only\noff: leave the app's headers alone")))

	v.tabs = container.NewAppTabs(
		container.NewTabItem("HTML whitelist", htmlTab),
		container.NewTabItem("WAF", wafTab),
		container.NewTabItem("Egress", egressTab),
		container.NewTabItem("Headers", headersTab))
	v.content = container.NewPadded(v.tabs)
	return v
}

func (v *policiesScreen) object() fyne.CanvasObject { return v.content }

func (v *policiesScreen) refresh() {
	run(v.s, func(ctx context.Context) (source.Policies, error) { return v.s.app.Policies(ctx) },
		func(p source.Policies, err error) {
			if err != nil {
				v.htmlMsg.SetText(errText("load policies", err))
				return
			}
			v.pol = p
			v.rows = nil
			v.rowsBox.RemoveAll()
			for _, t := range p.HTML.Tags {
				v.addRow(t)
			}
			v.schemes.SetText(strings.Join(p.HTML.Schemes, ", "))
			v.mode.SetSelected(p.WAF.Mode)
			v.paranoia.SetSelected(strconv.Itoa(p.WAF.Paranoia))
			rows := make([][]string, len(p.Exclusions))
			for i, x := range p.Exclusions {
				rows[i] = []string{x.Rule, x.Path, x.App}
			}
			v.excl.setRows(rows)
			v.headers.SetOptions(p.HeadersChoices)
			v.headers.SetSelected(p.HeadersProfile)
			v.updatePreview()
			if len(p.Notes) > 0 && v.htmlMsg.Text == "" {
				v.htmlMsg.Importance = widget.WarningImportance
				v.htmlMsg.SetText(strings.Join(p.Notes, "; "))
			}
		})
	run(v.s, func(ctx context.Context) ([]source.App, error) { return v.s.app.Apps(ctx) },
		func(apps []source.App, err error) {
			if err != nil {
				return
			}
			v.apps = apps
			var names []string
			for _, a := range apps {
				names = append(names, a.Name)
			}
			v.egressApp.SetOptions(names)
			if v.egressApp.Selected != "" {
				v.showEgress(v.egressApp.Selected)
			}
		})
}

func (v *policiesScreen) addRow(t source.TagRule) {
	r := &tagRow{tag: widget.NewEntry(), attrs: widget.NewEntry()}
	r.tag.SetText(t.Tag)
	r.tag.SetPlaceHolder("tag")
	r.attrs.SetText(strings.Join(t.Attrs, ", "))
	r.attrs.SetPlaceHolder("attributes")
	r.tag.OnChanged = func(string) { v.updatePreview() }
	r.attrs.OnChanged = func(string) { v.updatePreview() }
	del := widget.NewButtonWithIcon("", theme.DeleteIcon(), nil)
	r.box = container.NewBorder(nil, nil, nil, del, container.NewGridWithColumns(2, r.tag, r.attrs))
	del.OnTapped = func() {
		for i, x := range v.rows {
			if x == r {
				v.rows = append(v.rows[:i], v.rows[i+1:]...)
			}
		}
		v.rowsBox.Remove(r.box)
		v.updatePreview()
	}
	v.rows = append(v.rows, r)
	v.rowsBox.Add(r.box)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out = append(out, strings.ToLower(strings.TrimSpace(f)))
	}
	return out
}

// htmlPolicy reads the editor into a policy, or says which row is wrong.
func (v *policiesScreen) htmlPolicy() (source.HTMLPolicy, error) {
	var p source.HTMLPolicy
	seen := map[string]bool{}
	for i, r := range v.rows {
		tag := strings.ToLower(strings.TrimSpace(r.tag.Text))
		if tag == "" {
			continue
		}
		switch {
		case !htmlName.MatchString(tag):
			return p, fmt.Errorf("row %d: %q is not a tag name", i+1, tag)
		case neverTags[tag]:
			return p, fmt.Errorf("row %d: <%s> can run or load code and cannot be whitelisted", i+1, tag)
		case seen[tag]:
			return p, fmt.Errorf("row %d: <%s> is listed twice", i+1, tag)
		}
		seen[tag] = true
		attrs := splitList(r.attrs.Text)
		for _, a := range attrs {
			if !htmlName.MatchString(a) {
				return p, fmt.Errorf("row %d: %q is not an attribute name", i+1, a)
			}
			if strings.HasPrefix(a, "on") || a == "style" || a == "srcdoc" {
				return p, fmt.Errorf("row %d: attribute %q can run code and cannot be whitelisted", i+1, a)
			}
		}
		p.Tags = append(p.Tags, source.TagRule{Tag: tag, Attrs: attrs})
	}
	for _, sc := range splitList(v.schemes.Text) {
		if !schemeName.MatchString(sc) {
			return p, fmt.Errorf("URL schemes: %q is not a scheme", sc)
		}
		if sc == "javascript" || sc == "vbscript" || sc == "data" {
			return p, fmt.Errorf("URL schemes: %s: URLs run code and cannot be allowed", sc)
		}
		p.Schemes = append(p.Schemes, sc)
	}
	return p, nil
}

// Sanitize applies a whitelist to html the way the appliance does (bluemonday), so the
// preview needs no round trip.
func Sanitize(p source.HTMLPolicy, html string) string {
	bm := bluemonday.NewPolicy()
	for _, t := range p.Tags {
		bm.AllowElements(t.Tag)
		if len(t.Attrs) > 0 {
			bm.AllowAttrs(t.Attrs...).OnElements(t.Tag)
		}
	}
	if len(p.Schemes) > 0 {
		bm.AllowURLSchemes(p.Schemes...)
		bm.RequireParseableURLs(true)
	}
	return bm.Sanitize(html)
}

func (v *policiesScreen) updatePreview() {
	p, err := v.htmlPolicy()
	if err != nil {
		v.htmlMsg.Importance = widget.DangerImportance
		v.htmlMsg.SetText(err.Error())
		v.saveHTML.Disable()
		return
	}
	v.htmlMsg.SetText("")
	v.saveHTML.Enable()
	v.preview.SetText(Sanitize(p, v.sample.Text))
}

func (v *policiesScreen) doSaveHTML() {
	p, err := v.htmlPolicy()
	if err != nil {
		v.htmlMsg.Importance = widget.DangerImportance
		v.htmlMsg.SetText(err.Error())
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SetHTMLPolicy(ctx, p) }, func(err error) {
		if err != nil {
			v.htmlMsg.Importance = widget.DangerImportance
			v.htmlMsg.SetText(errText("save whitelist", err))
			return
		}
		v.htmlMsg.Importance = widget.SuccessImportance
		v.htmlMsg.SetText("whitelist saved")
	})
}

func (v *policiesScreen) doSaveWAF() {
	lvl, _ := strconv.Atoi(v.paranoia.Selected)
	w := source.WAFSettings{Mode: v.mode.Selected, Paranoia: lvl}
	if w.Mode == "" || lvl < 1 || lvl > 4 {
		v.wafMsg.Importance = widget.DangerImportance
		v.wafMsg.SetText("choose a mode and a paranoia level from 1 to 4")
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SetWAF(ctx, w) }, func(err error) {
		v.report(v.wafMsg, "WAF settings saved", "save WAF settings", err)
	})
}

func (v *policiesScreen) report(l *widget.Label, ok, what string, err error) {
	if err != nil {
		l.Importance = widget.DangerImportance
		l.SetText(errText(what, err))
		return
	}
	l.Importance = widget.SuccessImportance
	l.SetText(ok)
}

func (v *policiesScreen) doAddExclusion() {
	x := source.WAFExclusion{Rule: strings.TrimSpace(v.exclRule.Text), Path: strings.TrimSpace(v.exclPath.Text), App: strings.TrimSpace(v.exclApp.Text)}
	v.wafMsg.Importance = widget.DangerImportance
	switch {
	case !ruleID.MatchString(x.Rule):
		v.wafMsg.SetText(fmt.Sprintf("rule: %q is not a rule id", x.Rule))
		return
	case !strings.HasPrefix(x.Path, "/"):
		v.wafMsg.SetText(fmt.Sprintf("path: %q must start with /", x.Path))
		return
	}
	for _, y := range v.pol.Exclusions {
		if y == x {
			v.wafMsg.SetText("this exclusion exists already")
			return
		}
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.AddWAFExclusion(ctx, x) }, func(err error) {
		v.report(v.wafMsg, "exclusion added", "add exclusion", err)
		if err == nil {
			v.refresh()
		}
	})
}

func (v *policiesScreen) doRemoveExclusion() {
	row := v.excl.selected
	if row < 0 || row >= len(v.pol.Exclusions) {
		return
	}
	x := v.pol.Exclusions[row]
	act(v.s, func(ctx context.Context) error { return v.s.app.RemoveWAFExclusion(ctx, x) }, func(err error) {
		v.report(v.wafMsg, "exclusion removed", "remove exclusion", err)
		if err == nil {
			v.refresh()
		}
	})
}

func (v *policiesScreen) showEgress(name string) {
	for _, a := range v.apps {
		if a.Name == name {
			v.egress.SetText(strings.Join(a.Egress, "\n"))
		}
	}
	v.egressMsg.SetText("")
}

func (v *policiesScreen) doSaveEgress() {
	name := v.egressApp.Selected
	if name == "" {
		v.egressMsg.SetText("choose an app first")
		return
	}
	var hosts []string
	for i, h := range strings.Split(v.egress.Text, "\n") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if !hostName.MatchString(h) {
			v.egressMsg.Importance = widget.DangerImportance
			v.egressMsg.SetText(fmt.Sprintf("line %d: %q is not a host name (api.example.com, *.example.net or host:port)", i+1, h))
			return
		}
		hosts = append(hosts, h)
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SetEgress(ctx, name, hosts) }, func(err error) {
		v.report(v.egressMsg, fmt.Sprintf("%s may now fetch %d host(s)", name, len(hosts)), "save egress", err)
	})
}

func (v *policiesScreen) doSaveHeaders() {
	p := v.headers.Selected
	if p == "" {
		return
	}
	act(v.s, func(ctx context.Context) error { return v.s.app.SetHeadersProfile(ctx, p) }, func(err error) {
		v.report(v.headersMsg, "headers profile is now "+p, "apply headers profile", err)
	})
}
