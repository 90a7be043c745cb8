package nfqueue

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"golang.org/x/sys/unix"
)

// inNetns runs fn on a thread moved into namespace ns; sockets fn makes
// stay there. The thread exits with its goroutine, still locked.
func inNetns(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// TestQueueInNamespace binds a queue in a namespace of its own, queues
// UDP datagrams the namespace sends to 192.0.2.1:9, rewrites the first
// to port 10 with a single verdict and passes the next two with one batch
// verdict; then the same with the verdicts deferred and sent by one
// Flush (the batch verdict after the single one leaves it alone).
func TestQueueInNamespace(t *testing.T) {
	t.Run("Immediate", func(t *testing.T) { queueInNamespace(t, false) })
	t.Run("Deferred", func(t *testing.T) { queueInNamespace(t, true) })
}

func queueInNamespace(t *testing.T, deferred bool) {
	if os.Geteuid() != 0 {
		kernel.Lacking(t, "needs root: creates a network namespace and binds NFQUEUE")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		kernel.Lacking(t, "needs iptables")
	}
	ns := fmt.Sprintf("ipsift-nfq-%d", os.Getpid())
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	run("ip", "-n", ns, "addr", "add", "192.0.2.1/32", "dev", "lo")
	run("ip", "netns", "exec", ns, "iptables", "-t", "raw", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "NFQUEUE", "--queue-num", "3")

	var q *Queue
	var l9, l10, out net.PacketConn
	err := inNetns(ns, func() (err error) {
		if q, err = Open(Config{Num: 3, MaxLen: 64, Flags: FlagGSO, Defer: deferred}); err != nil {
			return err
		}
		if l9, err = net.ListenPacket("udp4", "192.0.2.1:9"); err != nil {
			return err
		}
		if l10, err = net.ListenPacket("udp4", "192.0.2.1:10"); err != nil {
			return err
		}
		out, err = net.ListenPacket("udp4", "192.0.2.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	defer l9.Close()
	defer l10.Close()
	defer out.Close()
	dst := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}
	for _, m := range []string{"one", "two", "three"} {
		if _, err := out.WriteTo([]byte(m), dst); err != nil {
			t.Fatal(err)
		}
	}

	var ids []uint32
	var pk packet.Packet
	deadline := time.Now().Add(5 * time.Second)
	for len(ids) < 3 && time.Now().Before(deadline) {
		err := q.Receive(func(p *Packet) {
			ids = append(ids, p.ID)
			if p.Hook != HookLocalOut {
				t.Errorf("hook %d, want LOCAL_OUT", p.Hook)
			}
			if len(ids) == 1 {
				if err := pk.Decode(p.Payload); err != nil {
					t.Error(err)
					return
				}
				pk.SetDstPort(10)
				if p.SkbInfo&SkbCsumNotReady != 0 {
					// The checksum field held only the pseudo-header
					// sum, and a mangled packet is CHECKSUM_NONE to the
					// kernel: it must now carry a finished checksum.
					pk.FixChecksums()
				}
				if err := q.Verdict(p.ID, Accept, p.Payload, true, 7); err != nil {
					t.Error(err)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("received %d packets", len(ids))
	}
	if err := q.BatchVerdict(ids[2], Accept); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func(c net.PacketConn) string {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 100)
		n, _, err := c.ReadFrom(b)
		if err != nil {
			return err.Error()
		}
		return string(b[:n])
	}
	if got := read(l10); got != "one" {
		t.Fatalf("port 10 got %q, want the rewritten first datagram", got)
	}
	if a, b := read(l9), read(l9); a != "two" || b != "three" {
		t.Fatalf("port 9 got %q %q", a, b)
	}
}
