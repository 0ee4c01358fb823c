package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/sys/unix"
)

// WorkerCommand is the hidden subcommand of the appliance binary that runs a worker.
const WorkerCommand = "sandbox-worker"

// Exit codes a supervisor reads from a worker.
const (
	exitHardening = 70 // could not lock itself down: refuses to run app code
	exitProtocol  = 71 // the channel broke or spoke nonsense
	exitEscalated = 72 // a runtime ignored Interrupt past its grace: killed itself
)

// channelFD is where the supervisor puts the worker's end of the socketpair.
const channelFD = 3

// WorkerMain is the entry of the sandbox-worker command. It never returns to app code paths
// of the appliance: it locks the process down, receives one app version over its channel and
// serves it until the channel closes.
func WorkerMain() int {
	closeInheritedFDs(channelFD)
	// One P: a request's path (netpoller wake, decode, VM, write) stays on one thread instead
	// of waking an idle P's thread on every goroutine handoff, which costs more than the VM on
	// a loaded machine. Parallelism comes from worker processes; the watchdog still runs
	// beside a spinning VM because the runtime preempts it.
	runtime.GOMAXPROCS(1)
	// Load what must be read from disk before opens are refused: the local time zone.
	_ = time.Now().Local().String()
	// A runaway native recursion dies quickly at a small stack instead of growing to 1 GB.
	debug.SetMaxStack(64 << 20)
	// A fatal runtime error prints its one-line reason, not every goroutine's stack: the
	// supervisor classifies the death from that line.
	debug.SetTraceback("none")
	if err := lockDown(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox worker: %v\n", err)
		return exitHardening
	}
	// Non-blocking, so waiting for the next frame parks in the netpoller instead of holding
	// one of the runtime's Ps in a read syscall that the VM threads would have to wait out.
	if err := unix.SetNonblock(channelFD, true); err != nil {
		return exitProtocol
	}
	ch, err := newRawChan(os.NewFile(channelFD, "channel"))
	if err != nil {
		return exitProtocol
	}
	w := &worker{in: bufio.NewReaderSize(ch, 64<<10), out: bufio.NewWriterSize(ch, 64<<10)}
	if err := w.send(msgHello, 0, nil); err != nil {
		return exitProtocol
	}
	f, err := readFrame(w.in)
	if err != nil || f.typ != msgInit {
		return exitProtocol
	}
	d := dec{b: f.body}
	wall := d.uint()
	if d.err != nil {
		return exitProtocol
	}
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: wall, Max: wall}); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox worker: memory wall: %v\n", err)
		return exitHardening
	}
	spec, err := decodeInit(d.b)
	if err != nil {
		return exitProtocol
	}
	if err := w.start(spec); err != nil {
		var e enc
		e.str(err.Error())
		w.send(msgReady, 1, e.b)
		return 0
	}
	return w.loop()
}

// worker is the in-process side of one worker.
type worker struct {
	in  *bufio.Reader
	wmu sync.Mutex
	out *bufio.Writer

	spec   *Spec
	lim    Limits
	code   *compiled
	pool   vmStack
	jobs   chan job
	calls  sync.Map // call id → chan callReply
	nextID atomic.Uint32

	watchMu sync.Mutex
	watched map[*reqState]struct{}

	logMu      sync.Mutex
	logTokens  float64
	logLast    time.Time
	logDropped int
}

type callReply struct {
	data []byte
	err  error
}

func (w *worker) send(typ byte, id uint32, body []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return writeFrame(w.out, typ, id, body)
}

func (w *worker) start(spec *Spec) error {
	w.spec, w.lim = spec, spec.Limits.withDefaults()
	debug.SetMemoryLimit(int64(w.lim.MemoryMB) << 20)
	// goja's RegExp falls back to regexp2 for patterns RE2 cannot run; regexp2 backtracks and
	// does not see Interrupt, so every match is bounded. A timed-out match is "no match".
	regexp2.DefaultMatchTimeout = min(w.lim.CPU/2, 100*time.Millisecond)
	w.watched = map[*reqState]struct{}{}
	w.logTokens, w.logLast = float64(w.lim.LogLinesPerMinute)/6, time.Now()
	code, err := compile(spec)
	if err != nil {
		return err
	}
	w.code = code
	w.pool.max = w.lim.Concurrency
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	for i := 0; i < w.lim.Concurrency; i++ {
		v, err := newVM(w)
		if err != nil {
			return err
		}
		w.pool.put(v)
	}
	warm := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	w.tuneGC(after.HeapAlloc)
	var e enc
	e.str("")
	e.int(int64(warm))
	e.int(int64(after.HeapInuse) - int64(before.HeapInuse))
	e.int(int64(w.lim.Concurrency))
	return w.send(msgReady, 0, e.b)
}

