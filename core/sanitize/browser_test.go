package sanitize

import (
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// corpusDir walks up from the package folder to the shared corpora next to the repository.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "corpora")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no shared/corpora above %s", dir)
		}
	}
}

type vector struct {
	Source  string `json:"source"`
	ID      string `json:"id"`
	Payload string `json:"payload"`
}

func loadVectors(t testing.TB) []vector {
	b, err := os.ReadFile(filepath.Join(corpusDir(t), "xss", "xss_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v []vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("xss_vectors.json: %v", err)
	}
	return v
}

// instrument runs in every frame before any of its own script (Page.addScriptToEvaluateOnNewDocument):
// it turns alert/confirm/prompt/print into reports, reports every CSP script-src violation (the
// case documents carry a report-only "script-src 'none'", so any inline script, handler,
// javascript: URL or eval shows up even without a dialog), and once the frame has loaded it
// fires every event named by an on* attribute plus a broad list on every element, then
// activates every element carrying a javascript: URL.
const instrument = `(() => {
  const send = (how) => {
    let id = null;
    try {
      let w = window;
      for (let i = 0; i < 30 && w; i++) {
        const fe = w.frameElement;
        if (fe && fe.dataset && fe.dataset.case !== undefined) { id = fe.dataset.case; break; }
        if (w === w.parent) break;
        w = w.parent;
      }
    } catch (e) {}
    if (id === null) {
      // A case calling top.alert(): the stack names the case document that called.
      const m = /\/case\/(\d+)/.exec(String(new Error().stack || ''));
      if (m) id = m[1];
    }
    const msg = JSON.stringify({c: id, how: String(how).slice(0, 160)});
    try { window.__bulwarkHit(msg); return; } catch (e) {}
    try { top.__bulwarkHit(msg); } catch (e) {}
  };
  for (const name of ['alert', 'confirm', 'prompt', 'print']) {
    const f = function () { send('ran:' + name); throw new Error('bulwark: ' + name + ' intercepted'); };
    try { Object.defineProperty(window, name, {value: f, writable: false, configurable: false}); } catch (e) { try { window[name] = f; } catch (e2) {} }
  }
  try {
    document.addEventListener('securitypolicyviolation', (e) => e.isTrusted && send('csp:' + e.effectiveDirective + ' ' + e.blockedURI + ' ' + e.sample), true);
  } catch (e) {}
  if (window === top) return;
  const EVENTS = ['click','dblclick','auxclick','contextmenu','mousedown','mouseup','mouseover','mouseout','mouseenter',
    'mouseleave','mousemove','mousewheel','wheel','pointerdown','pointerup','pointerover','pointerout','pointerenter',
    'pointerleave','pointermove','pointerrawupdate','gotpointercapture','lostpointercapture','touchstart','touchend','touchmove',
    'focus','blur','focusin','focusout','keydown','keypress','keyup','input','beforeinput','change','select','selectstart',
    'selectionchange','submit','reset','invalid','search','load','error','abort','loadstart','loadend','progress','animationstart',
    'animationend','animationiteration','animationcancel','transitionstart','transitionend','transitionrun','transitioncancel',
    'toggle','beforetoggle','scroll','scrollend','resize','drag','dragstart','dragend','dragenter','dragleave','dragover','drop',
    'copy','cut','paste','play','playing','pause','ended','canplay','canplaythrough','loadeddata','loadedmetadata','durationchange',
    'timeupdate','volumechange','seeked','seeking','stalled','suspend','waiting','emptied','ratechange','begin','end','repeat',
    'start','finish','bounce','show','close','cancel','message','hashchange','popstate','pageshow','pagehide','beforeunload',
    'unload','online','offline','storage','beforeprint','afterprint','readystatechange','visibilitychange','webkitanimationstart',
    'webkitanimationend','webkittransitionend','fullscreenchange','formdata','slotchange','cuechange',
    'contentvisibilityautostatechange','beforematch','scrollsnapchange','command'];
  const isJS = (v) => { try { return new URL(String(v).trim(), document.baseURI).protocol === 'javascript:'; } catch (e) { return /^[\s\x00-\x20]*javascript:/i.test(String(v)); } };
  const fire = (el, type) => { try { el.dispatchEvent(new Event(type, {bubbles: false, cancelable: true})); } catch (e) {} };
  // Links that are not javascript: must not navigate the frame away before the rest has fired.
  addEventListener('click', (e) => {
    const a = e.target && e.target.closest && e.target.closest('a,area');
    if (a && !isJS(a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))) e.preventDefault();
  }, true);
  addEventListener('submit', (e) => {
    const act = (e.submitter && e.submitter.getAttribute('formaction')) || (e.target && e.target.getAttribute && e.target.getAttribute('action'));
    if (!isJS(act)) e.preventDefault();
  }, true);
  let fired = false;
  addEventListener('load', (ev) => {
    if (fired || !ev.isTrusted) return;
    fired = true;
    const all = Array.from(document.querySelectorAll('*'));
    for (const el of all) {
      for (const a of Array.from(el.attributes || [])) {
        if (a.name.toLowerCase().startsWith('on')) fire(el, a.name.slice(2).toLowerCase());
      }
    }
    for (const t of ['load', 'pageshow', 'hashchange', 'message', 'resize', 'scroll', 'popstate', 'error', 'focus', 'blur', 'online', 'storage']) fire(window, t);
    for (const el of all) {
      for (const t of EVENTS) fire(el, t);
    }
    for (const el of all) {
      for (const a of Array.from(el.attributes || [])) {
        if (a.name.toLowerCase().startsWith('on') || !isJS(a.value)) continue;
        send('jsurl:' + el.localName + '[' + a.name + ']');
        try {
          if (el.localName === 'form') { el.requestSubmit ? el.requestSubmit() : el.submit(); }
          else el.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true, view: window}));
        } catch (e) {}
      }
    }
  }, true);
})();`

// browserRun drives one Chromium tab through batches of cases, each case its own iframe
// document served from a loopback HTTP server.
type browserRun struct {
	t        *testing.T
	c        *cdp
	session  string
	targetID string
	base     string
	batchSeq int
	cases    []string

	mu           sync.Mutex
	frameParent  map[string]string // frame id → parent frame id
	frameCase    map[string]int    // case frame id → case index
	ctxFrame     map[int64]string  // execution context id → frame id
	signals      map[int]map[string]bool
	unattributed int
	done         chan string
}

func newBrowserRun(t *testing.T) *browserRun {
	br := &browserRun{t: t, signals: map[int]map[string]bool{}, done: make(chan string, 16),
		frameParent: map[string]string{}, frameCase: map[string]int{}, ctxFrame: map[int64]string{}}
	br.c = startChromium(t, br.onEvent)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(br.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	br.base = "http://" + ln.Addr().String()
	br.newTab()
	return br
}

func (br *browserRun) newTab() {
	t := br.t
	res, err := br.c.send("", "Target.createTarget", map[string]any{"url": "about:blank"}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var tg struct {
		TargetID string `json:"targetId"`
	}
	json.Unmarshal(res, &tg)
	res, err = br.c.send("", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var at struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(res, &at)
	br.session = at.SessionID
	for _, step := range []struct {
		m string
		p any
	}{
		{"Page.enable", nil},
		{"Runtime.enable", nil},
		{"Runtime.addBinding", map[string]any{"name": "__bulwarkHit"}},
		{"Runtime.addBinding", map[string]any{"name": "__bulwarkDone"}},
		{"Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": instrument}},
	} {
		if _, err := br.c.send(br.session, step.m, step.p, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Remember which target to close if it hangs.
	br.targetID = tg.TargetID
}

func (br *browserRun) onEvent(m cdpMsg) {
	if os.Getenv("BULWARK_CDP_DEBUG") == "2" && !strings.HasPrefix(m.Method, "Runtime.executionContext") {
		br.t.Logf("event %s %s", m.Method, tail(string(m.Params), 300))
	}
	switch m.Method {
	case "Page.frameAttached":
		var p struct{ FrameID, ParentFrameID string }
		json.Unmarshal(m.Params, &p)
		br.mu.Lock()
		br.frameParent[p.FrameID] = p.ParentFrameID
		br.mu.Unlock()
	case "Page.frameNavigated":
		var p struct {
			Frame struct{ ID, ParentID, URL string }
		}
		json.Unmarshal(m.Params, &p)
		br.mu.Lock()
		if p.Frame.ParentID != "" {
			br.frameParent[p.Frame.ID] = p.Frame.ParentID
		}
		if _, rest, ok := strings.Cut(p.Frame.URL, "/case/"); ok {
			if id, err := strconv.Atoi(rest); err == nil {
				br.frameCase[p.Frame.ID] = id
			}
		}
		br.mu.Unlock()
	case "Runtime.executionContextCreated":
		var p struct {
			Context struct {
				ID      int64
				AuxData struct{ FrameID string }
			}
		}
		json.Unmarshal(m.Params, &p)
		br.mu.Lock()
		br.ctxFrame[p.Context.ID] = p.Context.AuxData.FrameID
		br.mu.Unlock()
	case "Page.javascriptDialogOpening":
		// A real dialog means the override was bypassed: count it, and never let it block.
		br.c.post(m.SessionID, "Page.handleJavaScriptDialog", map[string]any{"accept": true})
		var p struct{ FrameID, URL, Type string }
		json.Unmarshal(m.Params, &p)
		br.mu.Lock()
		defer br.mu.Unlock()
		br.mark(br.caseOfFrame(p.FrameID), "ran:dialog-"+p.Type)
	case "Runtime.bindingCalled":
		var p struct {
			Name               string `json:"name"`
			Payload            string `json:"payload"`
			ExecutionContextID int64  `json:"executionContextId"`
		}
		json.Unmarshal(m.Params, &p)
		if p.Name == "__bulwarkDone" {
			select {
			case br.done <- p.Payload:
			default:
			}
			return
		}
		var h struct {
			C   *string `json:"c"`
			How string  `json:"how"`
		}
		json.Unmarshal([]byte(p.Payload), &h)
		br.mu.Lock()
		defer br.mu.Unlock()
		id := -1
		if h.C != nil {
			if n, err := strconv.Atoi(*h.C); err == nil {
				id = n
			}
		}
		if id < 0 {
			id = br.caseOfFrame(br.ctxFrame[p.ExecutionContextID])
		}
		kind, _, _ := strings.Cut(h.How, " ")
		if id < 0 && os.Getenv("BULWARK_CDP_DEBUG") != "" {
			br.t.Logf("unattributed detail: ctx=%d frame=%q payload=%s", p.ExecutionContextID, br.ctxFrame[p.ExecutionContextID], p.Payload)
		}
		br.mark(id, kind)
	}
}

// caseOfFrame walks up from a frame to the case frame holding it; -1 if none.
func (br *browserRun) caseOfFrame(f string) int {
	for i := 0; i < 50 && f != ""; i++ {
		if id, ok := br.frameCase[f]; ok {
			return id
		}
		f = br.frameParent[f]
	}
	return -1
}

// mark records a signal for case id (under br.mu); an unknown case counts as unattributed.
func (br *browserRun) mark(id int, kind string) {
	if id < 0 || id >= len(br.cases) {
		br.unattributed++
		if os.Getenv("BULWARK_CDP_DEBUG") != "" {
			br.t.Logf("unattributed: %s", kind)
		}
		return
	}
	if br.signals[id] == nil {
		br.signals[id] = map[string]bool{}
	}
	br.signals[id][kind] = true
}

func (br *browserRun) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/case/"):
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/case/"))
		if err != nil || id < 0 || id >= len(br.cases) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy-Report-Only", "script-src 'none'")
		w.Write([]byte(br.cases[id]))
	case r.URL.Path == "/batch":
		var b strings.Builder
		b.WriteString("<!doctype html><meta charset=utf-8><body>")
		for _, s := range strings.Split(r.URL.Query().Get("cases"), ",") {
			fmt.Fprintf(&b, `<iframe data-case="%s" width=40 height=20 sandbox="allow-scripts allow-same-origin allow-modals allow-forms" src="/case/%s"></iframe>`, html.EscapeString(s), html.EscapeString(s))
		}
		fmt.Fprintf(&b, `<script>addEventListener('load', () => setTimeout(() => __bulwarkDone(%q), 150));</script>`, r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(b.String()))
	default:
		http.NotFound(w, r)
	}
}

// runBatch loads ids in one page and waits for it to settle. A batch that hangs or produces a
// report it cannot attribute to one case is split in halves until every report is attributed.
func (br *browserRun) runBatch(ids []int) {
	if len(ids) == 0 {
		return
	}
	br.mu.Lock()
	br.unattributed = 0
	br.mu.Unlock()
	br.batchSeq++
	n := strconv.Itoa(br.batchSeq)
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	url := br.base + "/batch?n=" + n + "&cases=" + strings.Join(strs, ",")
	if _, err := br.c.send(br.session, "Page.navigate", map[string]any{"url": url}, 20*time.Second); err != nil {
		br.t.Logf("navigate: %v; restarting tab", err)
		br.restartTab()
		br.split(ids, "navigation failed")
		return
	}
	t0 := time.Now()
	defer func() {
		if os.Getenv("BULWARK_CDP_DEBUG") != "" {
			br.t.Logf("batch %s: %d cases, %s", n, len(ids), time.Since(t0).Round(time.Millisecond))
		}
	}()
	timeout := time.After(time.Duration(5+len(ids)/10) * time.Second)
	for {
		select {
		case got := <-br.done:
			if got != n {
				continue // a late signal from an earlier batch
			}
			br.mu.Lock()
			un := br.unattributed
			br.mu.Unlock()
			if un > 0 {
				if len(ids) == 1 {
					br.mu.Lock()
					if br.signals[ids[0]] == nil {
						br.signals[ids[0]] = map[string]bool{}
					}
					br.signals[ids[0]]["ran:unattributed"] = true
					br.mu.Unlock()
					return
				}
				br.split(ids, "unattributed report")
			}
			return
		case <-timeout:
			br.restartTab()
			if len(ids) == 1 {
				br.mu.Lock()
				if br.signals[ids[0]] == nil {
					br.signals[ids[0]] = map[string]bool{}
				}
				br.signals[ids[0]]["hang"] = true
				br.mu.Unlock()
				return
			}
			br.split(ids, "timeout")
			return
		}
	}
}

func (br *browserRun) split(ids []int, why string) {
	if len(ids) == 1 {
		br.mu.Lock()
		if br.signals[ids[0]] == nil {
			br.signals[ids[0]] = map[string]bool{}
		}
		br.signals[ids[0]]["hang"] = true
		br.mu.Unlock()
		return
	}
	h := len(ids) / 2
	br.runBatch(ids[:h])
	br.runBatch(ids[h:])
}

func (br *browserRun) restartTab() {
	br.c.send("", "Target.closeTarget", map[string]any{"targetId": br.targetID}, 10*time.Second)
	br.newTab()
}

// run loads every case and returns, per case index, the signals it produced.
func (br *browserRun) run(cases []string, batch int) map[int]map[string]bool {
	br.mu.Lock()
	br.cases = cases
	br.signals = map[int]map[string]bool{}
	br.mu.Unlock()
	for start := 0; start < len(cases); start += batch {
		end := min(start+batch, len(cases))
		ids := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			ids = append(ids, i)
		}
		br.runBatch(ids)
	}
	// Let late reports land before reading.
	time.Sleep(200 * time.Millisecond)
	br.mu.Lock()
	defer br.mu.Unlock()
	out := br.signals
	br.signals = map[int]map[string]bool{}
	return out
}

func ran(sig map[string]bool) bool {
	for k := range sig {
		if strings.HasPrefix(k, "ran:") {
			return true
		}
	}
	return false
}

// TestSanitizedVectorsRunNoScriptInChromium is the real-browser proof of the default policy.
func TestSanitizedVectorsRunNoScriptInChromium(t *testing.T) {
	vectors := loadVectors(t)
	if n, _ := strconv.Atoi(os.Getenv("BULWARK_XSS_LIMIT")); n > 0 && n < len(vectors) {
		vectors = vectors[:n]
	}
	if testing.Short() {
		var s []vector
		for i := 0; i < len(vectors); i += 5 {
			s = append(s, vectors[i])
		}
		vectors = s
	}
	set := NewSet()
	br := newBrowserRun(t)
	start := time.Now()

	// Raw payloads first: the harness must see script run, or it proves nothing. Every third
	// payload is enough for that control (and keeps the test within its time budget); the
	// sanitized outputs below are checked for every payload.
	var raw []string
	for i := 0; i < len(vectors); i += 3 {
		raw = append(raw, vectors[i].Payload)
	}
	rawSig := br.run(raw, 100)
	rawRan := 0
	for _, sig := range rawSig {
		if ran(sig) {
			rawRan++
		}
	}
	t.Logf("raw payloads: %d of %d ran script in Chromium (%s)", rawRan, len(raw), time.Since(start).Round(time.Millisecond))
	// The corpus README measured 559 of 2,795; ask for at least 60% of that share.
	if want := len(raw) * 559 * 6 / (2795 * 10); rawRan < want {
		t.Errorf("only %d raw payloads ran script, want at least %d: the harness cannot see script run", rawRan, want)
	}

	// Sanitized outputs, deduplicated (identical documents behave identically).
	start = time.Now()
	index := map[string]int{}
	var outs []string
	owner := map[int][]int{}
	for i, v := range vectors {
		o, err := set.Sanitize(v.Payload, "")
		if err != nil {
			t.Fatal(err)
		}
		k, ok := index[o]
		if !ok {
			k = len(outs)
			index[o] = k
			outs = append(outs, o)
		}
		owner[k] = append(owner[k], i)
	}
	cleanSig := br.run(outs, 100)
	t.Logf("sanitized: %d payloads, %d distinct outputs, %d with any signal (%s)", len(vectors), len(outs), len(cleanSig), time.Since(start).Round(time.Millisecond))
	var bad []int
	for k := range cleanSig {
		bad = append(bad, k)
	}
	sort.Ints(bad)
	for _, k := range bad {
		var kinds []string
		for s := range cleanSig[k] {
			kinds = append(kinds, s)
		}
		sort.Strings(kinds)
		v := vectors[owner[k][0]]
		t.Errorf("sanitized output still runs script (%s): %s/%s %q → %q", strings.Join(kinds, ","), v.Source, v.ID, v.Payload, outs[k])
	}
}
