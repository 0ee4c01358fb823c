package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter verdicts as the program returns them.
const (
	vAllow  = unix.SECCOMP_RET_ALLOW
	vEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	vENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	vKill   = unix.SECCOMP_RET_KILL_PROCESS
)

// runFilter runs the worker's filter in x/net/bpf's interpreter over one system call. The
// interpreter loads words big-endian where the kernel loads them in the machine's order, so
// each 32-bit field is written big-endian at the offset the kernel reads it from: the same
// word either way.
func runFilter(t *testing.T, vm *bpf.VM, arch, nr uint32, args ...uint32) uint32 {
	t.Helper()
	data := make([]byte, 64) // struct seccomp_data
	binary.BigEndian.PutUint32(data[offNR:], nr)
	binary.BigEndian.PutUint32(data[offArch:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[offArg0+8*i:], a)
	}
	v, err := vm.Run(data)
	if err != nil {
		t.Fatalf("run filter on %d: %v", nr, err)
	}
	return uint32(v)
}

func filterVM(t *testing.T, pid int) *bpf.VM {
	t.Helper()
	prog, err := seccompProgram(pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seccompFilter(pid); err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// TestSeccompFilterTable runs every x86-64 system call number through the filter: only the
// allowlist passes with any arguments; the argument-checked calls pass only with the
// arguments the runtime uses; another architecture and x32 numbers never pass.
func TestSeccompFilterTable(t *testing.T) {
	const pid = 4242
	vm := filterVM(t, pid)
	listed := map[uint32]bool{}
	for _, s := range allowedSyscalls {
		if listed[s.nr] {
			t.Errorf("syscall %d listed twice", s.nr)
		}
		listed[s.nr] = true
	}
	checked := map[uint32]bool{unix.SYS_MMAP: true, unix.SYS_MPROTECT: true, unix.SYS_CLONE: true,
		unix.SYS_TGKILL: true, unix.SYS_KILL: true, unix.SYS_PRLIMIT64: true, unix.SYS_SCHED_GETAFFINITY: true,
		unix.SYS_PRCTL: true, unix.SYS_CLONE3: true}
	allowed := 0
	for nr := uint32(0); nr < 1024; nr++ {
		// Arguments that no checked rule accepts (a foreign pid, flags without CLONE_THREAD,
		// PROT_EXEC, prctl option 1) except for mmap and mprotect.
		got := runFilter(t, vm, unix.AUDIT_ARCH_X86_64, nr, 1, 0, unix.PROT_EXEC)
		want := vEPERM
		switch {
		case listed[nr]:
			want = vAllow
		case nr == unix.SYS_CLONE3:
			want = vENOSYS
		}
		if got != want {
			t.Errorf("syscall %d: verdict %#x, want %#x", nr, got, want)
		}
		if got == vAllow {
			allowed++
		}
		if v := runFilter(t, vm, unix.AUDIT_ARCH_X86_64, nr|x32ABIBit); v != vEPERM {
			t.Errorf("x32 syscall %d: verdict %#x, want EPERM", nr, v)
		}
		if v := runFilter(t, vm, unix.AUDIT_ARCH_I386, nr); v != vKill {
			t.Errorf("i386 syscall %d: verdict %#x, want kill", nr, v)
		}
		if listed[nr] && checked[nr] {
			t.Errorf("syscall %d both listed and argument-checked", nr)
		}
	}
	if allowed != len(allowedSyscalls) {
		t.Errorf("%d calls allowed with any arguments, %d listed", allowed, len(allowedSyscalls))
	}

	goThread := uint32(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	for _, c := range []struct {
		name string
		nr   uint32
		args []uint32
		want uint32
	}{
		{"mmap rw", unix.SYS_MMAP, []uint32{0, 4096, unix.PROT_READ | unix.PROT_WRITE}, vAllow},
		{"mmap none", unix.SYS_MMAP, []uint32{0, 4096, unix.PROT_NONE}, vAllow},
		{"mmap rwx", unix.SYS_MMAP, []uint32{0, 4096, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC}, vEPERM},
		{"mprotect rw", unix.SYS_MPROTECT, []uint32{0, 4096, unix.PROT_READ | unix.PROT_WRITE}, vAllow},
		{"mprotect rx", unix.SYS_MPROTECT, []uint32{0, 4096, unix.PROT_READ | unix.PROT_EXEC}, vEPERM},
		{"clone Go thread", unix.SYS_CLONE, []uint32{goThread}, vAllow},
		{"clone glibc thread", unix.SYS_CLONE, []uint32{cloneThreadFlags}, vAllow},
		{"clone fork", unix.SYS_CLONE, []uint32{uint32(unix.SIGCHLD)}, vEPERM},
		{"clone vfork", unix.SYS_CLONE, []uint32{unix.CLONE_VM | unix.CLONE_VFORK | uint32(unix.SIGCHLD)}, vEPERM},
		{"clone thread in a new user namespace", unix.SYS_CLONE, []uint32{goThread | unix.CLONE_NEWUSER}, vEPERM},
		{"clone thread with pidfd", unix.SYS_CLONE, []uint32{goThread | unix.CLONE_PIDFD}, vEPERM},
		{"clone thread with exit signal", unix.SYS_CLONE, []uint32{goThread | uint32(unix.SIGCHLD)}, vEPERM},
		{"clone3", unix.SYS_CLONE3, []uint32{0, 88}, vENOSYS},
		{"tgkill self", unix.SYS_TGKILL, []uint32{pid, pid + 1, uint32(unix.SIGURG)}, vAllow},
		{"tgkill other", unix.SYS_TGKILL, []uint32{pid + 1, pid + 1, uint32(unix.SIGURG)}, vEPERM},
		{"kill self", unix.SYS_KILL, []uint32{pid, uint32(unix.SIGABRT)}, vAllow},
		{"kill process group", unix.SYS_KILL, []uint32{0, uint32(unix.SIGKILL)}, vEPERM},
		{"kill everyone", unix.SYS_KILL, []uint32{0xffffffff, uint32(unix.SIGKILL)}, vEPERM},
		{"prlimit64 self", unix.SYS_PRLIMIT64, []uint32{0, unix.RLIMIT_AS}, vAllow},
		{"prlimit64 other", unix.SYS_PRLIMIT64, []uint32{1, unix.RLIMIT_AS}, vEPERM},
		{"sched_getaffinity self", unix.SYS_SCHED_GETAFFINITY, []uint32{0, 128}, vAllow},
		{"sched_getaffinity other", unix.SYS_SCHED_GETAFFINITY, []uint32{1, 128}, vEPERM},
		{"prctl vma name", unix.SYS_PRCTL, []uint32{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME}, vAllow},
		{"prctl dumpable", unix.SYS_PRCTL, []uint32{unix.PR_SET_DUMPABLE, 1}, vEPERM},
		{"prctl no_new_privs", unix.SYS_PRCTL, []uint32{unix.PR_SET_NO_NEW_PRIVS, 1}, vEPERM},
	} {
		if got := runFilter(t, vm, unix.AUDIT_ARCH_X86_64, c.nr, c.args...); got != c.want {
			t.Errorf("%s: verdict %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestFilterAsmRefusesBadJumps: a label that is missing, behind the jump, or out of classic
// BPF's reach is an error when the filter is built, not a wrong filter in the kernel.
func TestFilterAsmRefusesBadJumps(t *testing.T) {
	a := newFilterAsm()
	a.jump(bpf.JumpEqual, 1, "nowhere", "")
	if _, err := a.resolve(); err == nil {
		t.Error("jump to an undefined label resolved")
	}
	a = newFilterAsm()
	a.label("back")
	a.emit(bpf.LoadAbsolute{Off: offNR, Size: 4})
	a.jump(bpf.JumpEqual, 1, "back", "")
	if _, err := a.resolve(); err == nil {
		t.Error("backward jump resolved")
	}
	a = newFilterAsm()
	a.jump(bpf.JumpEqual, 1, "far", "")
	for range 256 {
		a.emit(bpf.RetConstant{Val: vEPERM})
	}
	a.label("far")
	a.emit(bpf.RetConstant{Val: vAllow})
	if _, err := a.resolve(); err == nil {
		t.Error("jump over 256 instructions resolved")
	}
}
