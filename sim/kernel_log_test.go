package sim

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"golang.org/x/sys/unix"
)

// TestKernelLogLines compares the LOG target's lines with the kernel's
// own, field for field. The kernel logs from a namespace only with
// net.netfilter.nf_log_all_netns=1: the test sets it and restores it.
// The setting is the whole machine's, so test processes running side by
// side (several checkouts' test suites) take turns with it under a file
// lock: one restoring 0 while another runs would silence the kernel's
// log for the other.
func TestKernelLogLines(t *testing.T) {
	kernel.Require(t)
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "ipsift-nf_log_all_netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the lock, after the restore below
	old, err := os.ReadFile("/proc/sys/net/netfilter/nf_log_all_netns")
	if err != nil {
		kernel.Lacking(t, "no nf_log_all_netns: %v", err)
	}
	if err := os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", []byte("1"), 0o644); err != nil {
		kernel.Lacking(t, "cannot enable logging from namespaces: %v", err)
	}
	t.Cleanup(func() { os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", old, 0o644) })
	prefix := fmt.Sprintf("ipsift%d: ", time.Now().UnixNano()%1000000)
	ruleset := fmt.Sprintf(`*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -j LOG --log-prefix "%sT "
-A INPUT -p udp -j LOG --log-prefix "%sU " --log-level 6
-A INPUT -p icmp -j LOG --log-prefix "%sI "
-A FORWARD -j LOG --log-prefix "%sF " --log-tcp-sequence --log-tcp-options --log-ip-options
COMMIT
`, prefix, prefix, prefix, prefix)
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(ruleset), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,"flags":"S"}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40001,"dport":80,"flags":"PA","len":10,"df":true,"tos":16,"ttl":7}`,
		`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"udp","sport":5353,"dport":53,"len":12}`,
		`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"icmp","type":8,"code":0}`,
		`{"in":"wlan0","src":"192.0.2.10","dst":"203.0.113.7","proto":"tcp","sport":40002,"dport":443,"flags":"SA","seq":77,"ack":99}`,
	}
	var descs []packet.Desc
	for _, l := range lines {
		d, err := packet.ParseDescLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(ruleset); err != nil {
		t.Fatal(err)
	}
	addNeighbours(t, fw, descs)
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ours strings.Builder
	e.Log = &ours
	s := New(e)
	for i, d := range descs {
		data, _ := d.Build(i)
		if err := fw.Inject(d.In, data); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Run(i, d); err != nil {
			t.Fatal(err)
		}
	}
	fw.CaptureAll()
	var theirs []string
	for try := 0; try < 20 && len(theirs) < len(descs); try++ {
		time.Sleep(50 * time.Millisecond)
		out, err := exec.Command("dmesg").Output()
		if err != nil {
			kernel.Lacking(t, "dmesg: %v", err)
		}
		theirs = theirs[:0]
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.Index(l, prefix); i >= 0 {
				theirs = append(theirs, strings.TrimRight(l[i:], " "))
			}
		}
	}
	mine := strings.Split(strings.TrimRight(ours.String(), "\n"), "\n")
	for i := range mine {
		mine[i] = strings.TrimRight(mine[i], " ")
	}
	if len(theirs) != len(mine) {
		t.Fatalf("kernel logged %d lines, ipsift %d:\n%s\n---\n%s", len(theirs), len(mine), strings.Join(theirs, "\n"), strings.Join(mine, "\n"))
	}
	if len(mine) != len(descs) {
		t.Fatalf("ipsift logged %d lines for %d packets", len(mine), len(descs))
	}
	for i := range mine {
		t.Logf("%s", mine[i])
		if theirs[i] != mine[i] {
			t.Errorf("line %d:\nkernel: %s\nipsift: %s", i, theirs[i], mine[i])
		}
	}
}

// addNeighbours gives the firewall a neighbour entry for every on-link
// address the packets name, so that its answers and forwarded packets
// need no ARP (the peers never answer).
func addNeighbours(t *testing.T, fw *kernel.Firewall, descs []packet.Desc) {
	links := map[string]netip.Prefix{"eth0": netip.MustParsePrefix("198.51.100.0/24"), "wlan0": netip.MustParsePrefix("192.0.2.0/24")}
	done := map[netip.Addr]bool{}
	for _, d := range descs {
		for _, a := range []netip.Addr{d.Src, d.Dst} {
			for ifname, p := range links {
				if p.Contains(a) && !done[a] && a != p.Addr() && a.As4()[3] != 255 && a.As4()[3] != 1 {
					done[a] = true
					if err := fw.AddNeighbour(ifname, a); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}
