package corpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
)

// scriptTimeout bounds one script's run in the namespace; the corpus
// scripts take well under a second.
const scriptTimeout = 60 * time.Second

// result is what one file gave on one backend.
type result struct {
	whole  bool   // the kernel took every command (script) or the whole file (restore)
	failed string // otherwise, the commands it refused and why
	diff   string // kernel save vs ipsift save, "" when equal
}

// TestCorpus loads every corpus file into the kernel, in a fresh
// namespace per file and backend (restore files with iptables-restore,
// scripts run by bash with only the iptables tools and stubs on PATH,
// see sandboxScript), and compares the kernel's iptables-save with
// `ipsift save` of the same file, table by table with the normalisation
// of every kernel save comparison (kerneldiff.SaveDifference). It also
// runs `ipsift check` on each file.
//
// The rule: on every backend where the kernel loads a file whole, ipsift
// save must print what the kernel holds, and ipsift check must report no
// error on a file the kernel loads whole on any backend (each error is
// a false error). A file the kernel does not load whole is still
// compared and the difference logged (a failing command fails alone, so
// the kernel holds the rest), but it fails nothing: it is not a file the
// kernel takes. The summary line counts files: N in the corpus, M
// loaded whole on both backends and equal on both, E false errors; it
// passes only with M equal to the number loaded whole and E = 0.
func TestCorpus(t *testing.T) {
	kernel.Require(t)
	es, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildIpsift(t)
	type fileResult struct {
		byBackend map[kernel.Backend]result
		errors    int
	}
	var mu sync.Mutex
	results := map[string]*fileResult{}
	t.Run("files", func(t *testing.T) {
		for _, e := range es {
			t.Run(e.File, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join("testdata", e.File)
				ours, saveErr := runIpsift(bin, "save", path)
				check, _ := runIpsift(bin, "check", path)
				fr := &fileResult{byBackend: map[kernel.Backend]result{}}
				for _, b := range kernel.Backends {
					fw := kernel.NewFirewall(t, b)
					var r result
					if e.Kind == KindRestore {
						data, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						err = fw.Restore(string(data))
						r.whole = err == nil
						if err != nil {
							r.failed = err.Error()
						}
					} else {
						r.whole, r.failed = runScript(t, fw, e)
					}
					theirs, err := fw.Save()
					if err != nil {
						t.Fatalf("%s: iptables-save: %v", b, err)
					}
					r.diff = kerneldiff.SaveDifference(b, withoutEmptyLegacyTables(b, theirs, ours), ours)
					fr.byBackend[b] = r
					switch {
					case r.whole && r.diff != "":
						t.Errorf("%s: the kernel loads the file whole; ipsift save (%v) differs:\n%s", b, saveErr, r.diff)
					case !r.whole && r.diff != "":
						t.Logf("%s: the kernel refused part of the file (%s); ipsift save (%v) differs from what it holds:\n%s", b, firstLines(r.failed, 4), saveErr, r.diff)
					case !r.whole:
						t.Logf("%s: the kernel refused part of the file (%s); ipsift save prints what it holds", b, firstLines(r.failed, 4))
					}
				}
				if fr.byBackend[kernel.NFT].whole || fr.byBackend[kernel.Legacy].whole {
					for _, l := range strings.Split(check, "\n") {
						if strings.Contains(l, ": error: ") {
							fr.errors++
							t.Errorf("false error (the kernel loads the file): %s", l)
						}
					}
				}
				mu.Lock()
				results[e.File] = fr
				mu.Unlock()
			})
		}
	})
	n, loaded, equal, falseErrs := len(es), 0, 0, 0
	for _, fr := range results {
		falseErrs += fr.errors
		whole, same := true, true
		for _, b := range kernel.Backends {
			r := fr.byBackend[b]
			whole = whole && r.whole
			same = same && r.diff == ""
		}
		if whole {
			loaded++
			if same {
				equal++
			}
		}
	}
	line := fmt.Sprintf("corpus: %d files, %d equal to the kernel, %d false errors (%d loaded whole by the kernel, backend nft and legacy)\n",
		n, equal, falseErrs, loaded)
	fmt.Print(line)
	if err := kerneldiff.AppendSummary(line); err != nil {
		t.Error(err)
	}
	if len(results) != n {
		t.Errorf("only %d of %d files were compared", len(results), n)
	}
}

// buildIpsift builds the command once: the test compares what a user
// runs, `ipsift save` and `ipsift check`, not a library call.
func buildIpsift(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ipsift")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ipsift/ipsift/cmd/ipsift").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/ipsift: %v\n%s", err, out)
	}
	return bin
}

