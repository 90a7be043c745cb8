package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Script is a firewall shell script to run in a firewall's namespace.
type Script struct {
	Path string
	Args []string
	// Files are other files the script reads (source, .): each is
	// copied next to it, by its base name, before it runs.
	Files []string
}

// ScriptRun is what running a firewall script did.
type ScriptRun struct {
	Stdout, Stderr string
	// ExitCode is the script's exit status (a failing iptables command
	// does not end a script without set -e, so 0 says little).
	ExitCode int
	// Failed lists, in order, the iptables, ip6tables and their
	// -restore commands that failed, queries aside (-C, -L, -S and the
	// save tools answer "no" with a failure status and change nothing).
	Failed []FailedCommand
	// Stubbed lists, in order, the commands the script ran that are
	// neither a shell builtin nor a real tool of the sandbox: each did
	// nothing and succeeded.
	Stubbed []string
}

// FailedCommand is one command of a script that the kernel (or iptables)
// refused.
type FailedCommand struct {
	Status  int    // its exit status
	Command string // the tool's name and its arguments, space-separated
}

func (c FailedCommand) String() string {
	return fmt.Sprintf("exit %d: %s", c.Status, c.Command)
}

// ScriptTimeout bounds one script's run; firewall scripts take well under
// a second.
const ScriptTimeout = 60 * time.Second

// The real tools a script finds, the read-only text tools it computes
// values with, and the stubs for what it calls by absolute path
// (everything else on PATH is the not-found handler).
var (
	scriptTools   = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}
	readOnlyTools = []string{"cat", "grep", "egrep", "sed", "awk", "cut", "tr", "head", "tail", "sort", "uniq", "wc",
		"expr", "seq", "dirname", "basename", "id", "whoami", "uname", "hostname", "readlink", "printf", "true", "false"}
	stubTools = []string{"ip", "sysctl", "modprobe", "insmod", "rmmod", "lsmod", "depmod", "ifconfig", "route",
		"service", "logger", "arp", "tc", "ethtool", "brctl", "conntrack", "netfilter-persistent", "invoke-rc.d", "update-rc.d"}
)

// sandboxSetup prepares the script's world inside the firewall
// namespace, in a mount namespace of its own (unshare --mount, private).
// RunScript puts before it the binds of the real tools into $box/real
// and of $box/bin over the sbin directories, and after it the line that
// runs the script:
//
//   - /usr/sbin (and /sbin, /usr/local/sbin when they are other
//     directories) is the sandbox's bin directory: iptables,
//     iptables-save, iptables-restore, the ip6tables ones and ipset are
//     the real tools of the backend under test (wrappers that log a
//     failing command to log/failed), and ip, sysctl, modprobe and the
//     other commands scripts call by absolute path are stubs that log
//     their name to log/stubbed and exit 0. PATH holds only that
//     directory; any other command is answered by a
//     command_not_found_handle that logs it and returns 0 (BASH_ENV).
//   - /proc/sys holds only the namespace's own net/ tree, so a script's
//     `echo 1 > /proc/sys/...` reaches nothing outside the namespace.
//   - /etc/resolv.conf is empty: no DNS leaves the namespace.
//   - / and every other mount are read-only, /proc/sysrq-trigger is
//     /dev/null; log/ (the failures, TMPDIR for here-documents and the
//     xtables lock file, so that the run never waits for others) stays
//     writable.
//
// Arguments: BOX SCRIPT-ARGS...
const sandboxSetup = `box=$1
shift
mount --bind "$box/log" "$box/log"
mount --bind /proc/sys/net "$box/sysnet"
mount -t tmpfs -o size=64k,mode=0755 ipsift-sandbox /proc/sys
mkdir /proc/sys/net
mount --move "$box/sysnet" /proc/sys/net
mount --bind "$box/resolv.conf" /etc/resolv.conf || true
if [ -e /proc/sysrq-trigger ]; then mount --bind /dev/null /proc/sysrq-trigger; fi
# Every mount read-only but the log directory and the namespace's own
# /proc (and /dev, for /dev/null): / first, then the others.
mount -o remount,bind,ro /
awk '{print $2}' /proc/self/mounts | while read -r m; do
	case $m in
	/ | "$box/log" | /proc | /proc/* | /dev | /dev/pts) ;;
	*) mount -o remount,bind,ro "$m" 2>/dev/null || true ;;
	esac
done
cd "$box/work"
: >"$box/log/ready"
`

