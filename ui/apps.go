package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

// limitField is one editable limit with the bounds the appliance accepts.
type limitField struct {
	label    string
	unit     string
	min, max int
	get      func(*source.Limits) *int
	entry    *widget.Entry
	err      *widget.Label
}

func limitFields() []*limitField {
	return []*limitField{
		// Bounds are the appliance's ceilings (core/manifest.Ceilings), checked here so a
		// bad value never leaves the desktop; the appliance checks them again.
		{label: "Memory", unit: "MB", min: 16, max: 2048, get: func(l *source.Limits) *int { return &l.MemoryMB }},
		{label: "CPU per request", unit: "ms", min: 1, max: 30000, get: func(l *source.Limits) *int { return &l.CPUMs }},
		{label: "Wall time per request", unit: "ms", min: 1, max: 120000, get: func(l *source.Limits) *int { return &l.WallMs }},
		{label: "Workers", min: 1, max: 16, get: func(l *source.Limits) *int { return &l.Workers }},
		{label: "Concurrency", unit: "per worker", min: 1, max: 256, get: func(l *source.Limits) *int { return &l.Concurrency }},
		{label: "Request body", unit: "KB", min: 1, max: 64 << 10, get: func(l *source.Limits) *int { return &l.RequestBodyKB }},
		{label: "Response body", unit: "KB", min: 1, max: 128 << 10, get: func(l *source.Limits) *int { return &l.ResponseBodyKB }},
		{label: "Subrequests", unit: "per request", min: 0, max: 1000, get: func(l *source.Limits) *int { return &l.Subrequests }},
		{label: "KV quota", unit: "KB", min: 0, max: 1 << 20, get: func(l *source.Limits) *int { return &l.KVQuotaKB }},
	}
}

// parse checks one limit's text and returns the value or the sentence to show beside it.
func (f *limitField) parse(text string) (int, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return 0, fmt.Errorf("enter a number (%d–%d)", f.min, f.max)
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", t)
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative; use %d–%d", n, f.min, f.max)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%d is out of range; use %d–%d", n, f.min, f.max)
	}
	return n, nil
}

// appsScreen lists apps and edits the selected one.
type appsScreen struct {
	s        *session
	apps     []source.App
	table    *grid
	selected string

	title     *widget.Label
	enabled   *widget.Check
	limits    []*limitField
	saveLim   *widget.Button
	limMsg    *widget.Label
	versions  *grid
	vers      []source.AppVersion
	rollback  *widget.Button
	log       *widget.Label
	progress  *widget.ProgressBar
	deployMsg *widget.Label
	deployErr *widget.Label
	content   fyne.CanvasObject
}

