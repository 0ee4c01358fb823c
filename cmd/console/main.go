// Command bulwark-console is the desktop console of the appliance (Fyne). It connects over
// mutual TLS with a client bundle or an enrollment token, through core/adminclient (adapted
// in remote.go), and shows the screens of package ui.
//
//	bulwark-console                      open the stored appliances (or the connect screen)
//	bulwark-console --bundle FILE        check and import a bundle, then connect
//	bulwark-console --demo               run against built-in demo data (no appliance)
//	bulwark-console --tour 3s            show every screen in turn, printing "screen NAME"
//	                                     on stdout as each appears (make screenshots uses it)
//	bulwark-console --script FILE        connect, then play the operator steps in FILE (one
//	                                     per line, see runScript) and exit; for end-to-end tests
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"bulwark/core/event"
	"bulwark/ui"
	"bulwark/ui/fake"
	"bulwark/ui/source"
)

func main() {
	demo := flag.Bool("demo", false, "use built-in demo data instead of a real appliance")
	bundle := flag.String("bundle", "", "import this client bundle file and connect")
	dir := flag.String("config-dir", "", "where appliances are stored (default: <user config>/bulwark-console/appliances)")
	tour := flag.Duration("tour", 0, "show each screen for this long, print its name, then exit")
	only := flag.String("tour-screens", "", "comma-separated screens the tour shows (default: all)")
	refresh := flag.Duration("refresh", 5*time.Second, "how often the shown screen reloads")
	script := flag.String("script", "", "play the operator steps in this file after connecting, then exit")
	flag.Parse()
	if err := run(*demo, *bundle, *dir, *tour, *only, *refresh, *script); err != nil {
		fmt.Fprintln(os.Stderr, "bulwark-console:", err)
		os.Exit(1)
	}
}

