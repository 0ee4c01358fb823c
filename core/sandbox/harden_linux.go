package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// closeInheritedFDs closes every descriptor above keep that the Go runtime did not open
// itself (its epoll and eventfd are anonymous inodes). os/exec passes nothing but the
// channel, so this finds nothing in practice; it is here so a future change to how workers
// are started cannot leak a listener or the database into a worker.
func closeInheritedFDs(keep int) (closed []int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= keep {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || strings.HasPrefix(target, "anon_inode:") {
			continue // the ReadDir descriptor itself (already gone), or the runtime's own
		}
		if unix.Close(fd) == nil {
			closed = append(closed, fd)
		}
	}
	return closed
}

// lockDown sets no_new_privs and installs the filter on every thread of the process (TSYNC),
// so a thread the runtime started earlier is not left unfiltered.
func lockDown() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	filter, err := seccompFilter(os.Getpid())
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}

// threadCPUClock is the clock id of one thread's CPU time (MAKE_THREAD_CPUCLOCK in the
// kernel), readable from any thread of the process.
func threadCPUClock(tid int) int32 { return int32((^tid)<<3 | 6) }

func threadCPU(clock int32) int64 {
	var ts unix.Timespec
	if unix.ClockGettime(clock, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// addressLimit reads a process's RLIMIT_AS from /proc (prlimit(2) on another user's process
// needs CAP_SYS_RESOURCE even to read).
func addressLimit(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max address space") {
			f := strings.Fields(strings.TrimPrefix(line, "Max address space"))
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return 0, nil
				}
				return strconv.ParseUint(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no address-space line in /proc/%d/limits", pid)
}

// processVSZ reads a process's virtual size from /proc.
func processVSZ(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("statm of %d: empty", pid)
	}
	pages, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}
