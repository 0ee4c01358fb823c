package ui

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/ui/source"
)

// connectScreen adds appliances (enrollment token or bundle file) and lists the stored ones.
type connectScreen struct {
	c *Console

	label, token       *widget.Entry
	enrollBtn, fileBtn *widget.Button
	msg                *widget.Label
	list               *widget.List
	stored             []source.Bundle
	content            fyne.CanvasObject
}

func newConnect(c *Console) *connectScreen {
	s := &connectScreen{c: c}
	s.label = widget.NewEntry()
	s.label.SetPlaceHolder("name for this appliance, e.g. prod-eu")
	s.token = widget.NewEntry()
	s.token.SetPlaceHolder("paste the enrollment token (bwk1.…)")
	s.enrollBtn = widget.NewButtonWithIcon("Enroll with token", theme.ConfirmIcon(), s.enroll)
	s.fileBtn = widget.NewButtonWithIcon("Open bundle file…", theme.FolderOpenIcon(), s.chooseFile)
	s.msg = widget.NewLabel("")
	s.msg.Wrapping = fyne.TextWrapWord
	s.msg.Importance = widget.DangerImportance
	s.list = widget.NewList(func() int { return len(s.stored) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil,
				container.NewHBox(widget.NewButton("Connect", nil), widget.NewButtonWithIcon("", theme.DeleteIcon(), nil)),
				widget.NewLabel(""))
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			b := s.stored[i]
			row := o.(*fyne.Container)
			row.Objects[0].(*widget.Label).SetText(fmt.Sprintf("%s — %s as %s", b.Label, b.Addr, b.Name))
			btns := row.Objects[1].(*fyne.Container)
			btns.Objects[0].(*widget.Button).OnTapped = func() { s.open(b, false) }
			btns.Objects[1].(*widget.Button).OnTapped = func() {
				dialog.ShowConfirm("Remove appliance", "Forget "+b.Label+" and its client key on this desktop?", func(ok bool) {
					if ok {
						if err := c.store.Remove(b.Label); err != nil {
							s.fail(err.Error())
						}
						s.reload()
						c.reloadPicker()
					}
				}, c.win)
			}
		})
	tokenForm := widget.NewForm(
		widget.NewFormItem("Name", s.label),
		widget.NewFormItem("Token", s.token))
	intro := widget.NewLabel("Add an appliance. With a token (from 'bulwark admin enroll NAME') the console makes its own key and certificate request, " +
		"so the private key never leaves this desktop. Or open a bundle file made with 'bulwark admin issue'.")
	intro.Wrapping = fyne.TextWrapWord
	add := widget.NewCard("Add an appliance", "", container.NewVBox(intro, tokenForm,
		container.NewHBox(s.enrollBtn, widget.NewLabel("or"), s.fileBtn), s.msg))
	stored := widget.NewCard("Appliances on this desktop", "", container.NewGridWrap(fyne.NewSize(640, 260), s.list))
	s.content = container.NewVScroll(container.NewPadded(container.NewVBox(add, stored)))
	s.reload()
	return s
}

func (s *connectScreen) object() fyne.CanvasObject { return s.content }

func (s *connectScreen) reload() {
	list, err := s.c.store.List()
	s.stored = list
	s.list.Refresh()
	if err != nil {
		s.fail(err.Error())
	}
}

func (s *connectScreen) fail(m string) {
	s.msg.Importance = widget.DangerImportance
	s.msg.SetText(m)
}

func (s *connectScreen) info(m string) {
	s.msg.Importance = widget.MediumImportance
	s.msg.SetText(m)
}

func (s *connectScreen) chooseFile() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			s.fail("open bundle: " + err.Error())
			return
		}
		if r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		s.importFile(path)
	}, s.c.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// importFile validates a bundle file, then connects with it and stores it (UI goroutine).
func (s *connectScreen) importFile(path string) {
	b, err := s.readBundle(path)
	if err != nil {
		s.fail(err.Error())
		return
	}
	s.open(b, true)
}

