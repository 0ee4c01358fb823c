package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"bulwark/core/event"
)

// Options configure a Supervisor. Zero values are usable except Exe in tests.
type Options struct {
	Exe      string   // worker binary; default: this executable
	Args     []string // its arguments; default: [WorkerCommand]
	Events   event.Sink
	Host     Host    // capability calls; nil refuses them all
	Logs     LogSink // console lines; nil drops them
	EmptyDir string  // workers' working directory; default: a fresh empty temporary folder
	// StartTimeout bounds a worker's start (hello, program, warm runtimes).
	StartTimeout time.Duration
	// AddressSlackMB is added to the worker's measured baseline and its MemoryMB to form the
	// RLIMIT_AS wall: thread stacks and the heap's growth in 64 MB arenas need room.
	AddressSlackMB int
	// RestartBackoff is the first wait before restarting a dead worker; it doubles per death
	// up to RestartBackoffMax and resets once a worker has lived 30 s.
	RestartBackoff, RestartBackoffMax time.Duration
}

// Stats describe a started version, for operators and benchmarks.
type Stats struct {
	Workers        int
	Warm           time.Duration // time to build the warm runtimes in one worker
	HeapPerRuntime int64         // Go heap in use per warm runtime
	Restarts       int64         // workers restarted after dying
}

// Supervisor runs one app version in its worker processes and dispatches requests to them.
type Supervisor struct {
	opts     Options
	spec     Spec
	lim      Limits
	ownDir   bool
	done     chan struct{}
	closing  atomic.Bool
	draining atomic.Bool
	slots    []*slot
	sem      chan struct{} // one token per runtime slot across all workers

	statsMu  sync.Mutex
	stats    Stats
	restarts atomic.Int64
	wg       sync.WaitGroup
}

// Start launches the version's workers and returns once every one has compiled the program
// and warmed its runtimes; the first failure (syntax error, no default export, a worker that
// cannot lock itself down) stops the others and is returned.
func Start(opts Options, spec Spec) (*Supervisor, error) {
	spec.Limits = spec.Limits.withDefaults()
	if opts.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("sandbox: find worker binary: %w", err)
		}
		opts.Exe = exe
	}
	if opts.Args == nil {
		opts.Args = []string{WorkerCommand}
	}
	if opts.Events == nil {
		opts.Events = event.Discard
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 15 * time.Second
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = 50 * time.Millisecond
	}
	if opts.RestartBackoffMax <= 0 {
		opts.RestartBackoffMax = 5 * time.Second
	}
	if opts.AddressSlackMB <= 0 {
		opts.AddressSlackMB = 256
	}
	s := &Supervisor{opts: opts, spec: spec, lim: spec.Limits, done: make(chan struct{})}
	if s.opts.EmptyDir == "" {
		d, err := os.MkdirTemp("", "bulwark-worker-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: working folder: %w", err)
		}
		os.Chmod(d, 0o555)
		s.opts.EmptyDir, s.ownDir = d, true
	}
	s.sem = make(chan struct{}, s.lim.Workers*s.lim.Concurrency)
	errs := make(chan error, s.lim.Workers)
	for i := 0; i < s.lim.Workers; i++ {
		sl := &slot{s: s, idx: i}
		s.slots = append(s.slots, sl)
		s.wg.Add(1)
		go sl.run(errs)
	}
	var first error
	for range s.lim.Workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		s.Close()
		return nil, fmt.Errorf("start %s v%d: %w", spec.App, spec.Version, first)
	}
	return s, nil
}

// Stats returns what the workers reported at start.
func (s *Supervisor) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.Restarts = s.restarts.Load()
	return st
}

// Spec returns the version this supervisor runs.
func (s *Supervisor) Spec() Spec { return s.spec }

// Drain refuses new requests, lets those in flight finish (at most timeout), then closes. A
// deploy or rollback drains the version it replaced.
func (s *Supervisor) Drain(timeout time.Duration) {
	s.draining.Store(true)
	for deadline := time.Now().Add(timeout); len(s.sem) > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
}

