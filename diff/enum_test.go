package diff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/symbolic"
)

// The test that can catch a false "equivalent": for generated rulesets of
// up to 8 rules over 4 fields (source address, destination port,
// connection state, connection mark), every elementary interval of every
// field (the cut points of all prefixes, ranges and masks) and every
// connection state is enumerated, each combination run through the
// engine on OLD and NEW, and diff must say "equivalent" exactly when no
// combination differs.

// genRules is one generated ruleset: its text, and what the enumeration
// needs (the prefixes, port ranges and mark masks it uses).
type genRules struct {
	text     string
	prefixes []netip.Prefix
	ranges   [][2]uint16
	masks    uint32
}

type genRule struct {
	src    netip.Prefix
	invSrc bool
	proto  string
	dport  [2]uint16
	states []string
	invSt  bool
	mark   [2]uint32 // value, mask
	invMk  bool
	target string
}

func (r genRule) String() string {
	var b strings.Builder
	if r.src.IsValid() {
		if r.invSrc {
			b.WriteString(" !")
		}
		fmt.Fprintf(&b, " -s %s", r.src)
	}
	if r.proto != "" {
		fmt.Fprintf(&b, " -p %s", r.proto)
		if r.dport[1] != 0 {
			fmt.Fprintf(&b, " --dport %d:%d", r.dport[0], r.dport[1])
		}
	}
	if len(r.states) > 0 {
		b.WriteString(" -m conntrack")
		if r.invSt {
			b.WriteString(" !")
		}
		b.WriteString(" --ctstate " + strings.Join(r.states, ","))
	}
	if r.mark[1] != 0 {
		b.WriteString(" -m connmark")
		if r.invMk {
			b.WriteString(" !")
		}
		fmt.Fprintf(&b, " --mark 0x%x/0x%x", r.mark[0], r.mark[1])
	}
	b.WriteString(" -j " + r.target)
	return b.String()
}

var genStates = []string{"NEW", "ESTABLISHED", "RELATED", "INVALID"}

func randRule(r *rand.Rand, user bool) genRule {
	var g genRule
	if r.IntN(2) == 0 {
		base := []string{"203.0.113.0", "198.51.100.0", "203.0.113.128"}[r.IntN(3)]
		bits := 24 + r.IntN(9)
		a := netip.MustParseAddr(base).As4()
		a[3] |= byte(r.IntN(256))
		g.src = netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		g.invSrc = r.IntN(4) == 0
	}
	if r.IntN(2) == 0 {
		g.proto = []string{"tcp", "udp"}[r.IntN(2)]
		if r.IntN(3) > 0 {
			lo := uint16(10 + r.IntN(40))
			g.dport = [2]uint16{lo, lo + uint16(r.IntN(20))}
		}
	}
	if r.IntN(2) == 0 {
		for _, s := range genStates {
			if r.IntN(3) == 0 {
				g.states = append(g.states, s)
			}
		}
		if len(g.states) == 0 {
			g.states = []string{genStates[r.IntN(len(genStates))]}
		}
		g.invSt = r.IntN(4) == 0
	}
	if r.IntN(3) == 0 {
		mask := uint32(1+r.IntN(7)) << 4 // bits 4-6
		g.mark = [2]uint32{uint32(r.IntN(256)) & mask, mask}
		g.invMk = r.IntN(4) == 0
	}
	targets := []string{"ACCEPT", "DROP", "REJECT", "LOG --log-prefix \"L \"", "CONNMARK --set-xmark 0x10/0x30"}
	if user {
		targets = append(targets, "RETURN", "RETURN")
	} else {
		targets = append(targets, "U")
	}
	g.target = targets[r.IntN(len(targets))]
	return g
}

