package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestSIGTERMDrainsRequestInFlight holds a real request in flight in `bulwark serve` with
// HTTP/2 flow control (the client grants a zero window, so the server cannot finish sending
// the page), sends SIGTERM, then opens the window: the whole response must arrive and the
// process must exit 0 afterwards.
func TestSIGTERMDrainsRequestInFlight(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, data, loopbackConfig(t, "shutdown_timeout = \"20s\"\n"))

	conn, err := tls.Dial("tcp", p.https, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("negotiated %q", conn.ConnectionState().NegotiatedProtocol)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// Wait for the response headers: the handler has run and is now blocked on the window.
	status := ""
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	var body bytes.Buffer
	readUntil := func(stop func(http2.Frame) bool) {
		t.Helper()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("reading frames: %v (body so far %d bytes)", err, body.Len())
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				dec.Write(f.HeaderBlockFragment())
			case *http2.DataFrame:
				body.Write(f.Data())
			}
			if stop(f) {
				return
			}
		}
	}
	readUntil(func(f http2.Frame) bool { _, ok := f.(*http2.HeadersFrame); return ok })
	if status != "200" || body.Len() != 0 {
		t.Fatalf("status %q, %d body bytes before the window opened", status, body.Len())
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.next(t, "draining")
	// The server announces it is going away but keeps the stream in flight.
	readUntil(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	time.Sleep(300 * time.Millisecond)
	if body.Len() != 0 {
		t.Fatal("data sent without window")
	}
	fr.WriteWindowUpdate(1, 1<<20)
	readUntil(func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamEnded()
	})
	if !strings.Contains(body.String(), "Bulwark is running") || !strings.HasSuffix(strings.TrimSpace(body.String()), "</html>") {
		t.Fatalf("in-flight response incomplete: %d bytes", body.Len())
	}
	p.next(t, "stopped")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after draining")
	}
}