// Close stops the workers: their channels close, they exit, stragglers are killed.
func (s *Supervisor) Close() {
	if s.closing.Swap(true) {
		return
	}
	close(s.done)
	for _, sl := range s.slots {
		if p := sl.cur.Load(); p != nil {
			p.stop()
		}
	}
	s.wg.Wait()
	if s.ownDir {
		os.Chmod(s.opts.EmptyDir, 0o700)
		os.RemoveAll(s.opts.EmptyDir)
	}
}

// Pids lists the live workers' process ids (for tests and the status page).
func (s *Supervisor) Pids() []int {
	var out []int
	for _, sl := range s.slots {
		if p := sl.cur.Load(); p != nil {
			out = append(out, p.cmd.Process.Pid)
		}
	}
	return out
}

// slot keeps one worker alive: it restarts a dead worker with exponential backoff.
type slot struct {
	s   *Supervisor
	idx int
	cur atomic.Pointer[proc]
}

func (sl *slot) run(first chan<- error) {
	defer sl.s.wg.Done()
	backoff := sl.s.opts.RestartBackoff
	for {
		p, err := sl.s.spawn()
		if err == nil {
			// Visible to pick before Start returns: a version is ready when Start says so.
			sl.cur.Store(p)
		}
		if first != nil {
			first <- err
			first = nil
			if err != nil {
				return
			}
		}
		if err == nil {
			if sl.s.closing.Load() {
				p.stop()
				<-p.dead
				sl.cur.Store(nil)
				return
			}
			started := time.Now()
			<-p.dead
			sl.cur.Store(nil)
			if time.Since(started) > 30*time.Second {
				backoff = sl.s.opts.RestartBackoff
			}
		}
		select {
		case <-sl.s.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, sl.s.opts.RestartBackoffMax)
		sl.s.restarts.Add(1)
	}
}

// proc is one running worker process, seen from the supervisor.
type proc struct {
	s      *Supervisor
	cmd    *exec.Cmd
	conn   *os.File
	in     *bufio.Reader
	wmu    sync.Mutex
	out    *bufio.Writer
	stderr *tail

	mu       sync.Mutex
	pending  map[uint32]*pendingReq
	nextID   uint32
	inflight atomic.Int32
	fatal    *fatalNote
	killedBy string // set when the supervisor killed it, and why

	dead chan struct{}
}

type pendingReq struct {
	req      *Request
	ch       chan result
	deadline time.Time // backstop: the worker is killed if no answer came by then
}

type result struct {
	resp *Response
	err  *Error
}

type fatalNote struct {
	reqID   string
	outcome Outcome
	figure  string
}

