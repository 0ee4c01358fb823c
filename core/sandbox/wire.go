package sandbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// The channel between supervisor and worker carries frames:
//
//	u32 length of what follows | u8 type | u32 id | payload
//
// Payloads are sequences of uvarints and length-prefixed byte strings (enc/dec below): no
// reflection and no allocation beyond the strings themselves, so a warm dispatch costs a few
// microseconds of encoding.
const (
	msgHello     byte = 1  // worker → supervisor: hardened, waiting for the program
	msgInit      byte = 2  // supervisor → worker: program, limits, env
	msgReady     byte = 3  // worker → supervisor: runtimes warm, or why not
	msgRequest   byte = 4  // supervisor → worker: one HTTP request (id = request slot)
	msgResponse  byte = 5  // worker → supervisor: its result (same id)
	msgCall      byte = 6  // worker → supervisor: a capability call (id = call id)
	msgReply     byte = 7  // supervisor → worker: its result (same id)
	msgLog       byte = 8  // worker → supervisor: one console line
	msgFatal     byte = 9  // worker → supervisor: about to exit, and why
	msgScheduled byte = 10 // supervisor → worker: run scheduled(event)
)

const frameHeader = 9

// maxFrame bounds one frame so a corrupt or hostile length cannot make a reader allocate
// without limit; bodies are capped far below it by the app's limits.
const maxFrame = 256 << 20

type frame struct {
	typ  byte
	id   uint32
	body []byte
}

func writeFrame(w *bufio.Writer, typ byte, id uint32, body []byte) error {
	if len(body)+frameHeader-4 > maxFrame {
		return fmt.Errorf("frame of %d bytes is above the %d byte cap", len(body), maxFrame)
	}
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(body)+5))
	h[4] = typ
	binary.LittleEndian.PutUint32(h[5:9], id)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (frame, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n < 5 || n > maxFrame {
		return frame{}, fmt.Errorf("frame length %d out of range", n)
	}
	f := frame{typ: h[4], id: binary.LittleEndian.Uint32(h[5:9])}
	f.body = make([]byte, n-5)
	if _, err := io.ReadFull(r, f.body); err != nil {
		return frame{}, fmt.Errorf("short frame: %w", err)
	}
	return f, nil
}

type enc struct{ b []byte }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) bytes(v []byte) {
	e.uint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) str(v string) {
	e.uint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) pairs(kv []string) {
	e.uint(uint64(len(kv) / 2))
	for _, s := range kv[:len(kv)/2*2] {
		e.str(s)
	}
}

var errShort = errors.New("truncated payload")

// dec reads what enc wrote; the first error sticks and later reads return zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) pairs() []string {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = errShort
		}
		return nil
	}
	out := make([]string, 0, 2*n)
	for i := uint64(0); i < 2*n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

// rawChan reads and writes the channel's socket with raw system calls, waiting in the
// runtime's netpoller when the socket is not ready. A raw call does not enter the scheduler's
// syscall state, and an ordinary read or write does: each one wakes the runtime's sysmon
// thread from its deep sleep, after which sysmon polls every 20 µs for a millisecond or
// more. A worker that wakes for every request kept sysmon polling all the time, a sixth of
// its CPU. The socket is non-blocking, so a raw call never holds the thread.
type rawChan struct{ rc syscall.RawConn }

func newRawChan(f *os.File) (*rawChan, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &rawChan{rc: rc}, nil
}

func (c *rawChan) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawChan) Write(p []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
			switch e {
			case 0:
				done += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return done, err
}
