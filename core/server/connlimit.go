package server

import (
	"net"
	"sync"
)

// perIPListener closes, right after accept, connections from an address that already holds
// max open connections: a slowloris client cannot take every worker with one address.
type perIPListener struct {
	net.Listener
	max      int
	onReject func(ip string)

	mu   sync.Mutex
	open map[string]int
}

// LimitPerIP wraps l so that at most max connections per client IP are open at once.
// onReject (may be nil) is called with the client's address for each connection closed at
// accept; it must not block.
func LimitPerIP(l net.Listener, max int, onReject func(ip string)) net.Listener {
	return &perIPListener{Listener: l, max: max, onReject: onReject, open: map[string]int{}}
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		n := l.open[ip]
		if n >= l.max {
			l.mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // reset: no lingering state for a refused connection
			}
			if l.onReject != nil {
				l.onReject(addrIP(c.RemoteAddr()))
			}
			c.Close()
			continue
		}
		l.open[ip] = n + 1
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *perIPListener) release(ip string) {
	l.mu.Lock()
	if l.open[ip] <= 1 {
		delete(l.open, ip)
	} else {
		l.open[ip]--
	}
	l.mu.Unlock()
}

// Open reports how many connections ip holds (for tests and status).
func (l *perIPListener) Open(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

type countedConn struct {
	net.Conn
	l    *perIPListener
	ip   string
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// hostOf is the key a connection is counted under: the IPv4 address, or the /64 of an IPv6
// address (one subscriber usually holds a whole /64, so counting single addresses would let
// one client open millions of "different" connections).
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if v4 := ta.IP.To4(); v4 != nil {
			return v4.String()
		}
		return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// addrIP is the client address alone (what events and logs record).
func addrIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