func newApps(s *session) *appsScreen {
	v := &appsScreen{s: s}
	v.table = newGrid([]string{"App", "Status", "Version", "Routes", "Requests", "Errors", "Blocked 1h"},
		[]float32{90, 120, 62, 150, 78, 58, 84}, func(row int) { v.selectApp(v.apps[row].Name) })
	v.progress = widget.NewProgressBar()
	v.progress.Hide()
	v.deployMsg = widget.NewLabel("")
	v.deployErr = widget.NewLabel("")
	v.deployErr.Wrapping = fyne.TextWrapWord
	v.deployErr.TextStyle.Monospace = true
	v.deployErr.Importance = widget.DangerImportance
	v.deployErr.Selectable = true
	folder := widget.NewButtonWithIcon("Deploy folder…", theme.FolderOpenIcon(), v.chooseFolder)
	archive := widget.NewButtonWithIcon("Deploy archive…", theme.UploadIcon(), v.chooseArchive)
	deploy := container.NewVBox(container.NewHBox(folder, archive, v.deployMsg), v.progress, v.deployErr)

	v.title = widget.NewLabelWithStyle("select an app", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.enabled = widget.NewCheck("Enabled", nil)
	v.enabled.Disable()
	v.limits = limitFields()
	form := container.New(&formLayout{})
	for _, f := range v.limits {
		f.entry = widget.NewEntry()
		f.entry.Validator = func(s string) error { _, err := f.parse(s); return err }
		f.err = widget.NewLabel("")
		f.err.Importance = widget.DangerImportance
		f.err.Truncation = fyne.TextTruncateEllipsis
		f.entry.OnChanged = func(s string) {
			if _, err := f.parse(s); err != nil {
				f.err.SetText(err.Error())
			} else {
				f.err.SetText("")
			}
		}
		unit := f.unit
		form.Add(widget.NewLabel(f.label))
		form.Add(f.entry)
		form.Add(widget.NewLabel(unit))
		form.Add(f.err)
	}
	v.saveLim = widget.NewButtonWithIcon("Save limits", theme.DocumentSaveIcon(), v.saveLimits)
	v.saveLim.Disable()
	v.limMsg = widget.NewLabel("")
	v.limMsg.Wrapping = fyne.TextWrapWord
	limits := widget.NewCard("", "Limits", container.NewVBox(form, container.NewHBox(v.saveLim), v.limMsg))

	v.versions = newGrid([]string{"Version", "Deployed", "Origin", ""}, []float32{70, 150, 80, 70}, func(int) {
		setEnabled(v.rollback, true)
	})
	v.rollback = widget.NewButtonWithIcon("Roll back to selected", theme.HistoryIcon(), v.doRollback)
	v.rollback.Disable()
	versions := widget.NewCard("", "Versions", container.NewBorder(nil, v.rollback, nil, nil,
		container.NewGridWrap(fyne.NewSize(420, 150), v.versions)))
	v.log = widget.NewLabel("")
	v.log.TextStyle.Monospace = true
	v.log.Selectable = true
	logCard := widget.NewCard("", "Log", container.NewBorder(nil, nil, nil, nil,
		container.NewGridWrap(fyne.NewSize(420, 180), container.NewScroll(v.log))))
	right := container.NewVScroll(container.NewVBox(
		container.NewHBox(v.title, v.enabled), limits, versions, logCard))
	left := container.NewBorder(widget.NewCard("", "Deploy", deploy), nil, nil, nil, v.table)
	split := container.NewHSplit(left, right)
	split.Offset = 0.55
	v.content = container.NewPadded(split)
	v.enabled.OnChanged = func(on bool) { v.setEnabled(on) }
	return v
}

func (v *appsScreen) object() fyne.CanvasObject { return v.content }
func (v *appsScreen) pickFirst() {
	if len(v.apps) > 0 {
		v.table.pick(0)
	}
}

func (v *appsScreen) refresh() {
	run(v.s, func(ctx context.Context) ([]source.App, error) { return v.s.app.Apps(ctx) },
		func(apps []source.App, err error) {
			if err != nil {
				v.deployMsg.SetText(errText("load apps", err))
				return
			}
			v.apps = apps
			rows := make([][]string, len(apps))
			for i, a := range apps {
				rows[i] = []string{a.Name, a.Status, a.Version, strings.Join(a.Routes, " "),
					count(a.Requests), count(a.Errors), count(a.Blocked)}
			}
			v.table.setRows(rows)
			if v.selected != "" {
				v.selectApp(v.selected)
			}
		})
}

func (v *appsScreen) app(name string) (source.App, bool) {
	for _, a := range v.apps {
		if a.Name == name {
			return a, true
		}
	}
	return source.App{}, false
}

// selectApp fills the editor with one app and loads its versions and log.
func (v *appsScreen) selectApp(name string) {
	a, ok := v.app(name)
	if !ok {
		return
	}
	v.selected = name
	v.title.SetText(fmt.Sprintf("%s v%s — %s", a.Name, a.Version, a.Status))
	on := v.enabled.OnChanged
	v.enabled.OnChanged = nil
	v.enabled.SetChecked(a.Enabled)
	v.enabled.OnChanged = on
	v.enabled.Enable()
	for _, f := range v.limits {
		f.entry.SetText(fmt.Sprint(*f.get(&a.Limits)))
		f.err.SetText("")
	}
	v.saveLim.Enable()
	v.limMsg.SetText("")
	run(v.s, func(ctx context.Context) ([]source.AppVersion, error) { return v.s.app.Versions(ctx, name) },
		func(vs []source.AppVersion, err error) {
			if err != nil || v.selected != name {
				return
			}
			v.vers = vs
			rows := make([][]string, len(vs))
			for i, x := range vs {
				cur := ""
				if x.Version == a.Version {
					cur = "current"
				}
				rows[i] = []string{x.Version, x.Deployed.Local().Format("2006-01-02 15:04"), x.By, cur}
			}
			v.versions.setRows(rows)
			v.rollback.Disable()
		})
	run(v.s, func(ctx context.Context) ([]string, error) { return v.s.app.AppLog(ctx, name, 200) },
		func(lines []string, err error) {
			if v.selected != name {
				return
			}
			if err != nil {
				v.log.SetText(errText("load log", err))
				return
			}
			v.log.SetText(strings.Join(lines, "\n"))
		})
}

// saveLimits validates every field; one bad field stops the save with its message beside it.
func (v *appsScreen) saveLimits() {
	a, ok := v.app(v.selected)
	if !ok {
		return
	}
	l := a.Limits
	var bad []string
	for _, f := range v.limits {
		n, err := f.parse(f.entry.Text)
		if err != nil {
			f.err.SetText(err.Error())
			bad = append(bad, f.label)
			continue
		}
		f.err.SetText("")
		*f.get(&l) = n
	}
	if len(bad) > 0 {
		v.limMsg.Importance = widget.DangerImportance
		v.limMsg.SetText("not saved: fix " + strings.Join(bad, ", "))
		return
	}
	name := a.Name
	act(v.s, func(ctx context.Context) error { return v.s.app.SetLimits(ctx, name, l) }, func(err error) {
		if err != nil {
			v.limMsg.Importance = widget.DangerImportance
			v.limMsg.SetText(errText("save limits", err))
			return
		}
		v.limMsg.Importance = widget.SuccessImportance
		v.limMsg.SetText("limits saved")
		v.refresh()
	})
}

func (v *appsScreen) setEnabled(on bool) {
	name := v.selected
	act(v.s, func(ctx context.Context) error { return v.s.app.SetEnabled(ctx, name, on) }, func(err error) {
		if err != nil {
			v.limMsg.SetText(errText("enable/disable", err))
		}
		v.refresh()
	})
}

func (v *appsScreen) doRollback() {
	row := v.versions.selected
	if row < 0 || row >= len(v.vers) {
		return
	}
	name, ver := v.selected, v.vers[row].Version
	dialog.ShowConfirm("Roll back", fmt.Sprintf("Serve %s version %s again?", name, ver), func(ok bool) {
		if !ok {
			return
		}
		act(v.s, func(ctx context.Context) error { return v.s.app.Rollback(ctx, name, ver) }, func(err error) {
			if err != nil {
				v.limMsg.SetText(errText("roll back", err))
				return
			}
			v.refresh()
		})
	}, v.s.c.win)
}

func (v *appsScreen) chooseFolder() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err == nil && u != nil {
			v.deploy(u.Path())
		}
	}, v.s.c.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (v *appsScreen) chooseArchive() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err == nil && r != nil {
			p := r.URI().Path()
			r.Close()
			v.deploy(p)
		}
	}, v.s.c.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".zip", ".tgz", ".gz"}))
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// deploy uploads path with a progress bar; errors are shown in full, not summarised.
func (v *appsScreen) deploy(path string) {
	v.progress.SetValue(0)
	v.progress.Show()
	v.deployErr.SetText("")
	v.deployMsg.SetText("deploying " + path + "…")
	progress := func(st source.DeployStep) {
		v.s.c.do(func() {
			v.progress.SetValue(st.Fraction)
			v.deployMsg.SetText(st.Message)
		})
	}
	run(v.s, func(ctx context.Context) (source.App, error) { return v.s.app.Deploy(ctx, path, progress) },
		func(a source.App, err error) {
			if err != nil {
				v.progress.Hide()
				v.deployMsg.SetText("deploy failed; the previous version keeps serving")
				v.deployErr.SetText(err.Error())
				return
			}
			v.progress.SetValue(1)
			v.deployMsg.SetText(fmt.Sprintf("deployed %s v%s", a.Name, a.Version))
			v.selected = a.Name
			v.refresh()
		})
}

