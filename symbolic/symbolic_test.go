package symbolic

import (
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

func parse(t *testing.T, text string) *rules.Ruleset {
	t.Helper()
	res := load.Bytes("t.rules", []byte(text), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Err())
	}
	return res.Rules
}

// value evaluates a vector under an assignment of the input variables.
func value(m *bdd.Manager, v bdd.Vec, a func(int) bool) uint64 {
	var x uint64
	for _, n := range v {
		for n > bdd.True {
			if a(m.Level(n)) {
				n = m.High(n)
			} else {
				n = m.Low(n)
			}
		}
		x = x<<1 | uint64(n)
	}
	return x
}

func TestXorMaskIsMARK(t *testing.T) {
	m := bdd.New(8, 0)
	v := m.VarVec(0, 8)
	for _, c := range []struct{ value, mask uint64 }{{0x40, 0x40}, {0x00, 0x40}, {0x05, 0xff}, {0x10, 0}, {0x3, 0x7}} {
		out := xorMask(m, v, c.value, c.mask)
		for x := uint64(0); x < 256; x++ {
			got := value(m, out, func(i int) bool { return x>>(7-i)&1 == 1 })
			if want := x&^c.mask ^ c.value; got != want {
				t.Fatalf("--set-xmark 0x%x/0x%x of 0x%x: 0x%x, want 0x%x", c.value, c.mask, x, got, want)
			}
		}
	}
}

// leafFor finds the leaf of an arriving packet with the given header
// values (everything else zero), as the engine would decide it.
func leafFor(t *testing.T, s *Space, run *Run, fields map[Field]uint64, addrs map[Field]netip.Addr) (*Leaf, func(int) bool) {
	t.Helper()
	assign := map[int]bool{}
	set := func(vars []int, x []byte, bits int) {
		for i, v := range vars {
			assign[v] = bdd.Bit(x, len(x)*8-bits+i)
		}
	}
	for f, x := range fields {
		vars := s.FieldVars(f)
		set(vars, []byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}, len(vars))
	}
	for f, a := range addrs {
		b := a.As4()
		set(s.FieldVars(f), b[:], 32)
	}
	a := func(v int) bool { return assign[v] }
	if value(s.M, bdd.Vec{s.Domain}, a) != 1 {
		t.Fatalf("the packet %v %v is not in the domain", fields, addrs)
	}
	var found *Leaf
	for _, l := range run.Leaves {
		if value(s.M, bdd.Vec{l.G}, a) == 1 {
			if found != nil {
				t.Fatalf("two leaves hold the packet: %s and %s", found.Verdict, l.Verdict)
			}
			found = l
		}
	}
	if found == nil {
		t.Fatal("no leaf holds the packet")
	}
	return found, a
}

func TestRunDecidesLikeTheRules(t *testing.T) {
	rs := parse(t, `*nat
-A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*mangle
-A PREROUTING -i wlan0 -j MARK --set-xmark 0x4000/0x4000
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
-A FORWARD -m mark --mark 0x4000/0x4000 -o eth0 -j ACCEPT
COMMIT
`)
	s := New(ext.IPv4, host.Default(), 256, 0)
	run, err := Execute(s, rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eth0, wlan0 := uint64(s.ifIndex("eth0")), uint64(s.ifIndex("wlan0"))
	first := map[Field]uint64{FFirst: 1, FTTL: 64, FLen: 60}
	with := func(extra map[Field]uint64) map[Field]uint64 {
		out := map[Field]uint64{}
		for k, v := range first {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	ip := netip.MustParseAddr
	// ssh to the host is accepted.
	l, _ := leafFor(t, s, run, with(map[Field]uint64{FIn: eth0, FProto: 6, FDport: 22, FSport: 1000}), map[Field]netip.Addr{FSrc: ip("203.0.113.7"), FDst: ip("198.51.100.1")})
	if l.Verdict != "accept-local" {
		t.Errorf("ssh: %s", l.Verdict)
	}
	// Port 8080 from outside is DNATed and forwarded to 192.0.2.10:80.
	l, a := leafFor(t, s, run, with(map[Field]uint64{FIn: eth0, FProto: 6, FDport: 8080, FSport: 1000}), map[Field]netip.Addr{FSrc: ip("203.0.113.7"), FDst: ip("198.51.100.1")})
	if l.Verdict != "forward" || value(s.M, l.St.F[FDport], a) != 80 || value(s.M, l.St.F[FOut], a) != wlan0 {
		t.Errorf("DNAT: %s", l.Verdict)
	}
	// From the inside, marked, out to the world: forwarded and
	// masqueraded to eth0's address.
	l, a = leafFor(t, s, run, with(map[Field]uint64{FIn: wlan0, FProto: 17, FDport: 53, FSport: 1000}), map[Field]netip.Addr{FSrc: ip("192.0.2.9"), FDst: ip("203.0.113.53")})
	src := value(s.M, l.St.F[FSrc], a)
	if l.Verdict != "forward" || src != 198<<24|51<<16|100<<8|1 {
		t.Errorf("masquerade: %s from 0x%x", l.Verdict, src)
	}
	// TTL 1 is not forwarded.
	l, _ = leafFor(t, s, run, with(map[Field]uint64{FIn: wlan0, FProto: 17, FDport: 53, FTTL: 1, FSport: 1000}), map[Field]netip.Addr{FSrc: ip("192.0.2.9"), FDst: ip("203.0.113.53")})
	if l.Verdict != "drop" || l.Why != "TTL exceeded" {
		t.Errorf("TTL 1: %s (%s)", l.Verdict, l.Why)
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, c := range []struct{ in, a, p string }{
		{"192.0.2.1:80", "192.0.2.1", "80"},
		{"192.0.2.1-192.0.2.9:80-90", "192.0.2.1-192.0.2.9", "80-90"},
		{"192.0.2.1", "192.0.2.1", ""},
		{"[2001:db8::1]:80", "2001:db8::1", "80"},
		{"2001:db8::1", "2001:db8::1", ""},
	} {
		if a, p := splitHostPort(c.in); a != c.a || p != c.p {
			t.Errorf("%s: %q %q", c.in, a, p)
		}
	}
}
