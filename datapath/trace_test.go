package datapath

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

func TestParseFilter(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "all"},
		{"tcp port 80", "tcp port 80"},
		{"eth0 udp host 192.0.2.10 dport 53", "eth0 udp host 192.0.2.10 dport 53"},
		{"local icmp dst 198.51.100.0/24", "local icmp dst 198.51.100.0/24"},
		{"src 203.0.113.7/24 sport 40000 proto 47", "proto 47 src 203.0.113.0/24 sport 40000"},
		{"host 2001:db8::1 icmpv6", "icmpv6 host 2001:db8::1"},
		{"dst 2001:db8:100::7/48 proto 58", "icmpv6 dst 2001:db8:100::/48"},
	} {
		f, err := ParseFilter(c.in)
		if err != nil || f.String() != c.want {
			t.Errorf("ParseFilter(%q) = %q, %v; want %q", c.in, f.String(), err, c.want)
		}
	}
	for _, bad := range []string{"port", "port 70000", "host fe80::1%eth0", "host ::ffff:192.0.2.1", "host x", "tcp udp", "eth0 eth1",
		"192.0.2.1", "proto 0", "a-very-long-interface-name", "src 1.2.3.4 src 1.2.3.5"} {
		if f, err := ParseFilter(bad); err == nil {
			t.Errorf("ParseFilter(%q) = %q, want an error", bad, f.String())
		}
	}
}

