package ctnetlink

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"golang.org/x/sys/unix"
)

// inNetns runs fn on a thread moved into namespace ns; the thread is
// never handed back (it exits locked).
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		fn()
	}()
	<-done
}

func newNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		kernel.Lacking(t, "needs root: network namespaces and ctnetlink")
	}
	if _, err := exec.LookPath("conntrack"); err != nil {
		kernel.Lacking(t, "needs conntrack: %v", err)
	}
	ns := fmt.Sprintf("oflct-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// conntrack -L loads nf_conntrack_netlink if needed.
	exec.Command("ip", "netns", "exec", ns, "conntrack", "-L").Run()
	return ns
}

var a = netip.MustParseAddr

// A DNAT'ed TCP connection created with its binding, TCP state and mark
// is what conntrack -L lists; its counters read as zero; deleting it
// sends its destroy event.
func TestCreateDumpDelete(t *testing.T) {
	ns := newNetns(t)
	orig := Tuple{Src: a("198.51.100.7"), Dst: a("198.51.100.1"), Proto: 6, SrcPort: 40000, DstPort: 80}
	reply := Tuple{Src: a("192.0.2.10"), Dst: a("198.51.100.7"), Proto: 6, SrcPort: 80, DstPort: 40000}
	inNetns(t, ns, func() {
		c, err := Dial()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		ev, err := ListenDestroy()
		if err != nil {
			t.Error(err)
			return
		}
		defer ev.Close()
		err = c.Create(&Conn{Orig: orig, Reply: reply, Status: StatusSeenReply | StatusAssured, Timeout: 300, Mark: 0x40000000,
			TCP: &TCPInfo{State: 3, Flags: [2]uint8{0x0c, 0x0c}, Scale: [2]uint8{7, 7}}})
		if err != nil {
			t.Errorf("create: %v", err)
			return
		}
		if err := c.Create(&Conn{Orig: orig, Reply: reply, Timeout: 300}); err == nil {
			t.Error("a second create of the same tuple succeeded")
		}
		out, _ := exec.Command("ip", "netns", "exec", ns, "conntrack", "-L").CombinedOutput()
		want := "ESTABLISHED src=198.51.100.7 dst=198.51.100.1 sport=40000 dport=80 src=192.0.2.10 dst=198.51.100.7 sport=80 dport=40000 [ASSURED] mark=1073741824"
		if !strings.Contains(string(out), want) {
			t.Errorf("conntrack -L:\n%s\nwant %s", out, want)
		}
		var n int
		if err := c.Dump(0x40000000, 0x40000000, func(e Event) {
			n++
			if e.Orig != orig || e.Reply != reply {
				t.Errorf("dump: %v / %v", e.Orig, e.Reply)
			}
			if e.TCPState != 3 || e.Status&(StatusAssured|StatusSeenReply) != StatusAssured|StatusSeenReply || e.Timeout == 0 || e.Timeout > 300 {
				t.Errorf("dump: state %d status %#x timeout %d", e.TCPState, e.Status, e.Timeout)
			}
		}); err != nil || n != 1 {
			t.Errorf("dump: %d entries, %v", n, err)
		}
		if err := c.Dump(0x20000000, 0x20000000, func(e Event) { t.Errorf("dump by another mark: %v", e.Orig) }); err != nil {
			t.Error(err)
		}
		n = 0
		if err := c.DumpZero(0x40000000, 0x40000000, func(e Event) {
			n++
			if e.Counters != (Counters{}) {
				t.Errorf("counters of a new entry: %+v", e.Counters)
			}
		}); err != nil || n != 1 {
			t.Errorf("dump and zero: %d entries, %v", n, err)
		}
		// Get reads one connection with its state and flags.
		for i := 0; i < 2; i++ {
			g, err := c.Get(orig)
			if err != nil || g.Orig != orig || g.Reply != reply || g.TCPState != 3 || g.TCPFlags != [2]uint8{0x0c, 0x0c} || g.Mark != 0x40000000 ||
				g.Status&(StatusAssured|StatusSeenReply) != StatusAssured|StatusSeenReply || g.Timeout == 0 || g.Timeout > 300 || g.Destroy {
				t.Errorf("get: %+v, %v", g, err)
			}
		}
		other := orig
		other.SrcPort++
		if _, err := c.Get(other); err != ErrNotFound {
			t.Errorf("get of a tuple the kernel has not: %v, want ErrNotFound", err)
		}
		if err := c.Delete(orig); err != nil {
			t.Errorf("delete: %v", err)
		}
		if err := c.Delete(orig); err != ErrNotFound {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		got := make(chan Event, 4)
		go ev.Receive(func(e Event) { got <- e })
		select {
		case e := <-got:
			if e.Orig != orig || e.Reply != reply || e.Mark != 0x40000000 || !e.Destroy || e.TCPState != 3 {
				t.Errorf("destroy event %v / %v mark %#x state %d", e.Orig, e.Reply, e.Mark, e.TCPState)
			}
		case <-time.After(5 * time.Second):
			t.Error("no destroy event")
		}
	})
}
