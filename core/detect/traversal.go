package detect

import (
	"encoding/base64"
	"strings"
)

// Traversal rule ids.
const (
	RuleTraversalDotDot = 99301 // dot-dot segments (after decoding) that climb directories
	RuleTraversalFile   = 99302 // a path to a system file (etc/passwd, win.ini, proc/self ...)
	RuleTraversalAbs    = 99303 // an absolute path into a system directory
	RuleTraversalScheme = 99304 // a stream wrapper that reads files (file://, php://filter ...)
)

// sysFiles are path suffixes that only an attacker asks a web application for. Each is a
// sequence of segments; separators between them may be '/' or '\'.
var sysFiles = [][]string{
	{"etc", "passwd"}, {"etc", "shadow"}, {"etc", "group"}, {"etc", "hosts"}, {"etc", "issue"},
	{"etc", "motd"}, {"etc", "fstab"}, {"etc", "crontab"}, {"etc", "sudoers"}, {"etc", "httpd"},
	{"etc", "apache2"}, {"etc", "nginx"}, {"etc", "mysql"}, {"etc", "php"}, {"etc", "ssh"},
	{"etc", "master.passwd"}, {"etc", "security"}, {"etc", "resolv.conf"}, {"etc", "hostname"},
	{"etc", "inittab"}, {"etc", "profile"}, {"etc", "os-release"}, {"etc", "release"},
	{"proc", "self"}, {"proc", "version"}, {"proc", "cmdline"}, {"proc", "mounts"}, {"proc", "sched_debug"},
	{"boot.ini"}, {"win.ini"}, {"system.ini"}, {"windows", "system32"}, {"winnt", "system32"},
	{"windows", "repair"}, {"winnt", "repair"}, {"windows", "win.ini"}, {"inetpub", "wwwroot"},
	{"system32", "inetsrv"}, {"var", "log"}, {"var", "www"}, {"var", "lib"}, {"var", "mail"}, {"var", "spool"},
	{"usr", "local"}, {"root", ".ssh"}, {".ssh", "id_rsa"}, {".ssh", "authorized_keys"},
	{".bash_history"}, {".htpasswd"}, {".htaccess"}, {"web.config"}, {"wp-config.php"},
	{"apache", "logs"}, {"apache2", "logs"}, {"httpd", "logs"}, {"logs", "access.log"}, {"logs", "error.log"},
	{"access_log"}, {"error_log"}, {"php.ini"}, {"httpd.conf"}, {"my.cnf"}, {"my.ini"},
}

// sysDirs are top-level directories of Unix and Windows servers. A value that is an absolute
// path into one is a file request when the directory is never an application route (true),
// or, for names web apps also use as routes (false: /home/feed, /dev/docs, /lib/app.js, which
// arrive in redirect and "next" parameters), only when the path names a hidden or
// configuration-like file (see fileLike).
var sysDirs = map[string]bool{
	"etc": true, "proc": true, "sys": true, "root": true, "boot": true,
	"windows": true, "winnt": true, "inetpub": true, "system32": true, "program files": true,
	"documents and settings": true, "appserv": true, "xampp": true, "wamp": true,
	"var": false, "usr": false, "bin": false, "sbin": false, "dev": false, "opt": false,
	"home": false, "lib": false, "tmp": false, "srv": false,
}

// fileExts are extensions of files a server keeps and an application never links to.
var fileExts = map[string]bool{
	"conf": true, "cfg": true, "ini": true, "log": true, "key": true, "pem": true, "env": true,
	"sh": true, "bash": true, "db": true, "sqlite": true, "sql": true, "bak": true, "old": true,
	"swp": true, "passwd": true, "history": true, "so": true, "pid": true, "sock": true,
	"yml": true, "yaml": true, "toml": true, "properties": true,
}

// fileLike reports whether a path below a route-like system directory names a hidden file or
// folder (/home/u/.ssh, /tmp/.x) or a file with a server-side extension (/var/app.log).
func fileLike(rest string) bool {
	for _, seg := range strings.Split(rest, "/") {
		if len(seg) > 1 && seg[0] == '.' && seg != ".." {
			return true
		}
	}
	last := rest[strings.LastIndexByte(rest, '/')+1:]
	if i := strings.LastIndexByte(last, '.'); i > 0 {
		return fileExts[strings.ToLower(last[i+1:])]
	}
	return false
}

type travScan struct{}

func isSep(c byte) bool { return c == '/' || c == '\\' }

