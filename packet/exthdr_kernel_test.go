package packet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
)

// enableIPv6 turns IPv6 on in the firewall namespace and on eth0 (the
// kernel harness switches it off): ipv6_rcv drops everything arriving on
// an interface with disable_ipv6 before netfilter sees it.
func enableIPv6(t *testing.T, fw *kernel.Firewall) {
	t.Helper()
	for _, k := range []string{"all", "default", "eth0", "wlan0"} {
		if _, err := fw.Run("sysctl", "-qw", "net.ipv6.conf."+k+".disable_ipv6=0"); err != nil {
			t.Fatal(err)
		}
	}
}

var counterLine = regexp.MustCompile(`^\[(\d+):\d+\] -A PREROUTING( .*)?$`)

// rawCounters reads the packet counters of raw PREROUTING's rules, in
// order, with ip6tables-save.
func rawCounters(t *testing.T, fw *kernel.Firewall, b kernel.Backend) []uint64 {
	t.Helper()
	out, err := fw.Run("ip6tables-"+string(b)+"-save", "-c", "-t", "raw")
	if err != nil {
		t.Fatal(err)
	}
	var n []uint64
	for _, l := range strings.Split(out, "\n") {
		if m := counterLine.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			n = append(n, v)
		}
	}
	return n
}

// TestWalkersAgainstKernel checks the walkers' kernel facts on the
// machine's kernel: -p rules in ip6tables' raw PREROUTING, on either
// backend, count (or, legacy, hotdrop) exactly as IP6tProto and
// NftProto say, for the chains TestWalkers lists: AH, No Next Header,
// later fragments, a header longer than the packet, a cut chain, 12
// and 13 headers.
func TestWalkersAgainstKernel(t *testing.T) {
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) { walkersAgainstKernel(t, b) })
	}
}

func walkersAgainstKernel(t *testing.T, b kernel.Backend) {
	fw := kernel.NewFirewall(t, b)
	enableIPv6(t, fw)
	protos := []int{6, 17, 51, 59, 50, 135}
	for _, pr := range protos {
		if _, err := fw.Run("ip6tables-"+string(b), "-t", "raw", "-A", "PREROUTING", "-p", strconv.Itoa(pr)); err != nil {
			t.Fatal(err)
		}
	}
	// The last rule has no -p: it counts every packet not hotdropped.
	if _, err := fw.Run("ip6tables-"+string(b), "-t", "raw", "-A", "PREROUTING"); err != nil {
		t.Fatal(err)
	}
	pkts := map[string][]byte{
		"tcp":                       raw6(ProtoTCP, tcp20),
		"hbh dst tcp":               raw6(ProtoHopOpts, opt8(ProtoDstOpts), opt8(ProtoTCP), tcp20),
		"ah tcp":                    raw6(ProtoAH, ah(ProtoTCP), tcp20),
		"no next header":            raw6(ProtoNoNext),
		"dst no next header":        raw6(ProtoDstOpts, opt8(ProtoNoNext)),
		"atomic fragment":           raw6(ProtoFragment, frag(ProtoTCP, 0, false), tcp20),
		"later fragment":            raw6(ProtoFragment, frag(ProtoTCP, 3, true), make([]byte, 16)),
		"later fragment dst next":   raw6(ProtoFragment, frag(ProtoDstOpts, 3, false), make([]byte, 16)),
		"dst longer than packet":    raw6(ProtoDstOpts, []byte{ProtoTCP, 3, 1, 4, 0, 0, 0, 0}, tcp20),
		"truncated chain":           raw6(ProtoHopOpts, opt8(ProtoDstOpts), []byte{ProtoTCP}),
		"chain ends after a header": raw6(ProtoHopOpts, opt8(ProtoDstOpts)),
		"13 headers":                raw6(ProtoDstOpts, append(repeatOpt(13, ProtoUDP), make([]byte, 8))...),
		"esp":                       raw6(ProtoESP, make([]byte, 16)),
		"mobility":                  raw6(ProtoDstOpts, opt8(ProtoMH), []byte{59, 0, 0, 0, 0, 0, 0, 0}),
	}
	names := make([]string, 0, len(pkts))
	for n := range pkts {
		names = append(names, n)
	}
	slicesSort(names)
	prev := rawCounters(t, fw, b)
	for _, name := range names {
		data := pkts[name]
		var p Packet
		if err := p.Decode(data); err != nil {
			t.Fatal(err)
		}
		// What ipsift says each rule's counter does.
		want := make([]uint64, len(protos)+1)
		w := p.NftProto()
		if b == kernel.Legacy {
			w = p.IP6tProto()
		}
		dropped := false
		for i, pr := range protos {
			switch {
			case dropped:
			case w.Err != ExtOK && b == kernel.Legacy:
				dropped = true // hotdrop at the first rule with -p
			case w.Err == ExtOK && int(w.Proto) == pr:
				want[i] = 1
			}
		}
		if !dropped {
			want[len(protos)] = 1
		}
		if err := fw.Inject("eth0", data); err != nil {
			t.Fatal(err)
		}
		now := rawCounters(t, fw, b)
		got := make([]uint64, len(now))
		for i := range now {
			got[i] = now[i] - prev[i]
		}
		prev = now
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: counters of -p %v, none: kernel %v, ipsift %v (walk %+v)", name, protos, got, want, w)
		}
	}
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
