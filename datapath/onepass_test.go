package datapath

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/datapath/nfqueue"
	"github.com/ipsift/ipsift/host"
)

// TestOnePassOK: which forwarded packets with a rewritten source may
// leave in one verdict, and which packets are the martians ipsift drops.
func TestOnePassOK(t *testing.T) {
	r := &Runner{lh: &liveHost{h: host.Default(), mtu: map[string]int{"eth0": 1500, "wlan0": 1500, "tun0": 1400, "lo": 65536}},
		onePass: &onePass{acceptLocal: map[string]bool{"tun0": true}}}
	w := newWorker(r, 0)
	pkt := func(n int, df bool) []byte {
		b := make([]byte, n)
		b[0] = 0x45
		if df {
			b[6] = 0x40
		}
		return b
	}
	for _, c := range []struct {
		name    string
		in, out string
		gso     bool
		data    []byte
		want    bool
	}{
		{"fits", "wlan0", "eth0", false, pkt(1500, true), true},
		{"too big, DF: Fragmentation Needed", "wlan0", "tun0", false, pkt(1500, true), false},
		{"too big, no DF: fragmented", "wlan0", "tun0", false, pkt(1500, false), true},
		{"GSO to a smaller MTU", "eth0", "tun0", true, pkt(9000, true), false},
		{"GSO to an MTU as big", "eth0", "wlan0", true, pkt(9000, true), true},
		{"GSO to a bigger MTU", "tun0", "eth0", true, pkt(9000, true), true},
		{"out where it came in: a redirect", "wlan0", "wlan0", false, pkt(100, true), false},
		{"unknown interface", "wlan0", "ppp0", false, pkt(100, true), false},
	} {
		w.in.In = c.in
		p := &nfqueue.Packet{}
		if c.gso {
			p.SkbInfo = nfqueue.SkbGSO
		}
		if got := w.onePassOK(p, c.data, c.out); got != c.want {
			t.Errorf("%s: one pass %v, want %v", c.name, got, c.want)
		}
	}
	o := r.onePass
	r.onePass = nil
	if w.onePassOK(&nfqueue.Packet{}, pkt(100, true), "eth0") {
		t.Error("one pass without --one-pass")
	}
	r.onePass = o
	for _, c := range []struct {
		src, in string
		want    bool
	}{
		{"198.51.100.1", "eth0", true},   // the host's own address from outside
		{"192.0.2.1", "eth0", true},      // another of its addresses
		{"198.51.100.77", "eth0", false}, // not the host's
		{"198.51.100.1", "lo", false},    // loopback routes nothing again
		{"198.51.100.1", "tun0", false},  // accepted local sources before
	} {
		if got := r.martian(netip.MustParseAddr(c.src), c.in); got != c.want {
			t.Errorf("martian(%s on %s) = %v, want %v", c.src, c.in, got, c.want)
		}
	}
	r.onePass.acceptLocal["all"] = true
	if r.martian(netip.MustParseAddr("198.51.100.1"), "eth0") {
		t.Error("a martian though conf/all accepted local sources")
	}
}

// TestStartOnePass reads a conf tree: rp_filter on refuses, accept_local
// is set and restored.
func TestStartOnePass(t *testing.T) {
	root := t.TempDir()
	write := func(dev, name, v string) {
		os.MkdirAll(filepath.Join(root, dev), 0o755)
		os.WriteFile(filepath.Join(root, dev, name), []byte(v+"\n"), 0o644)
	}
	for _, dev := range []string{"all", "default", "eth0"} {
		write(dev, "rp_filter", "0")
		write(dev, "accept_local", "0")
	}
	write("eth0", "rp_filter", "2")
	ok := func() error { return nil }
	if _, err := startOnePass(root, ok); err == nil || !strings.Contains(err.Error(), "net.ipv4.conf.eth0.rp_filter is 2") {
		t.Fatalf("rp_filter 2 on eth0: %v", err)
	}
	write("eth0", "rp_filter", "0")
	write("eth0", "accept_local", "1")
	if _, err := startOnePass(root, func() error { return errors.New("policy routing rules") }); err == nil || !strings.Contains(err.Error(), "policy routing rules") {
		t.Fatalf("policy routing: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "all", "accept_local")); string(b) != "0\n" {
		t.Fatalf("accept_local %q after a refusal", b)
	}
	o, err := startOnePass(root, ok)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "all", "accept_local")); string(b) != "1" {
		t.Fatalf("accept_local %q while running", b)
	}
	if !o.acceptLocal["eth0"] || o.acceptLocal["all"] {
		t.Errorf("accepted local sources before: %v", o.acceptLocal)
	}
	o.stop()
	if b, _ := os.ReadFile(filepath.Join(root, "all", "accept_local")); string(b) != "0" {
		t.Fatalf("accept_local %q after stop, want 0", b)
	}
}