func run(demo bool, bundle, dir string, tour time.Duration, only string, refresh time.Duration, script string) error {
	a := app.NewWithID("dev.bulwark.console")
	var conn source.Connector = connector{}
	var demoApp *fake.Appliance
	if demo {
		demoApp = fake.New(time.Now())
		demoApp.SetClock(time.Now)
		conn = fake.NewConnector(demoApp)
		if dir == "" {
			d, err := os.MkdirTemp("", "bulwark-console-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
	}
	if dir == "" {
		d, err := ui.DefaultProfilesDir()
		if err != nil {
			return err
		}
		dir = d
	}
	store, err := ui.NewProfiles(dir)
	if err != nil {
		return err
	}
	c := ui.New(a, conn, store, ui.Options{Refresh: refresh})
	defer c.Close()
	start := func() {
		switch {
		case bundle != "":
			c.ImportFile(bundle)
		case demo:
			b, err := fake.NewBundle("operator", "127.0.0.1:9443", time.Now().AddDate(1, 0, 0))
			if err == nil {
				b.Label = "demo-appliance"
				c.Open(b)
			}
			go feed(demoApp)
		default:
			c.OpenStored()
		}
	}
	var steps []string
	if script != "" {
		b, err := os.ReadFile(script)
		if err != nil {
			return err
		}
		steps = strings.Split(string(b), "\n")
	}
	var failed atomic.Bool
	switch {
	case script != "":
		go func() { failed.Store(!runScript(c, steps, start)) }()
	case tour > 0:
		go runTour(c, tour, only, start)
	default:
		start()
	}
	c.Window().ShowAndRun()
	if failed.Load() {
		return fmt.Errorf("script %s failed", script)
	}
	return nil
}

// runScript connects, then plays steps, printing one line per step on stdout ("ok STEP" or
// "error STEP: why") so a test can follow. Besides the window steps of ui.Console.Do:
//
//	say TEXT          print TEXT (a test waits for it before acting on the appliance)
//	sleep DURATION    wait
//	summary           print "summary SCREEN KEY=VALUE..." of the shown screen
//	until TEXT        wait (at most 60 s) until the shown screen's summary contains TEXT
//
// Lines that are empty or start with # are skipped. It quits the app at the end and
// reports whether every step succeeded.
func runScript(c *ui.Console, steps []string, start func()) bool {
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	summary := func() string {
		var s string
		fyne.DoAndWait(func() { s = c.Summary() })
		return s
	}
	defer func() { fyne.DoAndWait(func() { fyne.CurrentApp().Quit() }) }()
	fyne.DoAndWait(start)
	for i := 0; !strings.Contains(summary(), `state="connected"`); i++ {
		if i > 600 {
			say("error connect: not connected after 60s: %s", summary())
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Wait()
	for _, st := range steps {
		st = strings.TrimSpace(st)
		if st == "" || strings.HasPrefix(st, "#") {
			continue
		}
		verb, arg, _ := strings.Cut(st, " ")
		var err error
		switch verb {
		case "say":
			say("%s", arg)
			continue
		case "sleep":
			var d time.Duration
			if d, err = time.ParseDuration(arg); err == nil {
				time.Sleep(d)
			}
		case "summary":
			say("summary %s", summary())
			continue
		case "until":
			deadline := time.Now().Add(60 * time.Second)
			for s := summary(); !strings.Contains(s, arg); s = summary() {
				if time.Now().After(deadline) {
					err = fmt.Errorf("not seen in 60s; the screen says: %s", s)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		default:
			fyne.DoAndWait(func() { err = c.Do(st) })
			c.Wait()
		}
		if err != nil {
			say("error %s: %v", st, err)
			return false
		}
		say("ok %s", st)
	}
	return true
}

// runTour shows the connect screen, connects, then every screen in turn. Each "screen NAME"
// line on stdout says which screen is up so a script can capture it; a "summary ..." line
// follows with what the screen shows, for tests.
func runTour(c *ui.Console, each time.Duration, only string, start func()) {
	out := bufio.NewWriter(os.Stdout)
	say := func(name string) {
		fmt.Fprintf(out, "screen %s\n", strings.ToLower(name))
		out.Flush()
	}
	time.Sleep(each)
	say("connect")
	time.Sleep(each)
	fyne.DoAndWait(start)
	time.Sleep(each)
	for _, s := range ui.Screens() {
		if only != "" && !strings.Contains(","+strings.ToLower(only)+",", ","+strings.ToLower(s)+",") {
			continue
		}
		fyne.DoAndWait(func() { c.SelectScreen(s) })
		time.Sleep(each / 2)
		fyne.DoAndWait(c.PickFirst)
		time.Sleep(each)
		say(s)
		time.Sleep(each)
		var sum string
		fyne.DoAndWait(func() { sum = c.Summary() })
		fmt.Fprintf(out, "summary %s %s\n", strings.ToLower(s), sum)
		out.Flush()
		// A screen with tabs (alerts): each further tab is its own capture, "alerts-channels".
		var tabs []string
		fyne.DoAndWait(func() { tabs = c.Tabs() })
		for i, tab := range tabs {
			if i == 0 {
				continue
			}
			fyne.DoAndWait(func() { _ = c.Do("tab " + tab) })
			time.Sleep(each / 2)
			fyne.DoAndWait(c.PickFirst)
			time.Sleep(each)
			say(s + "-" + tab)
			time.Sleep(each)
		}
	}
	fyne.DoAndWait(func() { fyne.CurrentApp().Quit() })
}

// feed plays traffic into the demo appliance so the live feed and chart move.
func feed(a *fake.Appliance) {
	r := rand.New(rand.NewPCG(3, 5))
	kinds := []event.Kind{event.SQLi, event.XSS, event.Probe, event.Scanner, event.Traversal, event.RateLimit}
	paths := []string{"/shop/search", "/.env", "/wp-login.php", "/blog/comment", "/api/login", "/static/../../etc/passwd"}
	ips := []string{"203.0.113.7", "198.51.100.23", "192.0.2.44", "203.0.113.99"}
	for {
		time.Sleep(time.Duration(300+r.IntN(900)) * time.Millisecond)
		act := event.Blocked
		if r.IntN(4) == 0 {
			act = event.Logged
		}
		a.Push(event.Event{TS: time.Now(), Kind: kinds[r.IntN(len(kinds))], Severity: event.High, Action: act,
			IP: ips[r.IntN(len(ips))], Method: "GET", Host: "example.test", Path: paths[r.IntN(len(paths))], App: "shop", Rule: "942100"})
	}
}