func (s *Supervisor) spawn() (*proc, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	parent := os.NewFile(uintptr(fds[0]), "worker-channel")
	child := os.NewFile(uintptr(fds[1]), "channel")
	cmd := exec.Command(s.opts.Exe, s.opts.Args...)
	cmd.Env = []string{} // empty, not inherited
	cmd.Dir = s.opts.EmptyDir
	cmd.ExtraFiles = []*os.File{child}
	st := &tail{max: 8 << 10}
	cmd.Stderr = st
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if os.Geteuid() == 0 {
		// Never run app code as root: nobody owns nothing.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}
	}
	if err := cmd.Start(); err != nil {
		parent.Close()
		child.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	child.Close()
	ch, err := newRawChan(parent)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		parent.Close()
		return nil, fmt.Errorf("worker channel: %w", err)
	}
	p := &proc{s: s, cmd: cmd, conn: parent, in: bufio.NewReaderSize(ch, 64<<10),
		out: bufio.NewWriterSize(ch, 64<<10), stderr: st, pending: map[uint32]*pendingReq{}, dead: make(chan struct{})}
	fail := func(err error) (*proc, error) {
		cmd.Process.Kill()
		cmd.Wait()
		parent.Close()
		if msg := st.lastLine(); msg != "" {
			err = fmt.Errorf("%w (worker said: %s)", err, msg)
		}
		return nil, err
	}
	parent.SetReadDeadline(time.Now().Add(s.opts.StartTimeout))
	f, err := readFrame(p.in)
	if err != nil || f.typ != msgHello {
		return fail(fmt.Errorf("worker did not start: %v", errOr(err, "unexpected first message")))
	}
	vsz, err := processVSZ(cmd.Process.Pid)
	if err != nil {
		return fail(fmt.Errorf("measure worker: %w", err))
	}
	// The wall goes on before the worker holds any app code. The worker sets it on itself
	// (prlimit on another user's process needs CAP_SYS_RESOURCE, which the appliance lacks)
	// and the supervisor checks it took effect below.
	wall := vsz + uint64(s.lim.MemoryMB+s.opts.AddressSlackMB)<<20 + threadAllowance(s.lim.Concurrency)
	var ie enc
	ie.uint(wall)
	ie.b = append(ie.b, encodeInit(&s.spec)...)
	if err := p.send(msgInit, 0, ie.b); err != nil {
		return fail(fmt.Errorf("send program: %w", err))
	}
	f, err = readFrame(p.in)
	if err != nil || f.typ != msgReady {
		return fail(fmt.Errorf("worker died while loading the app: %v", errOr(err, "unexpected message")))
	}
	d := dec{b: f.body}
	if msg := d.str(); f.id != 0 || msg != "" {
		cmd.Process.Kill()
		cmd.Wait()
		parent.Close()
		return nil, errors.New(msg)
	}
	warm, heap, n := time.Duration(d.int()), d.int(), d.int()
	if got, err := addressLimit(cmd.Process.Pid); err != nil || got != wall {
		return fail(fmt.Errorf("worker memory wall not in place (want %d, have %d): %v", wall, got, err))
	}
	parent.SetReadDeadline(time.Time{})
	s.statsMu.Lock()
	s.stats.Workers = s.lim.Workers
	s.stats.Warm = warm
	if n > 0 {
		s.stats.HeapPerRuntime = heap / n
	}
	s.statsMu.Unlock()
	go p.readLoop()
	go p.watchPending()
	return p, nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func (p *proc) send(typ byte, id uint32, body []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return writeFrame(p.out, typ, id, body)
}

// stop closes the channel (the worker exits on EOF) and kills it if it lingers.
func (p *proc) stop() {
	p.conn.Close()
	select {
	case <-p.dead:
	case <-time.After(2 * time.Second):
		p.kill("stopped")
	}
}

func (p *proc) kill(why string) {
	p.mu.Lock()
	if p.killedBy == "" {
		p.killedBy = why
	}
	p.mu.Unlock()
	// The worker leads its own process group; kill the group in case it ever had children.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Process.Kill()
}

func (p *proc) readLoop() {
	for {
		f, err := readFrame(p.in)
		if err != nil {
			break
		}
		switch f.typ {
		case msgResponse:
			p.mu.Lock()
			pr := p.pending[f.id]
			delete(p.pending, f.id)
			p.mu.Unlock()
			if pr != nil {
				resp, rerr, derr := decodeResponse(f.body)
				if derr != nil {
					rerr = &Error{Outcome: Crash, Msg: "garbled response from worker"}
				}
				pr.ch <- result{resp, rerr}
			}
		case msgCall:
			d := dec{b: f.body}
			c := Call{App: p.s.spec.App, Version: p.s.spec.Version, RequestID: d.str(), Op: d.str(), Args: d.bytes()}
			if d.err != nil {
				p.kill("garbled capability call")
				continue
			}
			go p.serveCall(f.id, c)
		case msgLog:
			d := dec{b: f.body}
			id, level, line := d.str(), d.str(), d.str()
			if p.s.opts.Logs != nil && d.err == nil {
				p.s.opts.Logs.Log(p.s.spec.App, id, level, line)
			}
		case msgFatal:
			d := dec{b: f.body}
			n := &fatalNote{reqID: d.str(), outcome: Outcome(d.uint()), figure: d.str()}
			p.mu.Lock()
			p.fatal = n
			p.mu.Unlock()
		default:
			p.kill("unknown message from worker")
		}
	}
	p.conn.Close()
	p.kill("channel closed")
	state, _ := p.cmd.Process.Wait()
	p.cmd.Wait()
	p.die(state)
}

func (p *proc) serveCall(id uint32, c Call) {
	var data []byte
	err := errors.New(c.Op + ": capability not available")
	if h := p.s.opts.Host; h != nil {
		data, err = safeCall(h, c)
	}
	var e enc
	if err != nil {
		e.uint(1)
		e.str(err.Error())
	} else {
		e.uint(0)
		e.bytes(data)
	}
	p.send(msgReply, id, e.b)
}

func safeCall(h Host, c Call) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: capability failed", c.Op)
		}
	}()
	return h.Call(c)
}

