package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logAllNetns is the host sysctl without which the kernel's LOG target
// writes nothing for packets of a network namespace other than the
// first.
const logAllNetns = "/proc/sys/net/netfilter/nf_log_all_netns"

// EnableNamespaceLog turns net.netfilter.nf_log_all_netns on for the
// rest of the test, so that LOG rules in the harness's namespaces write
// to the kernel log, and restores the old value when the test ends. The
// setting is the whole machine's, so test processes running side by side
// take turns with it under a file lock (one restoring 0 while another
// runs would silence the kernel's log for the other): the lock is held
// until the test ends. Without the sysctl the test is skipped (CI:
// failed), as Lacking does.
func EnableNamespaceLog(t testing.TB) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "ipsift-nf_log_all_netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	// Registered first, so it runs last: the lock is released after the
	// old value is back.
	t.Cleanup(func() { lock.Close() })
	old, err := os.ReadFile(logAllNetns)
	if err != nil {
		Lacking(t, "no nf_log_all_netns: %v", err)
		return
	}
	if err := os.WriteFile(logAllNetns, []byte("1"), 0o644); err != nil {
		Lacking(t, "cannot enable logging from namespaces: %v", err)
		return
	}
	t.Cleanup(func() {
		if err := os.WriteFile(logAllNetns, old, 0o644); err != nil {
			t.Errorf("restoring nf_log_all_netns to %q: %v", strings.TrimSpace(string(old)), err)
		}
	})
}

// LogLines returns the kernel log lines that contain prefix, each from
// the prefix on (the timestamp and facility before it cut off) with
// trailing blanks removed, oldest first. It waits, up to timeout, until
// there are at least want of them, for the kernel writes its log
// asynchronously; with fewer it returns what there is. Give every test
// (and every run) a prefix of its own: the log is the machine's.
func LogLines(prefix string, want int, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("dmesg").Output()
		if err != nil {
			return nil, fmt.Errorf("dmesg: %w", err)
		}
		var lines []string
		for l := range strings.Lines(string(out)) {
			if i := strings.Index(l, prefix); i >= 0 {
				lines = append(lines, strings.TrimRight(l[i:], " \n"))
			}
		}
		if len(lines) >= want || time.Now().After(deadline) {
			return lines, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