// RunScript runs a firewall shell script with bash in the firewall's
// namespace as a host would run it, in a sandbox (sandboxSetup): the
// real iptables tools are the backend's, by name and by absolute path
// (/sbin/iptables, /usr/sbin/iptables), and a failing one is logged
// (ScriptRun.Failed); other commands that would change the host are
// stubs (ScriptRun.Stubbed); nothing outside the namespace can be
// written and no name resolved. The kernel ends up with whatever the
// real iptables made of the script, independently of how ipsift reads
// it. The options of the script's #! line (#!/bin/bash -e) are given to
// bash as the kernel would give them. A run is bounded by ScriptTimeout.
//
// The error is for a run that could not be set up, could not be started
// or did not finish; a script that exits non-zero is reported in
// ExitCode.
func (f *Firewall) RunScript(s Script) (ScriptRun, error) {
	var res ScriptRun
	box, err := os.MkdirTemp("", "ipsift-script-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(box)
	if err := f.prepareSandbox(box, s); err != nil {
		return res, fmt.Errorf("preparing the sandbox for %s: %w", s.Path, err)
	}
	script := filepath.Join(box, "work", filepath.Base(s.Path))
	data, err := os.ReadFile(script)
	if err != nil {
		return res, err
	}
	// bash SCRIPT ignores the #! line; its options are given as the
	// kernel would give them.
	var opts []string
	if first, _, _ := strings.Cut(string(data), "\n"); strings.HasPrefix(first, "#!") {
		if fs := strings.Fields(strings.TrimPrefix(first, "#!")); len(fs) == 2 && strings.HasPrefix(fs[1], "-") {
			opts = append(opts, fs[1])
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return res, err
	}
	env, err := exec.LookPath("env")
	if err != nil {
		return res, err
	}
	unshare, err := lookTool("unshare")
	if err != nil {
		return res, err
	}
	run := fmt.Sprintf(`exec %s -i PATH=/usr/sbin:/sbin HOME=/ TERM=dumb LANG=C BASH_ENV="$box/env.sh" TMPDIR="$box/log/tmp" XTABLES_LOCKFILE="$box/log/xtables.lock" %s %s %s "$@" </dev/null`,
		shellQuote(env), shellQuote(bash), strings.Join(opts, " "), shellQuote(script))
	binds, err := f.realBinds(box)
	if err != nil {
		return res, err
	}
	setup := "set -eu\nbox=$1\n" + binds + sandboxSetup + run + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), ScriptTimeout)
	defer cancel()
	args := append([]string{"netns", "exec", f.NS, unshare, "--mount", "--propagation", "private",
		bash, "-c", setup, "ipsift-sandbox", box}, s.Args...)
	cmd := exec.CommandContext(ctx, toolPath("ip"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	if ctx.Err() != nil {
		return res, fmt.Errorf("running %s in %s: it did not finish within %v", s.Path, f.NS, ScriptTimeout)
	}
	if _, serr := os.Stat(filepath.Join(box, "log", "ready")); serr != nil {
		return res, fmt.Errorf("running %s in %s: the sandbox could not be set up (%v): %s", s.Path, f.NS, err, strings.TrimSpace(res.Stderr))
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.Exited():
		res.ExitCode = exit.ExitCode()
	case err != nil:
		return res, fmt.Errorf("running %s in %s: %w: %s", s.Path, f.NS, err, strings.TrimSpace(res.Stderr))
	}
	res.Failed = failedCommands(filepath.Join(box, "log", "failed"))
	if data, err := os.ReadFile(filepath.Join(box, "log", "stubbed")); err == nil {
		res.Stubbed = strings.Fields(string(data))
	}
	return res, nil
}

// prepareSandbox writes the sandbox's files under box: bin/ (the
// wrappers, the text tools and the stubs), links/ (the names the
// backend's multi-call binary is run by), real/ (where the real tools
// are bound), the directories the setup mounts on, and work/ with the
// script and its files.
func (f *Firewall) prepareSandbox(box string, s Script) error {
	for _, d := range []string{"bin", "links", "real", "log", "log/tmp", "sysnet", "work"} {
		if err := os.MkdirAll(filepath.Join(box, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"env.sh":      fmt.Sprintf("command_not_found_handle() { printf '%%s\\n' \"$1\" >>%s/log/stubbed; return 0; }\n", shellQuote(box)),
		"resolv.conf": "",
		// which answers from PATH, as the real one would here.
		"bin/which": "#!/bin/bash\nrc=1\nfor c; do command -v \"$c\" && rc=0; done\nexit $rc\n",
	}
	multi := filepath.Base(f.realMulti())
	for _, tool := range scriptTools {
		// The multi-call binary picks the tool by the name it is run
		// as: a link of that name in links/ runs it.
		if err := os.Symlink(filepath.Join(box, "real", multi), filepath.Join(box, "links", tool)); err != nil {
			return err
		}
		files["bin/"+tool] = fmt.Sprintf("#!/bin/bash\n%s/links/%s \"$@\"\nrc=$?\n[ $rc = 0 ] || printf '%%s\\t%%s\\n' \"$rc\" \"%s $*\" >>%s/log/failed\nexit $rc\n",
			shellQuote(box), tool, tool, shellQuote(box))
	}
	if _, err := lookTool("ipset"); err == nil {
		files["bin/ipset"] = fmt.Sprintf("#!/bin/bash\nexec %s/real/ipset \"$@\"\n", shellQuote(box))
	}
	for _, name := range stubTools {
		files["bin/"+name] = fmt.Sprintf("#!/bin/bash\nprintf '%%s\\n' %s >>%s/log/stubbed\nexit 0\n", name, shellQuote(box))
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(box, name), []byte(text), mode); err != nil {
			return err
		}
	}
	// Text tools a script computes values with are the real ones: they
	// read, and / is read-only for them.
	for _, u := range readOnlyTools {
		if p, err := exec.LookPath(u); err == nil {
			if err := os.Symlink(p, filepath.Join(box, "bin", u)); err != nil {
				return err
			}
		}
	}
	for _, name := range append([]string{s.Path}, s.Files...) {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(box, "work", filepath.Base(name)), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// realMulti is the backend's multi-call binary, links resolved.
func (f *Firewall) realMulti() string {
	p := toolPath(f.Backend.tool(""))
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// realBinds are the setup lines that bind the real tools (the backend's
// multi-call binary, ipset) at $box/real, then the sandbox's bin over
// the sbin directories they live in.
func (f *Firewall) realBinds(box string) (string, error) {
	var b strings.Builder
	tools := []string{f.realMulti()}
	if p, err := lookTool("ipset"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		tools = append(tools, p)
	}
	for i, p := range tools {
		target := filepath.Join(box, "real", filepath.Base(p))
		if i > 0 {
			target = filepath.Join(box, "real", "ipset")
		}
		if err := os.WriteFile(target, nil, 0o755); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "mount --bind %s %s\n", shellQuote(p), shellQuote(target))
	}
	for _, d := range sandboxDirs() {
		fmt.Fprintf(&b, "mount --bind \"$box/bin\" %s\n", shellQuote(d))
	}
	return b.String(), nil
}

// sandboxDirs are the distinct existing sbin directories the sandbox's
// bin covers, so that /sbin/iptables and /usr/sbin/iptables are its own
// whether /sbin is a link to /usr/sbin or not.
func sandboxDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	for _, d := range sbinDirs {
		r, err := filepath.EvalSymlinks(d)
		if err != nil || seen[r] {
			continue
		}
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			continue
		}
		seen[r] = true
		dirs = append(dirs, r)
	}
	return dirs
}

// failedCommands reads the wrappers' log of failing commands, queries
// aside.
func failedCommands(log string) []FailedCommand {
	data, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	var out []FailedCommand
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		rc, cmdline, ok := strings.Cut(l, "\t")
		status, err := strconv.Atoi(rc)
		if !ok || err != nil || isQuery(cmdline) {
			continue
		}
		out = append(out, FailedCommand{Status: status, Command: cmdline})
	}
	return out
}

// isQuery reports a command that only asks: iptables -C (is the rule
// there?), -L and -S, and the save tools. Their failure changes nothing.
func isQuery(cmdline string) bool {
	f := strings.Fields(cmdline)
	if len(f) == 0 || strings.HasSuffix(f[0], "-save") {
		return true
	}
	for _, a := range f[1:] {
		switch {
		case a == "--check" || a == "--list" || a == "--list-rules":
			return true
		case len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a[1:], "CLS"):
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