// runIpsift runs ipsift and returns its standard output; the error
// carries the exit status and standard error.
func runIpsift(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ipsift %s: %v: %s", strings.Join(args, " "), err, firstLines(stderr.String(), 6))
	}
	return stdout.String(), nil
}

// withoutEmptyLegacyTables drops, for the legacy backend only, the tables
// the kernel holds with nothing in them (built-in chains only, every
// policy ACCEPT, no rule) that ipsift does not print: iptables-legacy
// creates a table when a command merely touches it (-F, -X, -Z, -L),
// where iptables-nft, which ipsift follows, creates none
// (internal/kernel/NOTES.md, section 0).
func withoutEmptyLegacyTables(b kernel.Backend, kernelSave, ipsiftSave string) string {
	if b != kernel.Legacy {
		return kernelSave
	}
	var out strings.Builder
	for _, block := range strings.SplitAfter(kernelSave, "COMMIT\n") {
		name, empty := "", true
		for _, l := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(l, "*"):
				name = l
			case strings.HasPrefix(l, "-A "):
				empty = false
			case strings.HasPrefix(l, ":"):
				if f := strings.Fields(l); len(f) < 2 || f[1] != "ACCEPT" {
					empty = false
				}
			}
		}
		if name != "" && empty && !strings.Contains(ipsiftSave, "\n"+name+"\n") && !strings.HasPrefix(ipsiftSave, name+"\n") {
			continue
		}
		out.WriteString(block)
	}
	return out.String()
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, " / ")
}

// sandboxScript prepares the script's world inside the firewall
// namespace, in a mount namespace of its own (unshare --mount, private):
//
//   - /usr/sbin (and with it /sbin) is the sandbox's bin directory:
//     iptables, iptables-save, iptables-restore, the ip6tables ones and
//     ipset are the real tools of the backend under test (wrappers that
//     log a failing command to log/failed), and ip, sysctl, modprobe and
//     the other commands scripts call by absolute path are stubs that
//     exit 0. PATH holds only that directory; any other command is
//     answered by a command_not_found_handle that returns 0 (BASH_ENV).
//   - /proc/sys holds only the namespace's own net/ tree, so a script's
//     `echo 1 > /proc/sys/...` reaches nothing outside the namespace.
//   - /etc/resolv.conf is empty: no DNS leaves the namespace.
//   - / and every other mount are read-only, /proc/sysrq-trigger is
//     /dev/null; log/ (the failures, TMPDIR for here-documents and the
//     xtables lock file) stays writable.
//
// Arguments: BACKEND BOX SHEBANG-OPTIONS SCRIPT [ARGS...].
const sandboxScript = `set -eu
be=$1 box=$2 opts=$3 script=$4
shift 4
mount --bind /usr/sbin "$box/real"
mount --bind "$box/bin" /usr/sbin
mount --bind "$box/log" "$box/log"
mount --bind /proc/sys/net "$box/sysnet"
mount -t tmpfs -o size=64k,mode=0755 ipsift-corpus /proc/sys
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
exec /usr/bin/env -i PATH=/usr/sbin:/sbin HOME=/ TERM=dumb LANG=C \
	BASH_ENV="$box/env.sh" TMPDIR="$box/log/tmp" XTABLES_LOCKFILE="$box/log/xtables.lock" \
	/bin/bash $opts "$script" "$@" </dev/null
`

// The real tools a script finds, and the stubs for what it calls by
// absolute path (everything else in PATH is the not-found handler).
var (
	realTools     = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}
	readOnlyTools = []string{"cat", "grep", "egrep", "sed", "awk", "cut", "tr", "head", "tail", "sort", "uniq", "wc",
		"expr", "seq", "dirname", "basename", "id", "whoami", "uname", "hostname", "readlink", "printf", "true", "false"}
	stubTools = []string{"ip", "sysctl", "modprobe", "insmod", "rmmod", "lsmod", "depmod", "ifconfig", "route",
		"service", "logger", "arp", "tc", "ethtool", "brctl", "conntrack", "netfilter-persistent", "invoke-rc.d", "update-rc.d"}
)

