package sdlisten

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// TestTakesActivatedSockets hands real listening sockets to the package at descriptors 3 and 4,
// the way systemd does, and dials them.
func TestTakesActivatedSockets(t *testing.T) {
	var made []*net.TCPListener
	for i := 0; i < 2; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, l.(*net.TCPListener))
	}
	// Move the sockets to fds 3 and 4 (saving whatever the test process had there).
	for i, l := range made {
		f, err := l.File()
		if err != nil {
			t.Fatal(err)
		}
		target := firstFD + i
		saved, err := syscall.Dup(target)
		if err == nil {
			t.Cleanup(func() { syscall.Dup2(saved, target); syscall.Close(saved) })
		}
		if err := syscall.Dup2(int(f.Fd()), target); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	env := map[string]string{
		"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "https:http",
	}
	got, err := listeners(func(k string) string { return env[k] }, func(k string) error { delete(env, k); return nil }, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 0 {
		t.Fatalf("variables not unset: %v", env)
	}
	for i, name := range []string{"https", "http"} {
		l := got[name]
		if l == nil {
			t.Fatalf("no listener %q in %v", name, got)
		}
		if l.Addr().String() != made[i].Addr().String() {
			t.Fatalf("%s: addr %s, want %s", name, l.Addr(), made[i].Addr())
		}
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("ok"))
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
			t.Fatalf("%s: read %q %v", name, buf, err)
		}
		c.Close()
		l.Close()
	}
}

func TestIgnoresOtherPIDAndBadCounts(t *testing.T) {
	env := map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "2"}
	got, err := listeners(func(k string) string { return env[k] }, func(string) error { return nil }, 4242)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want none for another pid", got, err)
	}
	env = map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "lots"}
	if _, err := listeners(func(k string) string { return env[k] }, func(string) error { return nil }, 4242); err == nil {
		t.Fatal("LISTEN_FDS=lots accepted")
	}
}