// tuneGC lets the heap grow further between collections than Go's default (GOGC=100) when the
// warm heap is small next to the memory limit: a hello-world request allocates tens of KB in
// goja and a small heap collected at 2x spent a tenth of the worker's CPU in the collector.
// The goal stays at or below half the limit while the heap is the warm one, so the
// watchdog's heap check (which counts garbage not yet swept) keeps the margin it had; a heap
// that grows is bounded by SetMemoryLimit as before.
func (w *worker) tuneGC(warmHeap uint64) {
	limit := uint64(w.lim.MemoryMB) << 20
	if warmHeap == 0 {
		return
	}
	pct := int((limit/2)*100/warmHeap) - 100
	debug.SetGCPercent(min(max(pct, 100), 400))
}

type job struct {
	id  uint32
	req *Request
}

// vmThread serves jobs. It locks itself to its OS thread only while a request runs, so the
// thread's CPU clock measures exactly that request's VM work, and waits for the next job
// unlocked: a locked goroutine costs a thread handoff on every wake-up. With first set it
// serves that one job and ends.
func (w *worker) vmThread(first job) {
	run := func(j job) {
		runtime.LockOSThread()                              // serve unlocks once the VM's CPU is measured
		w.serve(j.id, j.req, threadCPUClock(unix.Gettid())) // gettid is a raw call
	}
	if first.req != nil {
		run(first)
		return
	}
	for j := range w.jobs {
		run(j)
	}
}

func (w *worker) loop() int {
	go w.watchdog()
	w.jobs = make(chan job)
	for range w.lim.Concurrency {
		go w.vmThread(job{})
	}
	for {
		f, err := readFrame(w.in)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			return exitProtocol
		}
		switch f.typ {
		case msgRequest, msgScheduled:
			req, err := decodeRequest(f.body)
			if err != nil {
				return exitProtocol
			}
			select {
			case w.jobs <- job{f.id, req}:
			default:
				// More in flight than runtimes: serve it on an extra thread rather than queue
				// it behind a request that may run to its wall deadline.
				go w.vmThread(job{f.id, req})
			}
		case msgReply:
			if c, ok := w.calls.LoadAndDelete(f.id); ok {
				d := dec{b: f.body}
				ok := d.uint() == 0
				data := d.bytes()
				r := callReply{data: data}
				if !ok {
					r.err = errors.New(string(data))
				}
				c.(chan callReply) <- r
			}
		default:
			return exitProtocol
		}
	}
}

// reqState is one request in flight, as the watchdog sees it.
type reqState struct {
	req      *Request
	v        *vm
	clock    int32
	cpu0     int64
	start    time.Time
	deadline time.Time
	subreqs  atomic.Int32

	// set by the watchdog under watchMu
	hit           Outcome
	figure        string
	interruptedAt time.Time
}

// serve runs one request on a runtime. It is called with the OS thread locked and unlocks it
// as soon as the VM's CPU is measured: a locked goroutine that blocks (on the channel's write
// lock, say) costs a thread handoff each way, so encoding and sending happen unlocked.
func (w *worker) serve(id uint32, req *Request, clock int32) {
	v := w.pool.get()
	if v == nil {
		nv, err := newVM(w)
		if err != nil {
			runtime.UnlockOSThread()
			w.send(msgResponse, id, encodeResponse(nil, &Error{Outcome: Crash, Msg: err.Error()}))
			return
		}
		v = nv
	}
	st := &reqState{req: req, v: v, clock: clock, cpu0: rawThreadCPU(clock), start: time.Now()}
	st.deadline = st.start.Add(w.lim.Wall)
	w.watchMu.Lock()
	w.watched[st] = struct{}{}
	w.watchMu.Unlock()

	resp, rerr := v.run(st)

	cpu := time.Duration(rawThreadCPU(clock) - st.cpu0)
	w.watchMu.Lock()
	delete(w.watched, st)
	hit, figure := st.hit, st.figure
	w.watchMu.Unlock()
	runtime.UnlockOSThread()

	if hit != OK {
		// The watchdog interrupted this runtime: whatever the call returned, the limit wins.
		rerr = &Error{Outcome: hit, Figure: figure, Msg: "interrupted"}
	}
	if rerr == nil && len(resp.Body) > w.lim.ResponseBodyBytes {
		rerr = &Error{Outcome: TooLarge, Figure: fmt.Sprintf("response body %d bytes of %d", len(resp.Body), w.lim.ResponseBodyBytes)}
	}
	if resp != nil {
		resp.CPU = cpu
	}
	w.send(msgResponse, id, encodeResponse(resp, rerr))

	v.uses++
	switch {
	case hit != OK || (rerr != nil && rerr.Outcome != Exception) || v.broken:
		go w.replace() // a limit hit leaves a runtime in an unknown state: never reuse it
	case v.uses >= w.lim.RecycleAfter:
		go w.replace()
	default:
		w.put(v)
	}
}

func (w *worker) put(v *vm) { w.pool.put(v) } // more than max, made under load, are dropped

// vmStack is the pool of warm runtimes, last in first out: a worker serves one request at a
// time unless a handler awaits, so the runtime that served the last request serves the next
// one, with its heap still in the CPU's caches. A queue (the pool was a channel) went
// through every runtime in turn, each one cold.
type vmStack struct {
	mu   sync.Mutex
	free []*vm
	max  int
}