// die fails every request still pending on a dead worker and turns the death into events.
func (p *proc) die(state *os.ProcessState) {
	p.mu.Lock()
	pend := p.pending
	p.pending = map[uint32]*pendingReq{}
	fatal, killedBy := p.fatal, p.killedBy
	p.mu.Unlock()

	out := &Error{Outcome: Crash}
	stderr := p.stderr.String()
	switch {
	case fatal != nil:
		out.Outcome, out.Figure = fatal.outcome, fatal.figure
		out.Msg = "a runtime ignored Interrupt; the worker was stopped"
	case strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "cannot allocate memory") ||
		strings.Contains(stderr, "pthread_create failed") || strings.Contains(stderr, "memory limit"):
		out.Outcome = MemoryLimit
		out.Figure = fmt.Sprintf("memory wall %d MB", p.s.lim.MemoryMB)
		out.Msg = "the worker ran out of memory: " + firstLine(stderr)
	case strings.Contains(stderr, "stack overflow") || strings.Contains(stderr, "stack exceeds"):
		out.Outcome, out.Figure = StackLimit, "native stack above 64 MB"
		out.Msg = "the worker's native stack overflowed"
	default:
		out.Figure = exitText(state)
		out.Msg = "the worker died"
		if l := p.stderr.lastLine(); l != "" {
			out.Msg += ": " + l
		} else if killedBy != "" && !p.s.closing.Load() {
			out.Msg += ": " + killedBy
		}
	}
	close(p.dead)
	if p.s.closing.Load() && len(pend) == 0 {
		return
	}
	if len(pend) == 0 {
		if fatal == nil && killedBy == "channel closed" && state != nil && state.Success() {
			return
		}
		p.s.emit(nil, out)
	}
	for _, pr := range pend {
		pr.ch <- result{nil, out} // Do emits the event with the request's fields
	}
}

