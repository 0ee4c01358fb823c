package sanitize

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// cdp is a minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 is
// Chromium's input, fd 4 its output, messages separated by NUL). A pipe needs no port, no
// websocket and no origin checks, and dies with the browser.
type cdp struct {
	cmd *exec.Cmd
	w   io.WriteCloser

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpMsg
	onEvent func(cdpMsg)
	closed  chan struct{}
}

type cdpMsg struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium launches headless Chromium with every network route except loopback dead.
func startChromium(t *testing.T, onEvent func(cdpMsg)) *cdp {
	t.Helper()
	const bin = "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("chromium not installed at %s (make test installs it via packaging/devdeps.sh): %v", bin, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--mute-audio", "--no-default-browser-check",
		"--user-data-dir="+t.TempDir(),
		// Traffic only to loopback: names do not resolve, literal addresses go to a dead proxy.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
		"--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	inR.Close()
	outW.Close()
	c := &cdp{cmd: cmd, w: inW, waiting: map[int64]chan cdpMsg{}, onEvent: onEvent, closed: make(chan struct{})}
	go c.read(outR)
	t.Cleanup(func() {
		c.w.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("chromium stderr (tail): %s", tail(stderr.String(), 2000))
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *cdp) read(r io.Reader) {
	defer close(c.closed)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMsg
		if json.Unmarshal(b[:len(b)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.waiting[m.ID]
			delete(c.waiting, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if c.onEvent != nil {
			c.onEvent(m)
		}
	}
}

// send issues a command and waits for its answer.
func (c *cdp) send(session, method string, params any, timeout time.Duration) (json.RawMessage, error) {
	ch, err := c.post(session, method, params)
	if err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-c.closed:
		return nil, fmt.Errorf("%s: chromium exited", method)
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: no answer within %s", method, timeout)
	}
}

// post issues a command without waiting (safe to call from the event callback).
func (c *cdp) post(session, method string, params any) (chan cdpMsg, error) {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMsg, 1)
	c.waiting[id] = ch
	b, _ := json.Marshal(cdpMsg{ID: id, Method: method, SessionID: session, Params: p})
	_, err = c.w.Write(append(b, 0))
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: write to chromium: %w", method, err)
	}
	return ch, nil
}
