package ui

import (
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Do performs one operator step on the window, as a person would with mouse and keyboard,
// so an end-to-end test (or the screenshot tour) can drive the real window under Xvfb:
//
//	screen NAME               show a screen (Dashboard, Events, Alerts, ...)
//	tab NAME                  show a tab of the shown screen (Alerts: Rules, Channels, History)
//	set CARD/LABEL=VALUE      fill the field labelled LABEL in the card CARD: type into an
//	                          entry ("\n" in VALUE is a line break), choose in a list, or
//	                          tick a box ("true"/"false"; LABEL is then the box's text)
//	tap CARD/BUTTON           press the button (refused when it is disabled)
//
// Call it on the UI goroutine (fyne.Do); calls it starts land later (Wait).
func (c *Console) Do(step string) error {
	verb, arg, _ := strings.Cut(strings.TrimSpace(step), " ")
	switch verb {
	case "screen":
		if !c.SelectScreen(arg) {
			return fmt.Errorf("no screen %q (connected: %v)", arg, c.cur != nil)
		}
		return nil
	case "tab":
		if v, ok := c.currentView().(interface{ showTab(string) }); ok {
			v.showTab(arg)
			return nil
		}
		return fmt.Errorf("the shown screen has no tabs")
	case "set":
		path, value, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("set %q: want CARD/LABEL=VALUE", arg)
		}
		return c.setField(path, strings.ReplaceAll(value, `\n`, "\n"))
	case "tap":
		return c.tapButton(arg)
	}
	return fmt.Errorf("unknown step %q (screen, tab, set, tap)", verb)
}

// Tabs lists the tabs of the shown screen (none for most screens), for the tour.
func (c *Console) Tabs() []string {
	if v, ok := c.currentView().(interface{ tabTitles() []string }); ok {
		return v.tabTitles()
	}
	return nil
}

// children lists what the operator sees inside o, for the widgets screens are built from.
func children(o fyne.CanvasObject) []fyne.CanvasObject {
	switch w := o.(type) {
	case *fyne.Container:
		return w.Objects
	case *widget.Card:
		return []fyne.CanvasObject{w.Content}
	case *container.Split:
		return []fyne.CanvasObject{w.Leading, w.Trailing}
	case *container.Scroll:
		return []fyne.CanvasObject{w.Content}
	case *container.AppTabs:
		var out []fyne.CanvasObject
		for _, it := range w.Items {
			out = append(out, it.Content)
		}
		return out
	case *widget.Form:
		var out []fyne.CanvasObject
		for _, it := range w.Items {
			out = append(out, it.Widget)
		}
		return out
	}
	return nil
}

// find walks the shown part of the tree under o, depth first, until f says stop.
func find(o fyne.CanvasObject, f func(fyne.CanvasObject) bool) bool {
	if o == nil || !o.Visible() {
		return false
	}
	if f(o) {
		return true
	}
	for _, ch := range children(o) {
		if find(ch, f) {
			return true
		}
	}
	return false
}

// card finds the card titled name in the shown screen.
func (c *Console) card(name string) (*widget.Card, error) {
	v := c.currentView()
	if v == nil {
		return nil, fmt.Errorf("not connected")
	}
	var out *widget.Card
	find(v.object(), func(o fyne.CanvasObject) bool {
		if cd, ok := o.(*widget.Card); ok && (cd.Title == name || cd.Subtitle == name) {
			out = cd
			return true
		}
		return false
	})
	if out == nil {
		return nil, fmt.Errorf("no card %q on this screen", name)
	}
	return out, nil
}

func (c *Console) setField(path, value string) error {
	cardName, label, ok := strings.Cut(path, "/")
	if !ok {
		return fmt.Errorf("%q: want CARD/LABEL", path)
	}
	cd, err := c.card(cardName)
	if err != nil {
		return err
	}
	var target fyne.CanvasObject
	find(cd, func(o fyne.CanvasObject) bool {
		switch w := o.(type) {
		case *fyne.Container:
			if !isFormRows(w) {
				return false
			}
			for i := 0; i+1 < len(w.Objects); i += 2 {
				if l, ok := w.Objects[i].(*widget.Label); ok && l.Text == label && l.Visible() {
					target = w.Objects[i+1]
					if box, ok := target.(*fyne.Container); ok && len(box.Objects) > 0 { // a field with its error line
						target = box.Objects[0]
					}
					return true
				}
			}
		case *widget.Form:
			for _, it := range w.Items {
				if it.Text == label {
					target = it.Widget
					if box, ok := target.(*fyne.Container); ok && len(box.Objects) > 0 { // a field with its error line
						target = box.Objects[0]
					}
					return true
				}
			}
		case *widget.Check:
			if w.Text == label {
				target = w
				return true
			}
		}
		return false
	})
	switch w := target.(type) {
	case nil:
		return fmt.Errorf("no field %q in card %q", label, cardName)
	case *widget.Entry:
		if w.Disabled() {
			return fmt.Errorf("field %q is disabled", label)
		}
		w.SetText(value)
	case *widget.Select:
		if !slices.Contains(w.Options, value) {
			return fmt.Errorf("%q is not a choice of %q (%s)", value, label, strings.Join(w.Options, ", "))
		}
		w.SetSelected(value)
	case *widget.Check:
		w.SetChecked(value == "true")
	default:
		return fmt.Errorf("field %q is a %T, not something to fill", label, target)
	}
	return nil
}

func (c *Console) tapButton(path string) error {
	cardName, text, ok := strings.Cut(path, "/")
	if !ok {
		return fmt.Errorf("%q: want CARD/BUTTON", path)
	}
	cd, err := c.card(cardName)
	if err != nil {
		return err
	}
	var btn *widget.Button
	find(cd, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			btn = b
			return true
		}
		return false
	})
	switch {
	case btn == nil:
		return fmt.Errorf("no button %q in card %q", text, cardName)
	case btn.Disabled():
		return fmt.Errorf("button %q is disabled", text)
	}
	btn.OnTapped()
	return nil
}
