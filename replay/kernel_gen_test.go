package replay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/rules"
)

// TestKernelReplayGenerated sends the differential generator's rulesets
// and packets (raw frames on the firewall's links and packets the host
// sends itself, answers addressed from what the kernel did) through the
// kernel while the NFLOG recipe captures them, and requires the replay
// of the capture to give the kernel's counters.
func TestKernelReplayGenerated(t *testing.T) {
	kernel.Require(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		kernel.Lacking(t, "needs tcpdump: %v", err)
	}
	n := 0
	for i := 0; n < generatedRulesets && i < 50; i++ {
		ruleset, pkts := kerneldiff.Generate(generatedSeed, i, 40)
		if strings.Contains(ruleset, "-m connlimit") {
			continue // its jiffy boundaries are not the capture's (kerneldiff spaces such packets apart)
		}
		n++
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			for attempt := 1; !generatedRun(t, ruleset, pkts, attempt == maxAttempts); attempt++ {
				t.Logf("attempt %d: the capture dropped packets; running again", attempt)
			}
		})
	}
}

// The generated rulesets the test replays, from a fixed seed (so a
// failure can be run again); IPSIFT_REPLAY_GEN=N runs N of them.
var generatedSeed, generatedRulesets = uint64(20261207), envInt("IPSIFT_REPLAY_GEN", 4)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func generatedRun(t *testing.T, ruleset string, pkts []kerneldiff.Packet, last bool) bool {
	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(ruleset); err != nil {
		t.Logf("the kernel refuses the generated ruleset, as kerneldiff counts some: %v", err)
		return true
	}
	if err := kerneldiff.PrepareHost(fw, ruleset, pkts); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"add", "table", "ip", "ipsift_capture"},
		{"add", "chain", "ip", "ipsift_capture", "pre", "{ type filter hook prerouting priority -450; }"},
		{"add", "chain", "ip", "ipsift_capture", "out", "{ type filter hook output priority -450; }"},
		{"add", "rule", "ip", "ipsift_capture", "pre", "log", "group", "5", "queue-threshold", "1"},
		{"add", "rule", "ip", "ipsift_capture", "out", "log", "group", "5", "queue-threshold", "1"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", fw.NS, "nft"}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v\n%s", c, err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "gen.pcap")
	td := exec.Command("ip", "netns", "exec", fw.NS, "tcpdump", "-n", "-s", "0", "-B", "32768", "--immediate-mode", "-U", "-w", file, "-i", "nflog:5")
	td.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := td.StderrPipe()
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(-td.Process.Pid, syscall.SIGKILL)
			td.Wait()
		}
	})
	errs := bufio.NewReader(stderr)
	for {
		line, err := errs.ReadString('\n')
		if err != nil {
			t.Fatalf("tcpdump did not start: %q %v", line, err)
		}
		if strings.Contains(line, "listening on") {
			break
		}
	}
	ans := kerneldiff.NewAnswerer(pkts)
	for i := range pkts {
		d, ok := ans.Desc(i)
		if !ok {
			ans.Left(i, nil)
			continue
		}
		data, err := d.Build(i)
		if err != nil {
			t.Fatalf("packet %d %s: %v", i, d.String(), err)
		}
		if d.DelayMS > 0 {
			time.Sleep(time.Duration(d.DelayMS) * time.Millisecond)
		}
		switch {
		case d.Local:
			err = fw.SendLocal(data)
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
				errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EACCES) {
				err = nil // OUTPUT refused it: that is its verdict
			}
		case d.SrcMAC.IsZero():
			err = fw.Inject(d.In, data)
		default:
			err = fw.InjectFrom(d.In, d.SrcMAC[:], data)
		}
		if err != nil {
			t.Fatalf("sending packet %d: %v", i, err)
		}
		frames, err := fw.CaptureAll()
		if err != nil {
			t.Fatal(err)
		}
		ans.Left(i, frames)
	}
	time.Sleep(1500 * time.Millisecond) // nfnetlink_log's flush
	syscall.Kill(td.Process.Pid, syscall.SIGINT)
	rest, _ := io.ReadAll(errs)
	td.Wait()
	killed = true
	if m := regexp.MustCompile(`(\d+) packets dropped by kernel`).FindSubmatch(rest); m == nil || string(m[1]) != "0" {
		if !last {
			return false
		}
		t.Fatalf("the capture is not complete in %d runs: %s", maxAttempts, rest)
	}
	save, err := fw.SaveCounters()
	if err != nil {
		t.Fatal(err)
	}
	want := kernel.ParseSaveCounters(save)

	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(ruleset), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _ := capture.NewReader(f)
	own, err := HoldsOwnPackets(rd)
	if err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	rd, _ = capture.NewReader(f)
	e, err := engine.New(rs, nil, engine.Config{NoHostStack: own, ForwardErrors: own})
	if err != nil {
		t.Fatal(err)
	}
	r := New(e, Options{IfIndex: ifindexesOf(t, fw.NS), OwnAnswers: own})
	if err := r.Run(rd); err != nil {
		t.Fatal(err)
	}
	rep := r.Report()
	var b bytes.Buffer
	e.Program().Ruleset().Save(&b, rules.SaveOptions{Counters: true})
	got := kernel.ParseSaveCounters(b.String())
	for _, key := range kernel.SortedKeys(want) {
		if got[key] != want[key] {
			t.Errorf("%s: replay %v, kernel %v", key, got[key], want[key])
		}
	}
	for _, s := range rep.Skipped {
		if s.Input {
			t.Errorf("an input was skipped: %+v", s)
		}
	}
	t.Logf("%d records, %d replayed, verdicts %v, skipped %+v", rep.Records, rep.Replayed.Packets, verdictText(rep), rep.Skipped)
	if t.Failed() {
		t.Logf("ruleset:\n%s\nkernel:\n%s\nreplay:\n%s", ruleset, save, b.String())
	}
	return true
}

// ifindexesOf returns the interface indexes of namespace ns by name.
func ifindexesOf(t *testing.T, ns string) map[uint32]string {
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint32]string{}
	re := regexp.MustCompile(`^(\d+): ([^:@]+)[:@]`)
	for line := range strings.Lines(string(out)) {
		if g := re.FindStringSubmatch(line); g != nil {
			n, _ := strconv.Atoi(g[1])
			m[uint32(n)] = g[2]
		}
	}
	return m
}
