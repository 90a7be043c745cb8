package ext_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// hmarkRules is a mangle table whose PREROUTING sets HMARK with opts,
// then counts each mark from offset to offset+mod-1, and mark 0 (no
// mark set), in rules of their own.
func hmarkRules(opts string, offset, mod int) string {
	var b strings.Builder
	b.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n")
	if strings.Contains(opts, "ct") {
		// The conntrack match makes the kernel track the namespace's
		// packets (nf_ct_netns_get); HMARK's ct mode needs that.
		b.WriteString("-A PREROUTING -m conntrack --ctstate INVALID,NEW,ESTABLISHED,RELATED,UNTRACKED\n")
	}
	fmt.Fprintf(&b, "-A PREROUTING -j HMARK %s\n", opts)
	for m := offset; m < offset+mod; m++ {
		fmt.Fprintf(&b, "-A PREROUTING -m mark --mark 0x%x\n", m)
	}
	b.WriteString("-A PREROUTING -m mark --mark 0x0\nCOMMIT\n")
	return b.String()
}

var saveCounter = regexp.MustCompile(`(?m)^\[(\d+):\d+\] -A PREROUTING -m mark --mark (0x[0-9a-f]+)`)

// kernelMarks reads the packet counters of the mark rules.
func kernelMarks(save string) map[string]uint64 {
	m := map[string]uint64{}
	for _, s := range saveCounter.FindAllStringSubmatch(save, -1) {
		n, _ := strconv.ParseUint(s[1], 10, 64)
		m[s[2]] = n
	}
	return m
}