// render writes a filter table with INPUT and a user chain U.
func render(policy string, input, u []genRule) genRules {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:INPUT %s [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:U - [0:0]\n", policy)
	g := genRules{}
	add := func(chain string, rs []genRule) {
		for _, r := range rs {
			fmt.Fprintf(&b, "-A %s%s\n", chain, r)
			if r.src.IsValid() {
				g.prefixes = append(g.prefixes, r.src)
			}
			if r.dport[1] != 0 {
				g.ranges = append(g.ranges, r.dport)
			}
			g.masks |= r.mark[1]
		}
	}
	add("INPUT", input)
	add("U", u)
	if strings.Contains(b.String(), "CONNMARK") {
		g.masks |= 0x30
	}
	b.WriteString("COMMIT\n")
	g.text = b.String()
	return g
}

// mutate makes NEW from OLD's rules: a swap of neighbours, a changed
// field, a dropped rule, or a split of a port range in two rules.
func mutate(r *rand.Rand, rs []genRule) []genRule {
	out := append([]genRule(nil), rs...)
	if len(out) == 0 {
		return out
	}
	i := r.IntN(len(out))
	switch r.IntN(6) {
	case 0, 1:
		if i+1 < len(out) {
			out[i], out[i+1] = out[i+1], out[i]
		}
	case 2:
		if out[i].dport[1] != 0 {
			out[i].dport[1]++
		} else if out[i].src.IsValid() {
			out[i].src = netip.PrefixFrom(out[i].src.Addr(), out[i].src.Bits()-1).Masked()
		}
	case 3:
		out = append(out[:i], out[i+1:]...)
	case 4:
		if d := out[i].dport; d[1] > d[0] {
			a, b := out[i], out[i]
			mid := d[0] + (d[1]-d[0])/2
			a.dport = [2]uint16{d[0], mid}
			b.dport = [2]uint16{mid + 1, d[1]}
			if !strings.Contains(a.target, "CONNMARK") {
				out = append(out[:i], append([]genRule{a, b}, out[i+1:]...)...)
			}
		}
	case 5:
		if len(out[i].states) > 0 {
			out[i].states = append([]string(nil), out[i].states...)
			out[i].states[0] = genStates[r.IntN(len(genStates))]
		}
	}
	return out
}

// cuts returns one representative of every elementary interval the
// bounds [lo, hi] cut from the whole line (below, each cut point).
func cuts(bounds [][2]uint64, below uint64) []uint64 {
	set := map[uint64]bool{below: true}
	for _, b := range bounds {
		set[b[0]] = true
		set[b[1]+1] = true
	}
	var out []uint64
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func u32(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

func a32(v uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// enumerate lists the witness inputs of every combination.
func enumerate(old, new genRules) []witnessInput {
	var sb, pb [][2]uint64
	for _, p := range append(old.prefixes, new.prefixes...) {
		lo := u32(p.Addr())
		sb = append(sb, [2]uint64{lo, lo + 1<<(32-p.Bits()) - 1})
	}
	for _, r := range append(old.ranges, new.ranges...) {
		pb = append(pb, [2]uint64{uint64(r[0]), uint64(r[1])})
	}
	srcs := cuts(sb, u32(netip.MustParseAddr("192.0.2.50")))
	ports := cuts(pb, 1)
	// Marks: every combination of the bits any mask covers.
	masks := old.masks | new.masks
	var marks []uint32
	for v := uint32(0); v < 256; v++ {
		if v&^masks == 0 {
			marks = append(marks, v)
		}
	}
	dst := netip.MustParseAddr("198.51.100.1")
	var out []witnessInput
	sport := uint16(1024)
	for _, s := range srcs {
		src := a32(s)
		for _, proto := range []packet.Proto{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP} {
			pl := ports
			if proto == packet.ProtoICMP {
				pl = []uint64{0}
			}
			for _, p := range pl {
				base := func() packet.Desc {
					sport++
					d := packet.Desc{In: "eth0", Src: src, Dst: dst, Proto: proto}
					if proto != packet.ProtoICMP {
						d.Sport, d.Dport = sport, uint16(p)
					} else {
						d.Type = 8
						id := sport
						d.Code = 0
						_ = id
					}
					return d
				}
				// NEW, first packet.
				d := base()
				if proto == packet.ProtoTCP {
					f := packet.TCPFlags(0x02)
					d.Flags = &f
				}
				if proto == packet.ProtoICMP {
					// Echo requests of different ids would share a
					// tuple (id 0): make each its own source.
					d.Src = src
				}
				out = append(out, witnessInput{d: d})
				// INVALID: a TCP packet with SYN and FIN.
				if proto == packet.ProtoTCP {
					d := base()
					f := packet.TCPFlags(0x03)
					d.Flags = &f
					out = append(out, witnessInput{d: d})
				}
				for _, mk := range marks {
					for _, st := range []string{"ESTABLISHED", "ESTABLISHED,reply", "UNREPLIED"} {
						if proto == packet.ProtoICMP {
							continue
						}
						d := base()
						if proto == packet.ProtoTCP {
							f := packet.TCPFlags(0x10)
							if st == "UNREPLIED" {
								f = 0x02
							}
							d.Flags = &f
						}
						name, reply, _ := strings.Cut(st, ",")
						d.CT = &packet.CT{State: name, Reply: reply != "", Mark: mk}
						out = append(out, witnessInput{d: d})
					}
					// RELATED: an ICMP error quoting a connection.
					if proto == packet.ProtoICMP {
						sport++
						d := packet.Desc{In: "eth0", Src: src, Dst: dst, Proto: packet.ProtoICMP, Type: 3, Code: 3}
						in := &packet.Inner{Src: dst, Dst: netip.MustParseAddr("203.0.113.99"), Proto: packet.ProtoUDP, Sport: sport, Dport: 53}
						d.Inner = in
						conn := packet.Desc{In: "eth0", Src: in.Src, Dst: in.Dst, Proto: packet.ProtoUDP, Sport: in.Sport, Dport: in.Dport,
							CT: &packet.CT{State: "ESTABLISHED", Mark: mk}}
						out = append(out, witnessInput{d: d, conn: &conn})
					}
				}
			}
		}
	}
	return out
}

// groundTruth runs every combination on both rulesets; it returns the
// first combination that differs (nil: none).
func groundTruth(t *testing.T, old, new genRules, o Options) *witnessInput {
	t.Helper()
	a, b := parse(t, old.text), parse(t, new.text)
	c := &comparer{s: symbolic.New(a.Family, host.Default(), 0, 0), o: o}
	for _, wi := range enumerate(old, new) {
		// A fresh engine for each: no packet sees another's connection.
		x, err1 := c.run(a, wi)
		y, err2 := c.run(b, wi)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", wi.d.String(), err1, err2)
		}
		if x != y {
			t.Logf("differs: %s conn %v: OLD %s NEW %s", wi.d.String(), wi.conn, x, y)
			return &wi
		}
	}
	return nil
}

func genPair(r *rand.Rand) (genRules, genRules) {
	n := 1 + r.IntN(7)
	var in, u []genRule
	for i := 0; i < n; i++ {
		in = append(in, randRule(r, false))
	}
	for i := 0; i < r.IntN(3); i++ {
		u = append(u, randRule(r, true))
	}
	policy := []string{"ACCEPT", "DROP"}[r.IntN(2)]
	old := render(policy, in, u)
	var new genRules
	switch r.IntN(5) {
	case 0:
		new = render(policy, in, u)
	case 1:
		new = render(policy, in, mutate(r, u))
	default:
		new = render(policy, mutate(r, in), u)
	}
	return old, new
}

// checkPair compares diff's answer with the enumeration's; it returns
// whether they agree and the enumeration's answer.
func checkPair(t *testing.T, old, new genRules, o Options) (agree, differ bool) {
	t.Helper()
	truth := groundTruth(t, old, new, Options{})
	res, err := Compare(parse(t, old.text), parse(t, new.text), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.GaveUp != nil {
		t.Fatalf("gave up: %v", res.GaveUp)
	}
	for _, g := range res.Unconfirmed {
		t.Errorf("OLD:\n%sNEW:\n%sregion %v → %v %v: witness %+v does not reproduce", old.text, new.text, g.Old, g.New, g.Classes, g.Witness)
	}
	for _, g := range res.Regions {
		if !g.May && (g.Witness == nil || !g.Witness.Reproduced) {
			t.Errorf("region %v → %v without a reproduced witness", g.Old, g.New)
		}
	}
	return res.Equivalent() == (truth == nil), truth != nil
}

func TestEquivalentExactlyWhenEnumerationAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	cases := 120
	if testing.Short() {
		cases = 30
	}
	nEq, nDiff := 0, 0
	for i := 0; i < cases; i++ {
		old, new := genPair(r)
		agree, differ := checkPair(t, old, new, Options{})
		if !agree {
			res, _ := Compare(parse(t, old.text), parse(t, new.text), Options{})
			t.Fatalf("case %d: diff says equivalent=%v, the enumeration finds a difference=%v\nOLD:\n%sNEW:\n%sregions: %d", i, res.Equivalent(), differ, old.text, new.text, len(res.Regions))
		}
		if differ {
			nDiff++
		} else {
			nEq++
		}
	}
	t.Logf("%d equivalent pairs, %d different pairs, all agreed", nEq, nDiff)
	if nEq < cases/10 || nDiff < cases/10 {
		t.Errorf("the generator gives too few of one kind: %d equivalent, %d different", nEq, nDiff)
	}
}

// TestPlantedBugIsCaught: a diff made to ignore the source address must
// disagree with the enumeration somewhere, or the check could not catch
// a false "equivalent".
func TestPlantedBugIsCaught(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	for i := 0; i < 200; i++ {
		old, new := genPair(r)
		res, err := Compare(parse(t, old.text), parse(t, new.text), Options{IgnoreField: symbolic.FSrc})
		if err != nil {
			t.Fatal(err)
		}
		truth := groundTruth(t, old, new, Options{})
		// The planted diff says "equivalent" where the enumeration
		// finds a difference, or claims a difference the engine does
		// not confirm.
		if res.Equivalent() != (truth == nil) {
			t.Logf("case %d: the planted bug shows (equivalent=%v, enumeration differs=%v, unconfirmed=%d)", i, res.Equivalent(), truth != nil, len(res.Unconfirmed))
			return
		}
	}
	t.Fatal("a diff that ignores the source address agreed with the enumeration on every case: the check cannot catch a false equivalent")
}
