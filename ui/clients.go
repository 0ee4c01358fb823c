package ui

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// clientsScreen issues, lists and revokes admin client bundles.
type clientsScreen struct {
	s       *session
	clients []source.Client
	table   *grid
	name    *widget.Entry
	issue   *widget.Button
	revoke  *widget.Button
	msg     *widget.Label
	content fyne.CanvasObject
}

func newClients(s *session) *clientsScreen {
	v := &clientsScreen{s: s}
	v.table = newGrid([]string{"Client", "Serial", "Issued", "Expires", "State"}, []float32{160, 90, 120, 120, 90},
		func(row int) { setEnabled(v.revoke, !v.clients[row].Revoked) })
	v.name = widget.NewEntry()
	v.name.SetPlaceHolder("colleague's name, e.g. alice")
	v.issue = widget.NewButtonWithIcon("Issue bundle…", theme.DocumentSaveIcon(), v.chooseSave)
	v.revoke = widget.NewButtonWithIcon("Revoke selected", theme.CancelIcon(), v.confirmRevoke)
	v.revoke.Disable()
	v.msg = widget.NewLabel("")
	v.msg.Wrapping = fyne.TextWrapWord
	help := widget.NewLabel("A bundle holds a private key: hand it over privately. Revoking takes effect on the next connection.")
	help.Wrapping = fyne.TextWrapWord
	form := container.NewVBox(help, container.NewBorder(nil, nil, nil, container.NewHBox(v.issue, v.revoke), v.name), v.msg)
	v.content = container.NewPadded(widget.NewCard("", "Admin clients", container.NewBorder(nil, form, nil, nil, v.table)))
	return v
}

func (v *clientsScreen) object() fyne.CanvasObject { return v.content }

func (v *clientsScreen) refresh() {
	run(v.s, func(ctx context.Context) ([]source.Client, error) { return v.s.app.Clients(ctx) },
		func(cs []source.Client, err error) {
			if err != nil {
				v.fail(errText("load clients", err))
				return
			}
			v.clients = cs
			rows := make([][]string, len(cs))
			for i, c := range cs {
				state := "active"
				if c.Revoked {
					state = "revoked"
				} else if v.s.now().After(c.Expires) {
					state = "expired"
				}
				rows[i] = []string{c.Name, c.Serial, c.Issued.Local().Format("2006-01-02"), c.Expires.Local().Format("2006-01-02"), state}
			}
			v.table.setRows(rows)
			v.revoke.Disable()
		})
}

func (v *clientsScreen) fail(m string) {
	v.msg.Importance = widget.DangerImportance
	v.msg.SetText(m)
}

func (v *clientsScreen) checkName() (string, bool) {
	name := strings.TrimSpace(v.name.Text)
	if !clientName.MatchString(name) {
		v.fail(fmt.Sprintf("name: %q must be 1–64 letters, digits, '.', '_', '@' or '-'", name))
		return "", false
	}
	for _, c := range v.clients {
		if c.Name == name && !c.Revoked {
			v.fail(fmt.Sprintf("name: %s already has an active certificate; revoke it first", name))
			return "", false
		}
	}
	return name, true
}

func (v *clientsScreen) chooseSave() {
	name, ok := v.checkName()
	if !ok {
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		path := w.URI().Path()
		w.Close()
		v.issueTo(name, path)
	}, v.s.c.win)
	d.SetFileName(name + ".bundle")
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// issueTo asks the appliance for a bundle and writes it to path with mode 0600.
func (v *clientsScreen) issueTo(name, path string) {
	run(v.s, func(ctx context.Context) ([]byte, error) {
		b, err := v.s.app.IssueClient(ctx, name)
		if err != nil {
			return nil, err
		}
		// The save dialog may have created the file with the default umask: fix before writing.
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, err
		}
		return b, os.WriteFile(path, b, 0o600)
	}, func(_ []byte, err error) {
		if err != nil {
			v.fail(errText("issue bundle for "+name, err))
			return
		}
		v.msg.Importance = widget.SuccessImportance
		v.msg.SetText(fmt.Sprintf("bundle for %s written to %s (mode 0600)", name, path))
		v.name.SetText("")
		v.refresh()
	})
}

func (v *clientsScreen) confirmRevoke() {
	row := v.table.selected
	if row < 0 || row >= len(v.clients) {
		return
	}
	name := v.clients[row].Name
	dialog.ShowConfirm("Revoke "+name, name+" will no longer be able to administer this appliance. Revoke?", func(ok bool) {
		if ok {
			v.doRevoke(name)
		}
	}, v.s.c.win)
}

func (v *clientsScreen) doRevoke(name string) {
	act(v.s, func(ctx context.Context) error { return v.s.app.RevokeClient(ctx, name) }, func(err error) {
		if err != nil {
			v.fail(errText("revoke "+name, err))
			return
		}
		v.msg.Importance = widget.SuccessImportance
		v.msg.SetText(name + " revoked")
		v.refresh()
	})
}
