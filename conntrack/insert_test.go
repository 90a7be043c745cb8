package conntrack

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsift/ipsift/ext"
)

// A preloaded connection is found by the packets of both directions,
// ESTABLISHED, with its NAT and its timeout; its windows come from the
// first packets, checked liberally.
func TestInsertPreload(t *testing.T) {
	tb := New(DefaultConfig())
	cli, srv, masq := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("198.51.100.1")
	orig, _ := MakeTuple(cli, srv, 40000, 80, protoTCP)
	reply, _ := MakeTuple(srv, masq, 80, 40000, protoTCP)
	now := int64(1_000_000_000_000)
	e, err := tb.Insert(Preload{Orig: orig, Reply: reply, TCPState: TCPEstablished, Assured: true, SeenReply: true, Mark: 7, Timeout: 100 * time.Second}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(Preload{Orig: orig, Reply: reply, TCPState: TCPEstablished}, now); !errors.Is(err, ErrPreloadTaken) {
		t.Errorf("second insert: %v", err)
	}
	st := e.Status()
	if st&IPSSrcNAT == 0 || st&IPSDstNAT != 0 || st&IPSAssured == 0 || e.Mark() != 7 || tb.Count() != 1 {
		t.Errorf("status %#x mark %d count %d", st, e.Mark(), tb.Count())
	}
	// Mid-stream segments with sequence numbers the table never saw.
	got, state, rep := track(t, tb, now+1e9, tcpSegment(cli, srv, 40000, 80, "A", 123456, 987654, 500, nil, 100))
	if got != e || rep || state != ext.CTEstablished {
		t.Fatalf("original direction: %v %v %v", got == e, state, rep)
	}
	got, state, rep = track(t, tb, now+2e9, tcpSegment(srv, masq, 80, 40000, "A", 987654, 123556, 500, nil, 1400))
	if got != e || !rep || state != ext.CTEstablished {
		t.Fatalf("reply direction: %v %v %v", got == e, state, rep)
	}
	// A segment far ahead of the first one's window still passes:
	// liberal, as the kernel is for connections picked up mid-stream.
	if _, state, _ = track(t, tb, now+3e9, tcpSegment(cli, srv, 40000, 80, "A", 123456+10_000_000, 987654+1400, 500, nil, 100)); state != ext.CTEstablished {
		t.Errorf("far segment: %v", state)
	}
	// The timeout runs from the insertion: gone after 100 s without
	// packets... but each packet refreshed it (ESTABLISHED: 5 days).
	if l, _ := tb.Lookup(orig, now+200e9); l != e {
		t.Error("refreshed connection gone")
	}
	// One left alone for longer than its timeout expires.
	o2, _ := MakeTuple(cli, srv, 40001, 80, protoTCP)
	r2, _ := o2.Invert()
	tb.Insert(Preload{Orig: o2, Reply: r2, TCPState: TCPTimeWait, Timeout: 10 * time.Second}, now)
	if l, _ := tb.Lookup(o2, now+5e9); l == nil {
		t.Error("gone before its timeout")
	}
	if l, _ := tb.Lookup(o2, now+11e9); l != nil {
		t.Error("still there after its timeout")
	}
}
