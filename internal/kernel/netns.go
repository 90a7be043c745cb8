package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the name of every namespace this package creates; the
// creating process's pid follows, so SweepStale can tell a dead owner's
// leftovers from those of a test binary still running beside it.
const nsPrefix = "ipsift-t-"

// netnsDir is where `ip netns` keeps its named namespaces (bind mounts of
// /proc/<pid>/ns/net); /var/run is a link to /run on every current distro.
const netnsDir = "/run/netns"

// SweepStale removes the namespaces that an earlier test process left
// behind: those named ipsift-t-<pid>-... whose pid no longer runs (a test
// binary stopped by -timeout or a signal never runs its cleanups).
// Namespaces of processes still alive, the caller's own included, are
// kept. It returns the names it removed. NewFirewall calls it once per
// process; call it yourself from TestMain to sweep earlier.
func SweepStale() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no named namespace was ever made
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s for stale namespaces: %w", netnsDir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPid(e.Name())
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := deleteNetns(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// ownerPid extracts <pid> from ipsift-t-<pid>-...; ok is false for names
// this package did not make.
func ownerPid(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, nsPrefix)
	if !found {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// processAlive reports whether pid names a running process. Signal 0
// checks existence without touching it; EPERM still means it exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// deleteNetns removes a named namespace. A name already gone counts as
// removed, so cleanups may run twice.
func deleteNetns(name string) error {
	if _, err := os.Stat(netnsDir + "/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, err := exec.Command(toolPath("ip"), "netns", "del", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netnsExists reports whether the named namespace is still there.
func netnsExists(name string) bool {
	_, err := os.Stat(netnsDir + "/" + name)
	return err == nil
}

// runIn runs a command inside the named namespace with `ip netns exec`,
// feeding it stdin when not nil, and returns its standard output. The
// error carries the command line, the exit status and the standard error,
// which is where iptables says what was wrong with a ruleset.
func runIn(ns string, stdin io.Reader, args ...string) (string, error) {
	full := append([]string{"netns", "exec", ns}, args...)
	cmd := exec.Command(toolPath("ip"), full...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("in namespace %s: %s: %v: %s",
			ns, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// inNamespace runs fn on an OS thread that has entered the named
// namespace. Sockets fn opens belong to that namespace for their whole
// life, and /proc/thread-self/net shows that namespace's counters, so
// this is how the package reaches a namespace without starting a
// process.
//
// fn runs on a goroutine of its own that locks its thread: if the thread
// cannot be put back into its original namespace it is left locked, and
// the Go runtime then ends it with the goroutine instead of reusing a
// thread that sits in the wrong namespace.
func inNamespace(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening this thread's network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(netnsDir+"/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Deliberately still locked: the thread dies with us.
			done <- errors.Join(fnErr, fmt.Errorf("leaving namespace %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}

// InNamespace runs fn on a thread moved into the network namespace ns
// (a name under /run/netns), as inNamespace does: the sockets fn opens
// stay in ns. Tests that build namespaces of their own to run real
// sockets in use it.
func InNamespace(ns string, fn func() error) error { return inNamespace(ns, fn) }

// writeSysctls sets sysctls of the namespace the calling thread is in, by
// writing /proc/sys directly: the net.* entries resolve against the
// writer's namespace when opened, so inside inNamespace this is both
// correct and far cheaper than running sysctl(8). Keys use dots, as
// sysctl(8) does.
func writeSysctls(kv [][2]string) error {
	for _, e := range kv {
		path := "/proc/sys/" + strings.ReplaceAll(e[0], ".", "/")
		if err := os.WriteFile(path, []byte(e[1]+"\n"), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", e[0], e[1], err)
		}
	}
	return nil
}
