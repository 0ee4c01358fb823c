package guard

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPList is a set of addresses and CIDR ranges.
type IPList struct {
	prefixes []netip.Prefix
	entries  []string // as written, for messages
}

// ParseIPList parses addresses ("192.0.2.7", "2001:db8::1") and CIDRs ("10.0.0.0/8"). field
// names the list in errors (e.g. "guard.allow"); an invalid entry is named with its index.
func ParseIPList(field string, entries []string) (*IPList, error) {
	l := &IPList{}
	for i, raw := range entries {
		s := strings.TrimSpace(raw)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
			if err == nil && p.Masked() != p {
				return nil, fmt.Errorf("%s[%d]: %q is not a network address (host bits set); did you mean %q?", field, i, raw, p.Masked())
			}
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil {
				a = a.Unmap()
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not an IP address or CIDR range (e.g. 192.0.2.7 or 10.0.0.0/8)", field, i, raw)
		}
		l.prefixes = append(l.prefixes, p)
		l.entries = append(l.entries, s)
	}
	return l, nil
}

// Match returns the entry containing a, if any.
func (l *IPList) Match(a netip.Addr) (string, bool) {
	if l == nil {
		return "", false
	}
	a = a.Unmap()
	for i, p := range l.prefixes {
		if p.Contains(a) {
			return l.entries[i], true
		}
	}
	return "", false
}

// Entries returns the list as written.
func (l *IPList) Entries() []string {
	if l == nil {
		return nil
	}
	return append([]string(nil), l.entries...)
}