func exitText(st *os.ProcessState) string {
	if st == nil {
		return "exit unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// emit turns a limit hit into the event of DESIGN.md.
func (s *Supervisor) emit(r *Request, e *Error) {
	kind, sev := event.SandboxCrash, event.Medium
	switch e.Outcome {
	case CPULimit, WallLimit:
		kind = event.SandboxCPU
	case MemoryLimit, StackLimit:
		kind = event.SandboxMemory
	case Crash:
		kind, sev = event.SandboxCrash, event.High
	default:
		return
	}
	ev := event.Event{TS: time.Now().UTC(), Kind: kind, Severity: sev, Action: event.Blocked,
		App: s.spec.App, Rule: e.Outcome.String()}
	reqID := ""
	if r != nil {
		ev.IP, ev.Method, ev.Host, ev.Path, reqID = r.IP, r.Method, r.Host, r.Path, r.ID
	}
	ev.Detail = event.DetailJSON(map[string]any{"request_id": reqID, "figure": e.Figure, "message": e.Msg,
		"version": s.spec.Version})
	s.opts.Events.Emit(ev)
}

// Do runs one request (or, with Cron set, one scheduled run) on a worker of this version.
func (s *Supervisor) Do(ctx context.Context, req *Request) (*Response, error) {
	if s.closing.Load() || s.draining.Load() {
		return nil, &Error{Outcome: Unavailable, Msg: "version stopped"}
	}
	if len(req.Body) > s.lim.RequestBodyBytes {
		return nil, &Error{Outcome: TooLarge, Figure: fmt.Sprintf("request body %d bytes of %d", len(req.Body), s.lim.RequestBodyBytes)}
	}
	// Wait briefly for a free runtime: a burst queues for a moment, a flood is refused. A free
	// slot is taken without arming a timer.
	select {
	case s.sem <- struct{}{}:
	default:
		wait := time.NewTimer(min(s.lim.Wall, 250*time.Millisecond))
		select {
		case s.sem <- struct{}{}:
			wait.Stop()
		case <-wait.C:
			return nil, &Error{Outcome: Overloaded, Figure: fmt.Sprintf("%d in flight", cap(s.sem))}
		case <-ctx.Done():
			wait.Stop()
			return nil, ctx.Err()
		}
	}
	defer func() { <-s.sem }()
	p := s.pick()
	if p == nil {
		return nil, &Error{Outcome: Overloaded, Msg: "no worker running (restarting)"}
	}
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	// The worker enforces wall time itself; the proc's backstop (one ticker per worker, not a
	// timer per request) kills a worker that cannot.
	pr := &pendingReq{req: req, ch: make(chan result, 1), deadline: time.Now().Add(s.backstop())}
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.pending[id] = pr
	p.mu.Unlock()
	typ := msgRequest
	if req.Cron != "" {
		typ = msgScheduled
	}
	if err := p.send(typ, id, encodeRequest(req)); err != nil {
		// The reader notices the broken channel and fails the request through die.
		p.kill("write failed")
	}
	r := <-pr.ch // the reader or, for a dead or killed worker, die() delivers it
	if r.err != nil {
		s.emit(req, r.err)
		return r.resp, r.err
	}
	return r.resp, nil
}

// backstop is how long a request may go unanswered before the supervisor kills its worker.
func (s *Supervisor) backstop() time.Duration { return s.lim.Wall + max(time.Second, 4*s.lim.CPU) }

// watchPending is the backstop for a worker that cannot enforce wall time itself: it kills
// the worker once a request is past its deadline, and die() fails every pending request.
func (p *proc) watchPending() {
	t := time.NewTicker(min(max(p.s.lim.Wall/20, 10*time.Millisecond), 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.dead:
			return
		case now := <-t.C:
			p.mu.Lock()
			var late *pendingReq
			for _, pr := range p.pending {
				if now.After(pr.deadline) && (late == nil || pr.deadline.Before(late.deadline)) {
					late = pr
				}
			}
			if late != nil && p.fatal == nil {
				p.fatal = &fatalNote{reqID: late.req.ID, outcome: WallLimit, figure: fmt.Sprintf("no answer within %s", p.s.lim.Wall)}
			}
			p.mu.Unlock()
			if late != nil {
				p.kill("unresponsive")
				return
			}
		}
	}
}

// pick returns the live worker with the fewest requests in flight.
func (s *Supervisor) pick() *proc {
	var best *proc
	for _, sl := range s.slots {
		p := sl.cur.Load()
		if p == nil {
			continue
		}
		select {
		case <-p.dead:
			continue
		default:
		}
		if best == nil || p.inflight.Load() < best.inflight.Load() {
			best = p
		}
	}
	return best
}

// tail keeps the first and the last bytes a worker wrote to stderr: the runtime's fatal
// error comes first, whatever else it printed after it.
type tail struct {
	mu   sync.Mutex
	max  int
	head []byte
	b    []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max/2 - len(t.head); room > 0 {
		t.head = append(t.head, p[:min(room, len(p))]...)
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max/2 {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.head) + "\n" + string(t.b)
}

// lastLine is the first line of the runtime's fatal message, or the last line written.
func (t *tail) lastLine() string {
	s := strings.TrimSpace(t.String())
	if i := strings.Index(s, "fatal error: "); i >= 0 {
		s = s[i:]
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			s = s[:j]
		}
		return s
	}
	if j := strings.LastIndexByte(s, '\n'); j >= 0 {
		s = s[j+1:]
	}
	return truncate(s, 300)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, 300)
}

// threadAllowance is the address space a worker's threads reserve without using it: the
// appliance binary links cgo (SQLite), so its threads come from pthread_create with 8 MB
// stacks, and glibc gives threads their own 64 MB malloc arenas, at most 8 per CPU. It is
// reserved, not resident memory: the worker's heap check bounds what is used; the
// address-space wall is the backstop for a single allocation too large to ever be sampled.
func threadAllowance(concurrency int) uint64 {
	threads := uint64(2*concurrency + 16)
	arenas := min(threads, uint64(8*runtime.NumCPU()))
	return threads*8<<20 + arenas*64<<20
}