// normPath turns the separator spellings lenient servers accept into '/': '\', the literal
// 0x2f/0x5c some decoders take, and runs of escapes that did not decode (IIS read %c0%9v,
// %c1%pc as separators). Dots stay.
func normPath(v string) string {
	plain := true
	for i := 0; i < len(v) && plain; i++ {
		switch c := v[i]; {
		case c == '\\' || c == '%' || c < 0x20, (c == '0' || c == '.') && i+1 < len(v) && (v[i+1] == 'x' || v[i+1] == 'X' || v[i+1] == '.'):
			plain = false
		}
	}
	if plain {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			b.WriteByte('/')
		case c == '0' && i+3 < len(v) && (v[i+1] == 'x' || v[i+1] == 'X') && (v[i+2] == '2' && lower(v[i+3]) == 'f' || v[i+2] == '5' && lower(v[i+3]) == 'c'):
			b.WriteByte('/')
			i += 3
		case c == '0' && i+3 < len(v) && (v[i+1] == 'x' || v[i+1] == 'X') && v[i+2] == '2' && lower(v[i+3]) == 'e':
			b.WriteByte('.')
			i += 3
		case c == '%' && i+2 < len(v) && !(isHex(v[i+1]) && isHex(v[i+2])):
			// an escape that is not one: %c0%9v, %bg%qf, %pc
			b.WriteByte('/')
			i += 2
			for i+3 < len(v) && v[i+1] == '%' && !(isHex(v[i+2]) && isHex(v[i+3])) {
				i += 3
			}
		case c == '%' && i+2 < len(v) && (v[i+1] == 'c' || v[i+1] == 'C') && (v[i+2] == '0' || v[i+2] == '1'):
			// a lone overlong lead byte left encoded: %c0 before an undecodable escape
			b.WriteByte('/')
			i += 2
		case c == '.' && i+3 < len(v) && v[i+1] == '.' && (v[i+2] == '2' && lower(v[i+3]) == 'f' || v[i+2] == '5' && lower(v[i+3]) == 'c'):
			// "..2f": an escape whose '%' was lost
			b.WriteString("../")
			i += 3
		case c < 0x20:
			// control bytes (%00, %01) some stacks drop: a separator for our purpose
			b.WriteByte('/')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// check returns the first traversal rule v (one decoded form of a value) triggers.
func (travScan) check(v, lv string) (int, string) {
	if !strings.ContainsAny(v, "./\\%0:") {
		return 0, ""
	}
	p := normPath(v)
	if r, m := dotdot(p); r != 0 {
		return r, m
	}
	if strings.IndexByte(p, '/') >= 0 || strings.IndexByte(strings.TrimSpace(p), ' ') < 0 {
		lp := lv
		if p != v {
			lp = lowerASCII(p)
		}
		if r, m := sysFile(lp); r != 0 {
			return r, m
		}
	}
	if r, m := absPath(p); r != 0 {
		return r, m
	}
	if r, m := wrapper(v); r != 0 {
		return r, m
	}
	return 0, ""
}

// dotdot finds a segment of two or more dots followed by a separator or the end, preceded by
// a separator or the start: "../", "..\", "..../", "/..".
func dotdot(p string) (int, string) {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '.' || p[i+1] != '.' {
			continue
		}
		if i > 0 && !isSep(p[i-1]) && p[i-1] != ';' && p[i-1] != '=' && p[i-1] != ':' {
			continue
		}
		j := i
		for j < len(p) && p[j] == '.' {
			j++
		}
		// "../" or "..;/" (Tomcat path parameter), or ".." ending a path after a separator
		k := j
		if k < len(p) && p[k] == ';' {
			k++
		}
		if k < len(p) && isSep(p[k]) || k == len(p) && j-i == 2 && i > 0 && isSep(p[i-1]) {
			if j-i > 6 {
				continue
			}
			// one climb at the very start is what relative links look like ("../img/a.png");
			// it counts when it climbs further or reaches a system file
			if climbs(p) >= 2 || i > 0 && isSep(p[i-1]) || strings.Count(p, "..") >= 2 {
				return RuleTraversalDotDot, "dot-dot segments climb directories"
			}
		}
	}
	return 0, ""
}

func climbs(p string) int {
	n := 0
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '.' && p[i+1] == '.' && isSep(p[i+2]) && (i == 0 || isSep(p[i-1]) || p[i-1] == '.') {
			n++
		}
	}
	return n
}

// sysFileIndex maps the first segment of every sysFiles entry to the entries.
var sysFileIndex = func() map[string][][]string {
	m := map[string][][]string{}
	for _, f := range sysFiles {
		m[f[0]] = append(m[f[0]], f)
	}
	return m
}()

// segment returns the path segment of lp starting at i (up to a separator).
func segment(lp string, i int) string {
	j := i
	for j < len(lp) && !isSep(lp[j]) && j-i < 64 {
		j++
	}
	return lp[i:j]
}

