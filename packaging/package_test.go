package packaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The install test needs root, debootstrap and systemd-nspawn; `make deps` installs the last
// two. It is part of `make test`: without them it fails and says what to install.

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (packaging/devdeps.sh installs it)", tool)
		}
	}
}

// buildPackages runs `make package`'s script with a fixed version and returns the two .deb paths.
func buildPackages(t *testing.T, root, version string) (appliance, console string) {
	t.Helper()
	out := run(t, root, []string{"PKG_VERSION=" + version}, "bash", "packaging/build-deb.sh")
	lines := strings.Fields(out)
	if len(lines) < 2 {
		t.Fatalf("build-deb.sh printed %q", out)
	}
	return filepath.Join(root, lines[len(lines)-2]), filepath.Join(root, lines[len(lines)-1])
}

var contentsRE = regexp.MustCompile(`(?m)^([-dl][rwxsStT-]{9})\s+(\S+)/(\S+)\s+\d+\s+\S+\s+\S+\s+\.(\S+)`)

// debContents maps each path in the package to "mode owner/group".
func debContents(t *testing.T, deb string) map[string]string {
	t.Helper()
	out := run(t, "", nil, "dpkg-deb", "-c", deb)
	m := map[string]string{}
	for _, f := range contentsRE.FindAllStringSubmatch(out, -1) {
		m[strings.TrimSuffix(f[4], "/")] = f[1] + " " + f[2] + "/" + f[3]
	}
	return m
}

func TestPackagesContents(t *testing.T) {
	need(t, "nfpm", "dpkg-deb", "systemd-analyze")
	root := repoRoot(t)
	app, console := buildPackages(t, root, "1.0.0")

	c := debContents(t, app)
	want := map[string]string{
		"/usr/bin/bulwark":                             "-rwxr-xr-x root/root",
		"/etc/bulwark/bulwark.toml":                    "-rw-r----- root/root",
		"/usr/lib/systemd/system/bulwark.service":      "-rw-r--r-- root/root",
		"/usr/lib/systemd/system/bulwark-https.socket": "-rw-r--r-- root/root",
		"/usr/lib/systemd/system/bulwark-http.socket":  "-rw-r--r-- root/root",
		"/var/lib/bulwark":                             "drwxr-x--- root/root",
	}
	for p, w := range want {
		if c[p] != w {
			t.Errorf("%s in %s: %q, want %q", p, filepath.Base(app), c[p], w)
		}
	}
	info := run(t, "", nil, "dpkg-deb", "-I", app)
	for _, s := range []string{"Package: bulwark", "Version: 1.0.0", "postinst", "postrm", "prerm"} {
		if !strings.Contains(info, s) {
			t.Errorf("dpkg-deb -I %s lacks %q", filepath.Base(app), s)
		}
	}
	ctrl := t.TempDir()
	run(t, "", nil, "dpkg-deb", "-e", app, ctrl)
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); !strings.Contains(string(b), "/etc/bulwark/bulwark.toml") {
		t.Errorf("/etc/bulwark/bulwark.toml is not a conffile: %q", b)
	}

	cc := debContents(t, console)
	for _, p := range []string{"/usr/bin/bulwark-console", "/usr/share/applications/bulwark-console.desktop", "/usr/share/icons/hicolor/scalable/apps/bulwark-console.svg"} {
		if cc[p] == "" {
			t.Errorf("%s missing from %s", p, filepath.Base(console))
		}
	}
	deps := run(t, "", nil, "dpkg-deb", "-f", console, "Depends")
	for _, lib := range []string{"libgl1", "libx11-6", "libxkbcommon0", "libwayland-client0"} {
		if !strings.Contains(deps, lib) {
			t.Errorf("console Depends lacks %s: %s", lib, deps)
		}
	}
}

