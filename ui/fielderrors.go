package ui

import (
	"errors"
	"reflect"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

// fieldErrors puts a validation message right under the field it is about, whether the
// console found it before sending or the appliance refused the value (source.FieldError
// names the field by its admin API name, which is also the key used here).
type fieldErrors struct {
	labels map[string]*widget.Label
	// scope is tried as a prefix first ("spike" + "." + "window"), so one API name can
	// land on the field of the form that is shown.
	scope string
}

func newFieldErrors() *fieldErrors { return &fieldErrors{labels: map[string]*widget.Label{}} }

// wrap returns w with its (hidden until needed) message line under it.
func (f *fieldErrors) wrap(key string, w fyne.CanvasObject) fyne.CanvasObject {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	f.labels[key] = l
	return container.NewVBox(w, l)
}

func (f *fieldErrors) clear() {
	for _, l := range f.labels {
		l.SetText("")
		l.Hide()
	}
}

// set shows msg beside the field key; it reports false when no such field is shown.
func (f *fieldErrors) set(key, msg string) bool {
	l := f.labels[f.scope+"."+key]
	if l == nil || f.scope == "" {
		l = f.labels[key]
	}
	if l == nil {
		return false
	}
	l.SetText(msg)
	l.Show()
	return true
}

// text is the message shown beside key ("" when none), for tests and summaries.
func (f *fieldErrors) text(key string) string {
	if l := f.labels[key]; l != nil && l.Visible() {
		return l.Text
	}
	return ""
}

// shown lists "key: message" for every field with a message, sorted by key.
func (f *fieldErrors) shown() []string {
	var out []string
	for k, l := range f.labels {
		if l.Visible() && l.Text != "" {
			out = append(out, k+": "+l.Text)
		}
	}
	sort.Strings(out)
	return out
}

// showAll places each field error beside its field and returns what found no field.
func (f *fieldErrors) showAll(errs []*source.FieldError) []string {
	var rest []string
	for _, e := range errs {
		if !f.set(e.Field, e.Message) {
			rest = append(rest, e.Error())
		}
	}
	return rest
}

// fromAppliance shows an appliance refusal beside its field when it names one; it reports
// whether it did.
func (f *fieldErrors) fromAppliance(err error) bool {
	var fe *source.FieldError
	if errors.As(err, &fe) {
		return f.set(fe.Field, fe.Message)
	}
	return false
}

// splitNames splits a comma or space separated list, keeping case (channel names, mail
// addresses).
func splitNames(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// formRows is a two-column form (labels right-aligned in one column, fields in the other)
// whose rows belong to groups that can be hidden, so one editor shows only the fields of the
// chosen rule or channel type and every label still lines up.
type formRows struct {
	box    *fyne.Container
	groups map[string][]fyne.CanvasObject
}

func newFormRows() *formRows {
	return &formRows{box: container.New(layout.NewFormLayout()), groups: map[string][]fyne.CanvasObject{}}
}

// add appends a row to group ("" for rows always shown).
func (f *formRows) add(group, label string, field fyne.CanvasObject) {
	l := widget.NewLabelWithStyle(label, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	f.box.Add(l)
	f.box.Add(field)
	f.groups[group] = append(f.groups[group], l, field)
}

// showOnly shows the rows of group and hides those of every other named group.
func (f *formRows) showOnly(group string) {
	for g, objs := range f.groups {
		if g == "" {
			continue
		}
		for _, o := range objs {
			if g == group {
				o.Show()
			} else {
				o.Hide()
			}
		}
	}
	f.box.Refresh()
}

// shown reports whether group's rows are shown.
func (f *formRows) shown(group string) bool {
	objs := f.groups[group]
	return len(objs) > 0 && objs[0].Visible()
}

// isFormRows tells a formRows box from other containers (the scripted steps look for
// labels in it).
func isFormRows(c *fyne.Container) bool {
	return reflect.TypeOf(c.Layout) == reflect.TypeOf(layout.NewFormLayout())
}