// nameEnds says whether seg is name, or name followed by something that is not part of a
// longer word (passwd.bak, passwd%00.jpg, but not passwdless).
func nameEnds(seg, name string) bool {
	if !strings.HasPrefix(seg, name) {
		return false
	}
	if len(seg) == len(name) {
		return true
	}
	c := seg[len(name)]
	return !isWordChar(c) || c == '_'
}

// sysFile finds a system file path: its segments in order, joined by separators. It reads
// each segment once and looks its name up, so the work is linear in len(p).
func sysFile(lp string) (int, string) {
	for i := 0; i < len(lp); i++ {
		if i > 0 && !isSep(lp[i-1]) && lp[i-1] != ':' && lp[i-1] != '=' {
			continue
		}
		if isSep(lp[i]) {
			continue
		}
		seg := segment(lp, i)
		for _, f := range sysFileIndex[seg] {
			if matchFile(lp, i, f) {
				return RuleTraversalFile, "path to system file " + strings.Join(f, "/")
			}
		}
		if len(seg) > 0 {
			// a one-segment name may carry a suffix: boot.ini%00, .htpasswd.bak
			for _, f := range sysFileIndex[trimName(seg)] {
				if len(f) == 1 && matchFile(lp, i, f) {
					return RuleTraversalFile, "path to system file " + f[0]
				}
			}
		}
		i += len(seg) - 1
		if i < 0 {
			i = 0
		}
	}
	return 0, ""
}

// trimName cuts a segment at the first byte that cannot be part of a file name we know.
func trimName(seg string) string {
	for k := 0; k < len(seg); k++ {
		if c := seg[k]; !isWordChar(c) && c != '.' && c != '-' {
			return seg[:k]
		}
	}
	return seg
}

func matchFile(lp string, i int, f []string) bool {
	j := i
	for n, seg := range f {
		if n > 0 {
			if j >= len(lp) || !isSep(lp[j]) {
				return false
			}
			for j < len(lp) && isSep(lp[j]) {
				j++
			}
		}
		s := segment(lp, j)
		if n < len(f)-1 && s != seg || n == len(f)-1 && !nameEnds(s, seg) {
			return false
		}
		j += len(seg)
	}
	// a lone name (boot.ini, .htpasswd) or /var/..., /usr/... must look like a path: a
	// separator before it, or nothing else in the value
	if len(f) == 1 || f[0] == "var" || f[0] == "usr" {
		if !(i > 0 && isSep(lp[i-1])) && !(i == 0 && j >= len(strings.TrimRight(lp, " "))) {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters without allocating when there are none.
func lowerASCII(s string) string {
	k := 0
	for k < len(s) && !('A' <= s[k] && s[k] <= 'Z') {
		k++
	}
	if k == len(s) {
		return s
	}
	b := []byte(s)
	for i := k; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 32
		}
	}
	return string(b)
}

// absPath finds a value that is an absolute path into a system directory: /etc/..., c:\windows,
// \\host\share.
func absPath(p string) (int, string) {
	s := strings.TrimSpace(p)
	if len(s) >= 3 && isAlpha(s[0]) && s[1] == ':' && isSep(s[2]) {
		s = s[2:]
	}
	if s == "" || !isSep(s[0]) {
		return 0, ""
	}
	s = strings.TrimLeft(s, "/")
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return 0, ""
	}
	dir := strings.ToLower(s[:i])
	always, known := sysDirs[dir]
	if known && i+1 < len(s) && (always || fileLike(s[i+1:])) {
		return RuleTraversalAbs, "absolute path into /" + dir
	}
	return 0, ""
}

// wrapper finds stream wrappers that read local files when a value reaches include() or a
// URL fetcher.
func wrapper(v string) (int, string) {
	if !strings.Contains(v, "://") && !strings.Contains(v, ":file:") {
		return 0, ""
	}
	lv := lowerASCII(strings.TrimSpace(v))
	for _, w := range []string{"file://", "php://filter", "php://input", "php://fd", "expect://", "zip://", "phar://", "glob://", "compress.zlib://", "jar:file:"} {
		if strings.HasPrefix(lv, w) {
			return RuleTraversalScheme, w + " wrapper"
		}
	}
	return 0, ""
}

// b64Path decodes a value that is entirely base64 (the php://filter and "encoded parameter"
// trick) so the traversal checks see the path; "" when it is not base64.
func b64Path(v string) string {
	if len(v) < 8 || len(v) > 4096 || len(v)%4 != 0 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isWordChar(c) && c != '_' && c != '$' && c < 0x80 || c == '+' || c == '/' || c == '=') {
			return ""
		}
	}
	d, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(d)
}