func TestSystemdUnitHardening(t *testing.T) {
	need(t, "systemd-analyze")
	unit := filepath.Join(repoRoot(t), "packaging", "systemd", "bulwark.service")
	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for bulwark.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure score in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security --offline=true: exposure %.1f (target <= 1.2)", score)
	fmt.Printf("bulwark.service exposure level: %.1f\n", score)
	if score > 1.2 {
		t.Fatalf("exposure %.1f > 1.2:\n%s", score, out)
	}
	// verify complains only that /usr/bin/bulwark is not installed on this machine.
	vout, _ := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(vout)), "\n") {
		if line != "" && !strings.Contains(line, "/usr/bin/bulwark is not executable") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// debianRoot returns a cached minimal Debian root with systemd, made once per machine by
// debootstrap (about a minute) under /var/tmp.
func debianRoot(t *testing.T) string {
	t.Helper()
	base := "/var/tmp/bulwark-test-debroot"
	if _, err := os.Stat(filepath.Join(base, ".complete")); err == nil {
		return base
	}
	os.RemoveAll(base)
	run(t, "", nil, "debootstrap", "--variant=minbase",
		"--include=systemd,systemd-sysv,dbus,adduser,ca-certificates,curl,procps,util-linux",
		"bookworm", base, "http://deb.debian.org/debian")
	if err := os.WriteFile(filepath.Join(base, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return base
}

// container is a booted systemd-nspawn machine with no network but its own loopback.
type container struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	init int // PID of systemd inside, as seen from the host
}

func boot(t *testing.T, base string) *container {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	run(t, "", nil, "cp", "-a", base, dir)
	c := &container{t: t, dir: dir}
	c.cmd = exec.Command("systemd-nspawn", "-D", dir, "-b", "--register=no", "--private-network",
		"--keep-unit", "--quiet", "--bind-ro="+filepath.Join(repoRoot(t), "dist")+":/dist")
	var log bytes.Buffer
	c.cmd.Stdout, c.cmd.Stderr = &log, &log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if pid := childPID(c.cmd.Process.Pid); pid > 0 {
			c.init = pid
			out, _ := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-a", "systemctl", "is-system-running").Output()
			if s := strings.TrimSpace(string(out)); s == "running" || s == "degraded" {
				return c
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("container did not boot:\n%s", log.String())
	return nil
}

func childPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// sh runs a shell command inside the container and returns its output and error.
func (c *container) sh(script string) (string, error) {
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(c.init), "-a", "sh", "-c", script).CombinedOutput()
	return string(out), err
}

func (c *container) must(script string) string {
	c.t.Helper()
	out, err := c.sh(script)
	if err != nil {
		c.t.Fatalf("in container: %s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(out)
}

func (c *container) waitActive(what string) {
	c.t.Helper()
	for i := 0; i < 60; i++ {
		if out, _ := c.sh("systemctl is-active bulwark.service"); strings.TrimSpace(out) == "active" {
			if _, err := c.sh("curl -sf --max-time 2 --cacert /var/lib/bulwark/ca.pem https://127.0.0.1/ -o /dev/null"); err == nil {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, _ := c.sh("systemctl status bulwark.service --no-pager; journalctl -u bulwark --no-pager | grep -v '\"msg\":\"request\"' | tail -30")
	c.t.Fatalf("%s: service not answering HTTPS on 443:\n%s", what, out)
}

func TestInstallUpgradePurgeUnderSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the install test boots a container and needs root (CI runs as root)")
	}
	need(t, "nfpm", "debootstrap", "systemd-nspawn", "nsenter")
	root := repoRoot(t)
	base := debianRoot(t)
	app1, _ := buildPackages(t, root, "1.0.0")
	c := boot(t, base)

	out := c.must("dpkg -i /dist/" + filepath.Base(app1) + " 2>&1")
	if !strings.Contains(out, "/var/lib/bulwark/admin.bundle") {
		t.Errorf("postinst did not say where the admin bundle is:\n%s", out)
	}
	if got := c.must("getent passwd bulwark | cut -d: -f7"); got != "/usr/sbin/nologin" {
		t.Errorf("bulwark user shell = %q", got)
	}
	for path, want := range map[string]string{
		"/var/lib/bulwark":          "bulwark bulwark 750",
		"/var/lib/bulwark/ca.key":   "bulwark bulwark 600",
		"/etc/bulwark/bulwark.toml": "root bulwark 640",
		"/usr/bin/bulwark":          "root root 755",
	} {
		if got := c.must("stat -c '%U %G %a' " + path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	c.waitActive("after install")

	pid := c.must("systemctl show -p MainPID --value bulwark.service")
	status := c.must("cat /proc/" + pid + "/status")
	for _, capLine := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(status, capLine) {
			t.Errorf("service holds capabilities: want %q in\n%s", capLine, status)
		}
	}
	if !strings.Contains(status, "NoNewPrivs:\t1") {
		t.Error("service runs without no_new_privs")
	}
	// Write attempts from inside the service's own namespaces, as its user.
	uid, gid := c.must("id -u bulwark"), c.must("id -g bulwark")
	as := "nsenter -t " + pid + " -a -S " + uid + " -G " + gid + " "
	for _, p := range []string{"/etc/bulwark/x", "/usr/x", "/var/x", "/root/x", "/home/x", "/opt/x"} {
		out, err := c.sh(as + "touch " + p)
		if err == nil {
			t.Errorf("service user could write %s: %s", p, out)
		} else if !strings.Contains(out, "Read-only file system") && !strings.Contains(out, "Permission denied") {
			t.Errorf("touch %s failed for another reason than the sandbox: %v: %s", p, err, out)
		}
	}
	c.must(as + "touch /var/lib/bulwark/write-probe && rm /var/lib/bulwark/write-probe")

	// kill -9 → systemd restarts it.
	c.must("kill -9 " + pid)
	time.Sleep(3 * time.Second)
	c.waitActive("after kill -9")
	if pid2 := c.must("systemctl show -p MainPID --value bulwark.service"); pid2 == pid || pid2 == "0" {
		t.Errorf("service not restarted after kill -9 (pid %s → %s)", pid, pid2)
	}

	// A broken config makes the service refuse to start, naming the key in the journal.
	c.must("cp /etc/bulwark/bulwark.toml /root/good.toml && printf '\\n[log]\\nlevle = 1\\n' >> /etc/bulwark/bulwark.toml")
	c.sh("systemctl restart bulwark.service")
	time.Sleep(3 * time.Second)
	if st, _ := c.sh("systemctl is-active bulwark.service"); strings.TrimSpace(st) == "active" {
		t.Error("service started with a broken config")
	}
	if j, _ := c.sh("journalctl -u bulwark.service --no-pager"); !strings.Contains(j, "log.levle") {
		t.Errorf("journal does not name the bad key:\n%s", j)
	}
	c.must("cp /root/good.toml /etc/bulwark/bulwark.toml && echo '# edited by the operator' >> /etc/bulwark/bulwark.toml")
	c.sh("systemctl reset-failed bulwark.service; systemctl restart bulwark.service")
	c.waitActive("after fixing the config")

	// Upgrade keeps CA, data and the edited config.
	caBefore := c.must("sha256sum /var/lib/bulwark/ca.pem /var/lib/bulwark/ca.key")
	app2, _ := buildPackages(t, root, "1.0.1")
	c.must("dpkg -i --force-confold /dist/" + filepath.Base(app2))
	if got := c.must("dpkg-query -W -f='${Version}' bulwark"); got != "1.0.1" {
		t.Errorf("version after upgrade = %q", got)
	}
	if caAfter := c.must("sha256sum /var/lib/bulwark/ca.pem /var/lib/bulwark/ca.key"); caAfter != caBefore {
		t.Errorf("upgrade changed the CA:\n%s\n%s", caBefore, caAfter)
	}
	if !strings.Contains(c.must("cat /etc/bulwark/bulwark.toml"), "edited by the operator") {
		t.Error("upgrade lost the operator's config edit")
	}
	c.waitActive("after upgrade")

	// remove keeps data; purge deletes it and the user.
	c.must("dpkg -r bulwark")
	c.must("test -f /var/lib/bulwark/ca.key")
	c.must("dpkg -P bulwark")
	if out, err := c.sh("ls -d /var/lib/bulwark /etc/bulwark 2>&1; getent passwd bulwark"); err == nil {
		t.Errorf("purge left: %s", out)
	}
	sum := sha256.Sum256([]byte(caBefore))
	t.Logf("install, kill -9 restart, broken-config refusal, upgrade (CA %s…) and purge checked", hex.EncodeToString(sum[:4]))
}
