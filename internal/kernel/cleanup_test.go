package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again by the tests below, act as a
// test that builds a firewall and then ends badly.
const helperEnv = "IPSIFT_KERNEL_HELPER"

// TestHelperEndsBadly is not a test of its own: run by TestCleanupOnPanic
// and TestSweepAfterKill with helperEnv set, it builds a firewall, prints
// its namespace names, and then panics or hangs as told.
func TestHelperEndsBadly(t *testing.T) {
	how := os.Getenv(helperEnv)
	if how == "" {
		t.Skip("helper for TestCleanupOnPanic and TestSweepAfterKill")
	}
	fw := NewFirewall(t, NFT)
	fmt.Printf("namespaces: %s\n", strings.Join(fw.Namespaces(), " "))
	switch how {
	case "panic":
		panic("the helper panics on purpose")
	case "hang":
		time.Sleep(time.Minute) // until killed; bounded in case it is not
	}
}

// runHelper starts the test binary as the helper and returns it with the
// namespace names it printed and a channel closed once its standard
// output reached its end (the helper exited), after which cmd.Wait may
// be called.
func runHelper(t *testing.T, how string) (cmd *exec.Cmd, names []string, drained <-chan struct{}) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperEndsBadly$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+how, "CI=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The helper's panic trace would look like this test failing; keep
	// it for when it does.
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// By pid: only the helper this test started. Wait again is
		// harmless after the test's own.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("helper's standard error:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if list, ok := strings.CutPrefix(sc.Text(), "namespaces: "); ok {
			done := make(chan struct{})
			go func() { // keep the pipe drained so the helper never blocks
				for sc.Scan() {
				}
				close(done)
			}()
			return cmd, strings.Fields(list), done
		}
	}
	t.Fatalf("helper (%s) ended without printing its namespaces", how)
	return nil, nil, nil
}

func TestCleanupOnPanic(t *testing.T) {
	Require(t)
	cmd, names, drained := runHelper(t, "panic")
	<-drained
	if err := cmd.Wait(); err == nil {
		t.Fatal("the panicking helper exited successfully")
	}
	if len(names) != 3 {
		t.Fatalf("helper printed %d namespaces, want 3: %v", len(names), names)
	}
	for _, ns := range names {
		if NamespaceExists(ns) {
			t.Errorf("namespace %s survived its test's panic", ns)
			_ = deleteNetns(ns)
		}
	}
}

func TestSweepAfterKill(t *testing.T) {
	Require(t)
	cmd, names, drained := runHelper(t, "hang")
	// SIGKILL, as go test -timeout or a CI stop leaves things: no
	// cleanup runs.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-drained
	_ = cmd.Wait()
	for _, ns := range names {
		if !NamespaceExists(ns) {
			t.Fatalf("namespace %s vanished without a sweep; the test proves nothing", ns)
		}
	}
	// Another test process sweeping at the same moment may remove them
	// first, so what counts is that they are gone, not who removed them.
	if _, err := SweepStale(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if NamespaceExists(ns) {
			t.Errorf("namespace %s survived SweepStale", ns)
			_ = deleteNetns(ns)
		}
	}
}