func (s *vmStack) get() *vm {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.free)
	if n == 0 {
		return nil
	}
	v := s.free[n-1]
	s.free[n-1] = nil
	s.free = s.free[:n-1]
	return v
}

func (s *vmStack) put(v *vm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) < s.max {
		s.free = append(s.free, v)
	}
}

func (w *worker) replace() {
	if v, err := newVM(w); err == nil {
		w.put(v)
	}
}

// watchdog enforces CPU and wall limits on every request in flight, and escalates to exiting
// the process when a runtime does not stop after Interrupt (native built-ins ignore it).
func (w *worker) watchdog() {
	tick := min(max(w.lim.CPU/10, time.Millisecond), 10*time.Millisecond)
	grace := max(250*time.Millisecond, w.lim.CPU)
	t := time.NewTicker(tick)
	defer t.Stop()
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	limit := uint64(w.lim.MemoryMB) << 20
	for now := range t.C {
		// The heap check is what bounds memory precisely; the address-space wall is the
		// backstop for one huge allocation that never lets the heap be sampled.
		metrics.Read(heap)
		live := heap[0].Value.Uint64()
		if live > limit+limit/2 {
			runtime.GC()
			metrics.Read(heap)
			if live = heap[0].Value.Uint64(); live > limit+limit/2 {
				fmt.Fprintf(os.Stderr, "fatal error: out of memory: heap %d MB above the %d MB limit\n", live>>20, w.lim.MemoryMB)
				os.Exit(exitEscalated)
			}
		}
		w.watchMu.Lock()
		for st := range w.watched {
			if !st.interruptedAt.IsZero() {
				if now.Sub(st.interruptedAt) > grace {
					var e enc
					e.str(st.req.ID)
					e.uint(uint64(st.hit))
					e.str(st.figure + fmt.Sprintf("; ignored Interrupt for %s", now.Sub(st.interruptedAt).Round(time.Millisecond)))
					w.send(msgFatal, 0, e.b)
					os.Exit(exitEscalated)
				}
				continue
			}
			cpu := time.Duration(threadCPU(st.clock) - st.cpu0)
			switch {
			case live > limit:
				st.hit, st.figure = MemoryLimit, fmt.Sprintf("heap %d MB of %d MB", live>>20, w.lim.MemoryMB)
			case cpu > w.lim.CPU:
				st.hit, st.figure = CPULimit, fmt.Sprintf("cpu %s of %s", cpu.Round(time.Millisecond), w.lim.CPU)
			case now.After(st.deadline):
				st.hit, st.figure = WallLimit, fmt.Sprintf("wall %s of %s", now.Sub(st.start).Round(time.Millisecond), w.lim.Wall)
			default:
				continue
			}
			st.interruptedAt = now
			st.v.rt.Interrupt(&limitHit{st.hit})
		}
		w.watchMu.Unlock()
	}
}

// rawThreadCPU is threadCPU as a raw call, for the request path: see rawChan for why.
func rawThreadCPU(clock int32) int64 {
	var ts unix.Timespec
	if _, _, e := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}

type limitHit struct{ o Outcome }

func (l *limitHit) Error() string { return l.o.String() + " limit" }

// call asks the supervisor for a capability and waits, at most until the request's deadline.
func (w *worker) call(st *reqState, op string, args []byte) ([]byte, error) {
	id := w.nextID.Add(1)
	ch := make(chan callReply, 1)
	w.calls.Store(id, ch)
	var e enc
	e.str(st.req.ID)
	e.str(op)
	e.bytes(args)
	if err := w.send(msgCall, id, e.b); err != nil {
		w.calls.Delete(id)
		return nil, fmt.Errorf("%s: channel closed", op)
	}
	t := time.NewTimer(time.Until(st.deadline))
	defer t.Stop()
	select {
	case r := <-ch:
		return r.data, r.err
	case <-t.C:
		w.calls.Delete(id)
		return nil, fmt.Errorf("%s: wall deadline of %s passed while waiting", op, w.lim.Wall)
	}
}

// log sends one console line, truncated and rate-limited (a token bucket refilled at
// LogLinesPerMinute, holding up to a tenth of a minute's worth).
func (w *worker) log(st *reqState, level, line string) {
	if len(line) > w.lim.LogLineBytes {
		line = line[:w.lim.LogLineBytes] + fmt.Sprintf("… (%d bytes truncated)", len(line)-w.lim.LogLineBytes)
	}
	w.logMu.Lock()
	now := time.Now()
	rate := float64(w.lim.LogLinesPerMinute) / 60
	w.logTokens = min(w.logTokens+now.Sub(w.logLast).Seconds()*rate, max(1, float64(w.lim.LogLinesPerMinute)/6))
	w.logLast = now
	if w.logTokens < 1 {
		w.logDropped++
		w.logMu.Unlock()
		return
	}
	w.logTokens--
	dropped := w.logDropped
	w.logDropped = 0
	w.logMu.Unlock()
	if dropped > 0 {
		line = fmt.Sprintf("(%d console lines dropped by the rate limit) ", dropped) + line
	}
	var e enc
	e.str(st.req.ID)
	e.str(level)
	e.str(line)
	w.send(msgLog, 0, e.b)
}
