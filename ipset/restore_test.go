package ipset

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"
	"testing"
)

// The batch semantics of ipset restore, as ipset 7.17 behaves on this
// machine's kernel (probed): a parse error discards the unsent run of
// add lines of one set, a kernel error stops at its line with what came
// before applied, and a run ends when the command or the set changes.
func TestRestoreBatches(t *testing.T) {
	for _, tc := range []struct {
		in, want, errLine string
	}{
		{"create r1 hash:ip\nadd r1 1.1.1.1\nadd r1 1.1.1.2\nadd r1 1.1.1.x\n", "", "Error in line 4: Syntax error"},
		{"create r2 hash:ip\nadd r2 1.1.1.1\nadd r2 1.1.1.2\nadd r2 1.1.1.2\nadd r2 1.1.1.3\n", "add r2 1.1.1.1\nadd r2 1.1.1.2\n", "Error in line 4: Element cannot be added to the set: it's already added"},
		{"create r2 hash:ip\nadd r2 1.1.1.5\ncreate r1 hash:ip\nadd r1 1.1.1.2\nadd r2 1.1.1.x\n", "add r2 1.1.1.5\n", "Error in line 5: Syntax error"},
	} {
		var out, errb bytes.Buffer
		c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdin: strings.NewReader(tc.in), Stdout: &out, Stderr: &errb}
		if rc := c.Run([]string{"restore"}); rc != 1 {
			t.Errorf("%q: exit %d", tc.in, rc)
		}
		if !strings.Contains(errb.String(), tc.errLine) {
			t.Errorf("%q: error %q, want %q", tc.in, errb.String(), tc.errLine)
		}
		out.Reset()
		c.Run([]string{"save"})
		var adds []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "add ") {
				adds = append(adds, l+"\n")
			}
		}
		sort.Strings(adds) // the kernel's listing is in hash order
		if got := strings.Join(adds, ""); got != tc.want {
			t.Errorf("%q: sets hold\n%s\nwant\n%s", tc.in, got, tc.want)
		}
	}
}

// A hash:net lookup takes the most specific network first, and a
// nomatch element there answers no match even if a wider one matches.
func TestHashNetMostSpecific(t *testing.T) {
	r := NewRegistry()
	c := &Cmd{R: r, Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, l := range []string{"create n hash:net", "add n 10.0.0.0/8", "add n 10.1.0.0/16 nomatch", "add n 10.1.2.0/24"} {
		if rc := c.Run(strings.Fields(l)); rc != 0 {
			t.Fatal(l)
		}
	}
	for _, tc := range []struct {
		ip   string
		want int
	}{{"10.9.9.9", Matched}, {"10.1.9.9", Nomatch}, {"10.1.2.3", Matched}, {"11.0.0.1", NoMatch}} {
		k := Key{C1: 32}
		a, _ := parseAddr(tc.ip, Inet)
		k.A1 = a
		if got := r.Get("n").Lookup(k, 0, nil, 0).Result; got != tc.want {
			t.Errorf("%s: %d want %d", tc.ip, got, tc.want)
		}
	}
}

// A bitmap:port is looked up by the packet's port alone (a bug once
// gave its keys the address dimension's prefix length).
func TestBitmapPortPacket(t *testing.T) {
	r := NewRegistry()
	c := &Cmd{R: r, Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, l := range []string{"create low bitmap:port range 0-1024", "add low 500"} {
		if rc := c.Run(strings.Fields(l)); rc != 0 {
			t.Fatal(l)
		}
	}
	p := PacketInfo{Family: Inet, Proto: protoUDP, SrcPort: 40000, DstPort: 500, HasPorts: true}
	if h := r.Get("low").MatchPacket(&p, 0, 1, 0, nil); h.Result != Matched {
		t.Error("udp to port 500 not in low")
	}
	p.DstPort = 501
	if h := r.Get("low").MatchPacket(&p, 0, 1, 0, nil); h.Result != NoMatch {
		t.Error("port 501 in low")
	}
}

// This kernel's list:set takes members beyond its size (probed: size 4
// took six members, appended and inserted).
func TestListSetSizeNotEnforced(t *testing.T) {
	c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	lines := []string{"create u list:set size 4"}
	for _, s := range []string{"a", "b", "c", "d", "e", "f"} {
		lines = append(lines, "create "+s+" hash:ip")
	}
	lines = append(lines, "add u a", "add u b", "add u c", "add u d", "add u e before d", "add u f after a")
	for _, l := range lines {
		if rc := c.Run(strings.Fields(l)); rc != 0 {
			t.Fatalf("%s: exit %d", l, rc)
		}
	}
	var out bytes.Buffer
	c.Stdout = &out
	c.Run([]string{"save", "u"})
	want := "create u list:set size 4\nadd u a\nadd u f\nadd u b\nadd u c\nadd u e\nadd u d\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// A list:set match with ! --update-counters leaves its members'
// counters alone, as the kernel's list_set_ktest passes the rule's
// flags on to the members (found by TestKernelDiffSets).
func TestListSkipCountersReachesMembers(t *testing.T) {
	r := NewRegistry()
	c := &Cmd{R: r, Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, l := range []string{"create m bitmap:port range 0-1024 counters", "add m 22", "create l list:set", "add l m"} {
		if rc := c.Run(strings.Fields(l)); rc != 0 {
			t.Fatal(l)
		}
	}
	p := &PacketInfo{Family: Inet, Proto: protoTCP, DstPort: 22, HasPorts: true, Len: 40}
	for _, o := range []*PacketOpts{{MatchOpts: MatchOpts{SkipCounterUpdate: true}}, {SkipSubcounters: true}, nil} {
		if h := r.Get("l").MatchPacket(p, 0, 1, 0, o); h.Result != Matched {
			t.Fatalf("opts %+v: no match", o)
		}
	}
	var out bytes.Buffer
	c.Stdout = &out
	c.Run([]string{"save", "m"})
	if !strings.Contains(out.String(), "add m 22 packets 1 bytes 40") {
		t.Errorf("the member's counters after a skipping, a sub-skipping and a counting lookup:\n%s", out.String())
	}
}

// An element -j SET adds (or overwrites with --exist) starts its
// counters at the packet that added it, as the kernel's add from a
// packet does (found by TestKernelDiffSets).
func TestAddPacketCounters(t *testing.T) {
	r := NewRegistry()
	c := &Cmd{R: r, Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, l := range []string{"create s hash:ip counters", "add s 192.0.2.1 packets 9 bytes 900"} {
		if rc := c.Run(strings.Fields(l)); rc != 0 {
			t.Fatal(l)
		}
	}
	s := r.Get("s")
	for _, src := range []string{"192.0.2.1", "192.0.2.2"} {
		p := &PacketInfo{Family: Inet, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("198.51.100.1"), Len: 60}
		if !s.AddPacket(p, 2, 1, 0, 0, false, true) {
			t.Fatalf("add %s", src)
		}
	}
	var out bytes.Buffer
	c.Stdout = &out
	c.Run([]string{"save", "s"})
	for _, want := range []string{"add s 192.0.2.1 packets 1 bytes 60", "add s 192.0.2.2 packets 1 bytes 60"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("want %q in\n%s", want, out.String())
		}
	}
}