// count shows a counter, or a dash when the appliance does not report it.
func count(n int64) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

// formLayout lays out label | field | unit | message rows in fixed columns.
type formLayout struct{}

const (
	formLabelW = 170
	formFieldW = 120
	formUnitW  = 90
)

func (formLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for i := 0; i+3 < len(objs); i += 4 {
		h += max(objs[i].MinSize().Height, objs[i+1].MinSize().Height) + theme.Padding()
	}
	return fyne.NewSize(formLabelW+formFieldW+formUnitW+160, h)
}

func (formLayout) Layout(objs []fyne.CanvasObject, sz fyne.Size) {
	y := float32(0)
	msgX := float32(formLabelW + formFieldW + formUnitW)
	for i := 0; i+3 < len(objs); i += 4 {
		h := max(objs[i].MinSize().Height, objs[i+1].MinSize().Height)
		objs[i].Move(fyne.NewPos(0, y))
		objs[i].Resize(fyne.NewSize(formLabelW, h))
		objs[i+1].Move(fyne.NewPos(formLabelW, y))
		objs[i+1].Resize(fyne.NewSize(formFieldW, h))
		objs[i+2].Move(fyne.NewPos(formLabelW+formFieldW, y))
		objs[i+2].Resize(fyne.NewSize(formUnitW, h))
		objs[i+3].Move(fyne.NewPos(msgX, y))
		objs[i+3].Resize(fyne.NewSize(max(sz.Width-msgX, 80), h))
		y += h + theme.Padding()
	}
}