// readBundle checks permissions, format, key and expiry: everything that needs no network.
func (s *connectScreen) readBundle(path string) (source.Bundle, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return source.Bundle{}, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return source.Bundle{}, fmt.Errorf("bad permissions: %s is readable by other users (mode %04o). "+
			"It holds an admin key: run chmod 600 %s, then open it again", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return source.Bundle{}, fmt.Errorf("bad permissions: you cannot read %s", path)
	}
	if err != nil {
		return source.Bundle{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	b, err := s.c.conn.ParseBundle(data)
	if err != nil {
		return b, fmt.Errorf("wrong file: %s is not a Bulwark client bundle (%v)", path, err)
	}
	if err := checkBundle(b, s.c.opt.Now()); err != nil {
		return b, err
	}
	if b.Label == "" {
		b.Label = strings.TrimSpace(s.label.Text)
	}
	if b.Label == "" {
		b.Label = b.Name + "@" + b.Addr
	}
	return b, nil
}

// checkBundle verifies the certificate parses, matches the key, is signed by the bundle's CA
// and is within its validity period at now.
func checkBundle(b source.Bundle, now time.Time) error {
	pair, err := tls.X509KeyPair([]byte(b.CertPEM), []byte(b.KeyPEM))
	if err != nil {
		return fmt.Errorf("wrong file: the bundle's certificate and key do not belong together (%v)", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("wrong file: bad client certificate (%v)", err)
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("expired certificate: the client certificate %q expired on %s; ask for a new bundle ('bulwark admin issue')",
			cert.Subject.CommonName, cert.NotAfter.Format("2006-01-02 15:04 MST"))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("certificate not yet valid: it starts on %s; check this desktop's clock", cert.NotBefore.Format("2006-01-02 15:04 MST"))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(b.CAPEM)) {
		return errors.New("wrong file: the bundle has no appliance CA certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("wrong file: the client certificate is not from the bundle's appliance CA (%v)", err)
	}
	return nil
}

// open connects with b off the UI goroutine; on success it stores b (if save) and attaches.
func (s *connectScreen) open(b source.Bundle, save bool) {
	s.info("connecting to " + b.Addr + "…")
	s.enrollBtn.Disable()
	s.fileBtn.Disable()
	s.c.tasks.Add(1)
	go func() {
		defer s.c.tasks.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.c.opt.Timeout)
		app, err := s.c.conn.Open(ctx, b)
		cancel()
		s.c.do(func() {
			s.enrollBtn.Enable()
			s.fileBtn.Enable()
			if err != nil {
				s.fail(openError(b, err))
				return
			}
			if save {
				if err := s.c.store.Save(b); err != nil {
					_ = app.Close()
					s.fail(err.Error())
					return
				}
			}
			s.info("connected to " + b.Label)
			s.reload()
			s.c.attach(b, app)
		})
	}()
}

func openError(b source.Bundle, err error) string {
	switch {
	case errors.Is(err, source.ErrRefused):
		return fmt.Sprintf("refused certificate: %s does not accept the client certificate %q — it may be revoked or issued by another appliance (%v)", b.Addr, b.Name, err)
	case errors.Is(err, source.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("unreachable appliance: cannot reach %s — check it runs and the address is right (%v)", b.Addr, err)
	}
	return fmt.Sprintf("cannot connect to %s: %v", b.Addr, err)
}

// enroll trades a token for a certificate; the connector makes the key on this desktop.
func (s *connectScreen) enroll() {
	label, token := strings.TrimSpace(s.label.Text), strings.TrimSpace(s.token.Text)
	switch {
	case label == "":
		s.fail("name: give this appliance a name")
		return
	case token == "":
		s.fail("token: paste the enrollment token ('bulwark admin enroll NAME' prints one)")
		return
	}
	s.info("enrolling…")
	s.enrollBtn.Disable()
	s.c.tasks.Add(1)
	go func() {
		defer s.c.tasks.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.c.opt.Timeout)
		b, err := s.c.conn.Enroll(ctx, token)
		cancel()
		s.c.do(func() {
			s.enrollBtn.Enable()
			if err != nil {
				if errors.Is(err, source.ErrUnreachable) || errors.Is(err, source.ErrRefused) || errors.Is(err, context.DeadlineExceeded) {
					s.fail("enroll: " + openError(b, err))
				} else {
					s.fail("enroll: " + err.Error())
				}
				return
			}
			b.Label = label
			if err := checkBundle(b, s.c.opt.Now()); err != nil {
				s.fail(err.Error())
				return
			}
			s.token.SetText("")
			s.open(b, true)
		})
	}()
}
