// Package sdlisten takes listening sockets handed over by systemd socket activation
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; sd_listen_fds(3)), so that the service can serve
// ports 443 and 80 without holding any capability. Run by hand, there are none and the daemon
// binds its own.
package sdlisten

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// firstFD is SD_LISTEN_FDS_START.
const firstFD = 3

// Listeners returns the activated listeners by name (FileDescriptorName= in the .socket unit;
// unnamed sockets are "unknown", then "unknown#2", ...). It unsets the variables so that
// child processes (sandbox workers) never see them, and marks the descriptors close-on-exec.
// With no activation it returns an empty map.
func Listeners() (map[string]net.Listener, error) {
	return listeners(os.Getenv, os.Unsetenv, os.Getpid())
}

func listeners(getenv func(string) string, unsetenv func(string) error, pid int) (map[string]net.Listener, error) {
	out := map[string]net.Listener{}
	pidStr, nStr, names := getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES")
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		unsetenv(k)
	}
	if nStr == "" {
		return out, nil
	}
	if p, err := strconv.Atoi(pidStr); err != nil || p != pid {
		return out, nil // meant for another process
	}
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 0 || n > 64 {
		return nil, fmt.Errorf("LISTEN_FDS=%q is not a small count", nStr)
	}
	var nameList []string
	if names != "" {
		nameList = strings.Split(names, ":")
	}
	for i := 0; i < n; i++ {
		fd := firstFD + i
		syscall.CloseOnExec(fd)
		name := "unknown"
		if i < len(nameList) && nameList[i] != "" {
			name = nameList[i]
		}
		for j := 2; out[name] != nil; j++ {
			name = fmt.Sprintf("%s#%d", strings.SplitN(name, "#", 2)[0], j)
		}
		f := os.NewFile(uintptr(fd), name)
		l, err := net.FileListener(f)
		f.Close() // FileListener dups the descriptor
		if err != nil {
			return nil, fmt.Errorf("activated socket %d (%s): %w", fd, name, err)
		}
		out[name] = l
	}
	return out, nil
}