// TestKernelHMARK compares HMARK's marks with the kernel's (hmark_tg_v4
// and hmark_tg_v6) for both families: ports whose byte order matters,
// both directions of a flow, ICMP and ICMPv6 errors (hashed by the
// packet they quote), extension headers, fragments (no ports), AH (its
// SPI) and ESP, masks and prefixes, and the ct mode. Each packet goes
// into the kernel and into the engine; the mark rule it raised must be
// the same.
func TestKernelHMARK(t *testing.T) {
	fw := kernel.NewFirewallWith(t, kernel.NFT, kernel.Options{IPv6: true})
	packets := []string{
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":258,"dport":513,"flags":"S"}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"udp","sport":40000,"dport":53}`,
		`{"in":"eth0","src":"198.51.100.1","dst":"203.0.113.7","proto":"udp","sport":53,"dport":40000}`,
		`{"in":"eth0","src":"203.0.113.8","dst":"198.51.100.1","proto":"icmp","type":8}`,
		`{"in":"eth0","src":"203.0.113.9","dst":"198.51.100.1","proto":"icmp","type":3,"code":3,"inner":{"src":"198.51.100.1","dst":"203.0.113.9","proto":"udp","sport":5353,"dport":33434}}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"udp","sport":1000,"dport":2000,"mf":true}`,
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":258,"dport":513,"flags":"S"}`,
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"udp","sport":40000,"dport":53}`,
		`{"in":"eth0","src":"2001:db8:100::1","dst":"2001:db8:113::7","proto":"udp","sport":53,"dport":40000}`,
		`{"in":"eth0","src":"2001:db8:113::8","dst":"2001:db8:100::1","proto":"icmpv6","type":128}`,
		`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":1,"code":4,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"udp","sport":46000,"dport":33434}}`,
		`{"in":"eth0","src":"2001:db8:113::9","dst":"2001:db8:100::1","proto":"udp","sport":1111,"dport":2222,"ext":[{"type":"hbh"},{"type":"dst","len":1}]}`,
		`{"in":"eth0","src":"2001:db8:113::9","dst":"2001:db8:100::1","proto":"udp","sport":1111,"dport":2223,"mf":true}`,
		`{"in":"eth0","src":"2001:db8:113::9","dst":"2001:db8:100::1","proto":"udp","sport":1111,"dport":2224,"frag_off":8}`,
		`{"in":"eth0","src":"2001:db8:113::a","dst":"2001:db8:100::1","proto":"tcp","sport":3000,"dport":80,"flags":"S","ext":[{"type":"ah","spi":16909060}]}`,
		`{"in":"eth0","src":"2001:db8:113::b","dst":"2001:db8:100::1","proto":"50","len":16}`,
		`{"in":"eth0","src":"2001:db8:113::c","dst":"2001:db8:100::1","proto":"132","len":12}`,
	}
	variants := []struct {
		opts        string
		offset, mod int
	}{
		{"--hmark-tuple src,dst,sport,dport,proto --hmark-rnd 0xcafe --hmark-mod 16 --hmark-offset 100", 100, 16},
		{"--hmark-src-prefix 24 --hmark-dst-prefix 16 --hmark-sport-mask 0xff00 --hmark-dport-mask 0x00ff --hmark-proto-mask 0x0f --hmark-rnd 0x12345678 --hmark-mod 7 --hmark-offset 1", 1, 7},
		{"--hmark-tuple src,dst,spi --hmark-spi 0x10 --hmark-rnd 3 --hmark-mod 11 --hmark-offset 5", 5, 11},
		{"--hmark-tuple ct --hmark-rnd 9 --hmark-mod 16 --hmark-offset 1", 1, 16},
	}
	six := func(opts string) string {
		// IPv6 prefixes of the same shape: a /24 and /16 become a /64
		// and /48.
		return strings.NewReplacer("--hmark-src-prefix 24", "--hmark-src-prefix 64", "--hmark-dst-prefix 16", "--hmark-dst-prefix 48").Replace(opts)
	}
	for vi, v := range variants {
		r4, r6 := hmarkRules(v.opts, v.offset, v.mod), hmarkRules(six(v.opts), v.offset, v.mod)
		if err := fw.Restore(r4); err != nil {
			t.Fatalf("variant %d: %v", vi, err)
		}
		if err := fw.Restore6(r6); err != nil {
			t.Fatalf("variant %d: %v", vi, err)
		}
		fw.FlushConntrack()
		res4 := load.Bytes("hmark4", []byte(r4), load.Options{})
		res6 := load.Bytes("hmark6", []byte(r6), load.Options{Family: ext.IPv6})
		if err := res4.Err(); err != nil {
			t.Fatal(err)
		}
		if err := res6.Err(); err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(res4.Rules, host.Default(), engine.Config{Rules6: res6.Rules6})
		if err != nil {
			t.Fatal(err)
		}
		st := engine.NewState()
		for i, line := range packets {
			d, err := packet.ParseDescLine([]byte(line))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			data, err := d.Build(i)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(v.opts, "ct") && strings.Contains(line, `"proto":"132"`) {
				// SCTP goes through ipsift's generic tracker, which
				// tracks what the kernel's SCTP tracker finds INVALID
				// (no checksum): DIFFERENCES.md, "Connection tracking".
				continue
			}
			v6 := strings.Contains(line, `"src":"2001`)
			save := fw.SaveCounters
			prog := func() *engine.Program { return e.Program() }
			if v6 {
				save = fw.SaveCounters6
				prog = func() *engine.Program { return e.Program().IPv6() }
			}
			before, err := save()
			if err != nil {
				t.Fatal(err)
			}
			ipBefore := engineMarks(prog())
			if err := fw.Inject("eth0", data); err != nil {
				t.Fatal(err)
			}
			in := engine.Input{Data: append([]byte(nil), data...), In: "eth0", Now: int64(i+1) * 1e6}
			e.Process(st, &in)
			after, err := save()
			if err != nil {
				t.Fatal(err)
			}
			kb, ka := kernelMarks(before), kernelMarks(after)
			ia := engineMarks(prog())
			var kdiff, idiff []string
			for m := range ka {
				if ka[m] != kb[m] {
					kdiff = append(kdiff, fmt.Sprintf("%s+%d", m, ka[m]-kb[m]))
				}
				if ia[m] != ipBefore[m] {
					idiff = append(idiff, fmt.Sprintf("%s+%d", m, ia[m]-ipBefore[m]))
				}
			}
			sort.Strings(kdiff)
			sort.Strings(idiff)
			if fmt.Sprint(kdiff) != fmt.Sprint(idiff) {
				t.Errorf("variant %d (%s), %s: kernel marked %v, ipsift %v", vi, v.opts, line, kdiff, idiff)
			}
		}
	}
}

// engineMarks reads the engine's counters of the mark rules, keyed as
// kernelMarks keys them.
func engineMarks(p *engine.Program) map[string]uint64 {
	m := map[string]uint64{}
	rs := p.Ruleset()
	for _, tb := range rs.Tables {
		if tb.Name != "mangle" {
			continue
		}
		var b strings.Builder
		rs.Save(&b, rules.SaveOptions{Counters: true, Table: "mangle"})
		for _, s := range saveCounter.FindAllStringSubmatch(b.String(), -1) {
			n, _ := strconv.ParseUint(s[1], 10, 64)
			m[s[2]] = n
		}
	}
	return m
}