func TestFilterMatch(t *testing.T) {
	pk := func(s string) *packet.Packet {
		d, err := packet.ParseShort(s)
		if err != nil {
			t.Fatal(err)
		}
		data, err := d.Build(0)
		if err != nil {
			t.Fatal(err)
		}
		var p packet.Packet
		if err := p.Decode(data); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	web := pk("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S")
	dns := pk("wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53")
	ping := pk("local icmp 198.51.100.1 > 198.51.100.254 type=8")
	web6 := pk("eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:80 S")
	for _, c := range []struct {
		filter      string
		p           *packet.Packet
		in          string
		local, want bool
	}{
		{"", web, "eth0", false, true},
		{"", ping, "", true, true},
		{"tcp port 80", web, "eth0", false, true},
		{"tcp port 40000", web, "eth0", false, true},
		{"tcp sport 80", web, "eth0", false, false},
		{"tcp dport 80", web, "eth0", false, true},
		{"udp", web, "eth0", false, false},
		{"eth0", web, "eth0", false, true},
		{"wlan0", web, "eth0", false, false},
		{"eth0", ping, "", true, false},
		{"local", ping, "", true, true},
		{"local", web, "eth0", false, false},
		{"host 198.51.100.1", web, "eth0", false, true},
		{"host 198.51.100.1", ping, "", true, true},
		{"src 198.51.100.1", web, "eth0", false, false},
		{"dst 198.51.100.0/24 udp dport 53", dns, "wlan0", false, true},
		{"src 192.0.2.0/24", dns, "wlan0", false, true},
		{"port 53", ping, "", true, false},
		{"host 2001:db8:100::1 tcp dport 80", web6, "eth0", false, true},
		{"src 2001:db8:113::/48", web6, "eth0", false, true},
		{"src 2001:db8:100::/48", web6, "eth0", false, false},
		{"host 198.51.100.1", web6, "eth0", false, false},
		{"host 2001:db8::/32", web, "eth0", false, false},
	} {
		f, err := ParseFilter(c.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(c.p, c.in, c.local); got != c.want {
			t.Errorf("%q matching %s: %v, want %v", c.filter, c.p.Summary(), got, c.want)
		}
	}
}

// traceTestRunner is a Runner over examples/gateway.rules and the default
// host model, driven without a queue through process.
func traceTestRunner(t testing.TB) *worker {
	rs, err := LoadRules("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs, host.Default(), engine.Config{NoHostStack: true})
	if err != nil {
		t.Fatal(err)
	}
	e.Log = &bytes.Buffer{}
	return newWorker(&Runner{E: e}, 0)
}

// traceFeed runs one packet in the packet form through r as the packet loop
// does.
func traceFeed(t testing.TB, r *worker, s string, i int) {
	d, err := packet.ParseShort(s)
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.Build(i)
	if err != nil {
		t.Fatal(err)
	}
	r.in = engine.Input{Data: data, In: d.In, Local: d.Local, Now: int64(i+1) * 1e9}
	r.process()
}

// offlineTrace renders a packet as ipsift trace does (cmd/ipsift/trace.go).
func offlineTrace(t *testing.T, s string) string {
	rs, err := LoadRules("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs, host.Default(), engine.Config{NoHostStack: true})
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	sm := sim.New(e)
	tt := &sim.TextTracer{W: &w}
	sm.State.SetTracer(tt)
	e.Log = tt.LogWriter()
	d, _ := packet.ParseShort(s)
	data, _ := d.Build(0)
	var p packet.Packet
	p.Decode(data)
	where := "in " + d.In
	if d.Local {
		where = "local"
	}
	tt.Begin(where, p.Summary())
	if _, err := sm.Run(0, d); err != nil {
		t.Fatal(err)
	}
	for _, o := range sm.State.Result.Out {
		var p packet.Packet
		if p.Decode(o.Data) == nil {
			fmt.Fprintf(&w, "out %s  %s\n", o.Iface, p.Summary())
		}
	}
	tt.End()
	return w.String()
}

func TestTraceLive(t *testing.T) {
	r := traceTestRunner(t)
	web := "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S"
	// Nobody traces: nothing is rendered, the State has no tracer.
	traceFeed(t, r, "eth0 tcp 203.0.113.7:39999 > 198.51.100.1:22 S", 0)
	if r.Tracing() != 0 {
		t.Fatal("tracing with no subscriber")
	}

	f, _ := ParseFilter("tcp dport 80")
	sub := r.Trace(f, 1, false)
	traceFeed(t, r, "wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53", 1) // not matching
	select {
	case text := <-sub.C():
		t.Fatalf("a packet not matching was traced:\n%s", text)
	default:
	}
	traceFeed(t, r, web, 0)
	text := <-sub.C()
	if want := offlineTrace(t, web); text != want {
		t.Errorf("live trace:\n%s\nwant, as ipsift trace:\n%s", text, want)
	}
	for _, s := range []string{"in eth0", "nat PREROUTING", "DNAT", "verdict  forwarded"} {
		if !strings.Contains(text, s) {
			t.Errorf("live trace lacks %q:\n%s", s, text)
		}
	}
	// A slow subscriber: the channel holds one text, the next two are
	// lost and counted, and the next text says so.
	for i := 2; i < 5; i++ {
		traceFeed(t, r, fmt.Sprintf("eth0 tcp 203.0.113.%d:40000 > 198.51.100.1:80 S", i), i)
	}
	if n := sub.NotShown(); n != 2 {
		t.Fatalf("not shown %d, want 2", n)
	}
	<-sub.C()
	traceFeed(t, r, web, 5)
	text = <-sub.C()
	if !strings.HasPrefix(text, "(2 packets not shown)\n\nin eth0") || sub.NotShown() != 0 {
		t.Errorf("after losing two:\n%s", text)
	}
	// Quiet leaves out the rules that did not match.
	q := r.Trace(Filter{Port: -1, SrcPort: -1, DstPort: -1}, 4, true)
	traceFeed(t, r, web, 6)
	full, quiet := <-sub.C(), <-q.C()
	if !strings.Contains(full, "✗") || strings.Contains(quiet, "✗") {
		t.Errorf("quiet:\n%s\nfull:\n%s", quiet, full)
	}
	sub.Close()
	q.Close()
	if r.Tracing() != 0 || r.tr.set.Load() != nil {
		t.Fatal("subscribers left after Close")
	}
	traceFeed(t, r, web, 7)
	if r.st.Result.Verdict != engine.Forward {
		t.Fatalf("verdict %v", r.st.Result.Verdict)
	}
}

// BenchmarkProcessNotTracing is the packet loop's engine step with no
// trace subscriber (one atomic load more than Process).
func BenchmarkProcessNotTracing(b *testing.B) {
	r := traceTestRunner(b)
	traceFeed(b, r, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S", 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.in.Now += 1000
		r.process()
	}
}
