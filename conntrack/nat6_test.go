package conntrack

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/ext"
)

// TestNAT66BehindExtensionHeaders: the transport header is rewritten
// where ipv6_skip_exthdr finds it, behind extension headers, with the
// pseudo-header checksum; a later fragment of the connection gets its
// address only.
func TestNAT66BehindExtensionHeaders(t *testing.T) {
	r := newRouter(t, DefaultConfig())
	gatewayNAT6(r)
	syn := withExt(tcpSegment(server6, client6, 33000, 80, "S", 1, 0, 8192, nil, 0), hbh8, dst8)
	st, out, b := r.forward("wlan0", syn)
	if st != "NEW" || out != "eth0" {
		t.Fatalf("%s out %s", st, out)
	}
	p := decode(t, b)
	if p.Src != masq6 || p.SrcPort != 33000 || !p.L4ChecksumOK() {
		t.Errorf("masqueraded SYN: %s", show(b))
	}
	// The same rewrite without the headers gives the same transport
	// bytes.
	r2 := newRouter(t, DefaultConfig())
	gatewayNAT6(r2)
	_, _, plain := r2.forward("wlan0", tcpSegment(server6, client6, 33000, 80, "S", 1, 0, 8192, nil, 0))
	if !bytes.Equal(plain[40:], b[40+16:]) || !bytes.Equal(plain[8:40], b[8:40]) {
		t.Errorf("with headers\n%x\nwithout\n%x", b, plain)
	}
	// A later fragment of the connection: the address changes, the
	// bytes after the Fragment header stay.
	frag := withExt(ipPacket(server6, client6, 6, []byte("0123456789abcdef")), frag6(2, false, 9))
	p2 := decode(t, append([]byte(nil), frag...))
	e, _ := r.tb.Lookup(mustTuple(t, server6, client6, 33000, 80, 6), r.now)
	if e == nil {
		t.Fatal("no connection")
	}
	if !r.tb.Translate(e, false, ext.NATSrc, p2) {
		t.Fatal("Translate refused a later fragment")
	}
	if p2.Src != masq6 || !bytes.Equal(p2.Data[48:], frag[48:]) {
		t.Errorf("later fragment: %x", p2.Data)
	}
}

func mustTuple(t *testing.T, src, dst netip.Addr, sport, dport uint16, proto uint8) Tuple {
	t.Helper()
	tu, ok := MakeTuple(src, dst, sport, dport, proto)
	if !ok {
		t.Fatal("bad tuple")
	}
	return tu
}