// runScript runs e's script with bash in the firewall's namespace, in
// the sandbox above, and reports whether every iptables command in it
// succeeded (queries aside: -C, -L and -S answer "no" with a failure
// status without changing anything).
func runScript(t *testing.T, fw *kernel.Firewall, e Entry) (whole bool, failed string) {
	t.Helper()
	box, err := os.MkdirTemp("", "ipsift-corpus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(box) })
	for _, d := range []string{"bin", "links", "real", "log", "log/tmp", "sysnet", "work"} {
		if err := os.MkdirAll(filepath.Join(box, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	multi := "xtables-" + string(fw.Backend) + "-multi"
	for _, tool := range realTools {
		// The multi-call binary picks the tool by the name it is run
		// as: a link of that name in links/ runs it without a subshell.
		if err := os.Symlink(filepath.Join(box, "real", multi), filepath.Join(box, "links", tool)); err != nil {
			t.Fatal(err)
		}
		w := fmt.Sprintf("#!/bin/bash\n%s/links/%s \"$@\"\nrc=$?\n[ $rc = 0 ] || printf '%%s\\t%%s\\n' \"$rc\" \"%s $*\" >>%s/log/failed\nexit $rc\n",
			box, tool, tool, box)
		writeFile(t, filepath.Join(box, "bin", tool), w, 0o755)
	}
	// Text tools a script computes values with are the real ones: they
	// read, and / is read-only for them.
	for _, u := range readOnlyTools {
		if p, err := exec.LookPath(u); err == nil {
			if err := os.Symlink(p, filepath.Join(box, "bin", u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeFile(t, filepath.Join(box, "bin", "ipset"), fmt.Sprintf("#!/bin/bash\nexec %s/real/ipset \"$@\"\n", box), 0o755)
	for _, s := range stubTools {
		writeFile(t, filepath.Join(box, "bin", s), "#!/bin/bash\nexit 0\n", 0o755)
	}
	// which answers from PATH, as the real one would here.
	writeFile(t, filepath.Join(box, "bin", "which"), "#!/bin/bash\nrc=1\nfor c; do command -v \"$c\" && rc=0; done\nexit $rc\n", 0o755)
	writeFile(t, filepath.Join(box, "env.sh"), "command_not_found_handle() { return 0; }\n", 0o644)
	writeFile(t, filepath.Join(box, "resolv.conf"), "", 0o644)
	writeFile(t, filepath.Join(box, "setup.sh"), sandboxScript, 0o644)
	for _, f := range append([]string{e.File}, e.Uses...) {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(box, "work", filepath.Base(f)), string(data), 0o755)
	}
	script := filepath.Join(box, "work", filepath.Base(e.File))
	// bash SCRIPT ignores the #! line; its options (#!/bin/bash -e) are
	// given as the kernel would give them.
	var shopts []string
	if data, err := os.ReadFile(script); err == nil {
		first, _, _ := strings.Cut(string(data), "\n")
		if f := strings.Fields(strings.TrimPrefix(first, "#!")); strings.HasPrefix(first, "#!") && len(f) == 2 && strings.HasPrefix(f[1], "-") {
			shopts = append(shopts, f[1])
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	args := append([]string{"netns", "exec", fw.NS, "unshare", "--mount", "--propagation", "private",
		"/bin/bash", filepath.Join(box, "setup.sh"), string(fw.Backend), box, strings.Join(shopts, " "), script}, e.Args...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if os.Getenv("IPSIFT_CORPUS_DEBUG") != "" {
		t.Logf("%s: script output:\n%s", fw.Backend, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: the script did not finish within %v:\n%s", fw.Backend, scriptTimeout, tail(string(out), 20))
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: running the script: %v", fw.Backend, err)
	}
	if _, err := os.Stat(filepath.Join(box, "log", "ready")); err != nil {
		t.Fatalf("%s: the sandbox could not be set up:\n%s", fw.Backend, out)
	}
	log, _ := os.ReadFile(filepath.Join(box, "log", "failed"))
	var fails []string
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		rc, cmdline, ok := strings.Cut(l, "\t")
		if !ok || isQuery(rc, cmdline) {
			continue
		}
		fails = append(fails, fmt.Sprintf("exit %s: %s", rc, cmdline))
	}
	if len(fails) > 0 {
		return false, strings.Join(fails, "\n")
	}
	return true, ""
}

// isQuery reports a command that only asks: iptables -C (is the rule
// there?), -L and -S, and the save tools. Their failure changes nothing.
func isQuery(rc, cmdline string) bool {
	f := strings.Fields(cmdline)
	if len(f) == 0 || strings.HasSuffix(f[0], "-save") {
		return true
	}
	if strings.HasPrefix(f[0], "ip6tables") {
		return true // IPv6 is not compared (ipsift skips it with a warning)
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

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
