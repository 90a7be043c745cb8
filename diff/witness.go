package diff

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/symbolic"
)

// Witness is a packet of a region, run through the engine on both
// rulesets.
type Witness struct {
	Packet packet.Desc `json:"-"`
	// Text is the packet in the one-line notation of ipsift trace.
	Text string `json:"packet"`
	// Mark is the socket mark of a packet the host sends (0 otherwise).
	Mark uint32 `json:"mark,omitempty"`
	// Conn, for an ICMP error, is a packet of the connection it quotes,
	// with that connection's context: the engine holds it first.
	Conn *packet.Desc `json:"-"`
	// ConnText is Conn in the one-line notation.
	ConnText string `json:"conn,omitempty"`
	// BadChecksum: the UDP packet arrives with a wrong checksum,
	// or the host sends a UDP packet whose UDP length is 7 (how a
	// packet without a connection is made INVALID).
	BadChecksum bool `json:"bad_checksum,omitempty"`
	// Old and New are what the engine did with it.
	Old string `json:"old"`
	New string `json:"new"`
	// Reproduced: the engine's outcomes differ as the region says.
	Reproduced bool `json:"reproduced"`
	// Seed is the engine's seed for random matches (statistic) the
	// witness ran with (engine.Config.Seed).
	Seed uint64 `json:"-"`
}

// witnesses finds and checks a witness for every region; regions whose
// witnesses do not reproduce move to Unconfirmed (certain regions) or
// stay marked May (regions that depend on free variables).
func (c *comparer) witnesses(res *Result, old, new *rules.Ruleset) {
	max := c.o.MaxRegions
	if max == 0 {
		max = 20
	}
	var kept []*Region
	for i, r := range res.Regions {
		if i >= max {
			// Neither described nor checked: counted only.
			res.Unchecked++
			continue
		}
		c.describe(r)
		var w *Witness
		attempts := 4
		if r.May {
			// A difference that depends on random draws or history: try
			// other seeds of the engine's random choices too.
			attempts = 12
		}
		for attempt := 0; attempt < attempts && (w == nil || !w.Reproduced); attempt++ {
			wi, ok := c.pick(r.g, attempt%4)
			if !ok {
				break
			}
			wi.seed = uint64(attempt)
			w = c.check(wi, old, new)
		}
		r.Witness = w
		if (w == nil || !w.Reproduced) && !r.May {
			res.Unconfirmed = append(res.Unconfirmed, r)
			continue
		}
		kept = append(kept, r)
	}
	res.Regions = kept
}

// preferences narrow a region towards a readable, buildable packet, each
// applied only while the region stays non-empty.
func (c *comparer) preferences(attempt int) []bdd.Node {
	s := c.s
	m := s.M
	in := s.Input.F
	eq := func(f symbolic.Field, v uint64) bdd.Node { return m.Eq(in[f], bdd.UintVec(v, len(in[f]))) }
	ct := in[symbolic.FCT]
	isCT := func(v uint64) bdd.Node { return m.Eq(ct, bdd.UintVec(v, 3)) }
	pfx := func(f symbolic.Field, p string) bdd.Node {
		pp := netip.MustParsePrefix(p)
		var raw []byte
		if s.W == 32 {
			b := pp.Addr().As4()
			raw = b[:]
		} else {
			b := pp.Addr().As16()
			raw = b[:]
		}
		return m.Prefix(in[f], bdd.ConstVec(raw, s.W), pp.Bits())
	}
	tcp, udp := eq(symbolic.FProto, 6), eq(symbolic.FProto, 17)
	icmp := eq(symbolic.FProto, 1)
	hdr := uint64(20)
	srcNet, srcHost, dstNet := "203.0.113.0/24", "203.0.113.7/32", "198.51.100.0/24"
	if s.W == 128 {
		icmp = eq(symbolic.FProto, 58)
		hdr = 40
		srcNet, srcHost, dstNet = "2001:db8:3::/48", "2001:db8:3::7/128", "2001:db8:100::/64"
	}
	prefs := []bdd.Node{
		m.Not(m.Or(in[symbolic.FReply][0], m.Or(in[symbolic.FSNAT][0], in[symbolic.FDNAT][0]))),
		m.Or(m.And(isCT(symbolic.CTNew), in[symbolic.FFirst][0]), isCT(symbolic.CTEstablished)),
		tcp, m.Or(tcp, udp), m.Or(tcp, m.Or(udp, icmp)),
		m.Ite(icmp, m.Or(eq(symbolic.FIType, 8), eq(symbolic.FIType, 128)), bdd.True),
		m.Or(m.Not(isCT(symbolic.CTInvalid)), tcp),
		eq(symbolic.FMark, 0), eq(symbolic.FCTMark, 0),
		eq(symbolic.FTTL, 64), eq(symbolic.FTOS, 0),
		m.Ite(tcp, m.Ite(isCT(symbolic.CTNew), eq(symbolic.FFlags, 0x02), m.Ite(isCT(symbolic.CTInvalid), eq(symbolic.FFlags, 0x03), eq(symbolic.FFlags, 0x10))), bdd.True),
		m.Ite(tcp, eq(symbolic.FLen, hdr+20), eq(symbolic.FLen, hdr+8)),
		m.Ite(m.Or(tcp, udp), eq(symbolic.FSport, 40000), bdd.True),
		pfx(symbolic.FSrc, srcHost), pfx(symbolic.FSrc, srcNet),
		pfx(symbolic.FDst, dstNet),
	}
	// An existing connection's NAT: to documentation addresses.
	for i, a := range []string{"192.0.2.10/32", "198.51.100.1/32", "198.51.100.1/32", "192.0.2.1/32", "192.0.2.10/32"} {
		vars := s.ExtraVars([]int{symbolic.VPreAddr, symbolic.VPostAddr, symbolic.VPreAddr, symbolic.VPreAddr, symbolic.VPostAddr}[i])
		if len(vars) == 32 {
			b := netip.MustParsePrefix(a).Addr().As4()
			prefs = append(prefs, m.Eq(m.VarsVec(vars), bdd.ConstVec(b[:], 32)))
		}
	}
	// Then any of a few readable addresses.
	for _, a := range []string{"192.0.2.7/32", "198.51.100.7/32", "10.0.0.7/32", "172.16.0.7/32", "100.64.0.7/32", "1.2.3.4/32", "2001:db8:2::7/128", "2001:db8:100::7/128", "2001:db8:9::7/128"} {
		if netip.MustParsePrefix(a).Addr().BitLen() == s.W {
			prefs = append(prefs, pfx(symbolic.FSrc, a))
		}
	}
	for _, a := range []string{"198.51.100.7/32", "192.0.2.7/32", "203.0.113.9/32", "10.0.0.9/32", "1.2.3.5/32", "2001:db8:100::7/128", "2001:db8:2::7/128", "2001:db8:9::9/128"} {
		if netip.MustParsePrefix(a).Addr().BitLen() == s.W {
			prefs = append(prefs, pfx(symbolic.FDst, a))
		}
	}
	// Later attempts drop the preferences that may hide the
	// difference's buildable packets.
	if attempt > 0 && attempt < len(prefs) {
		prefs = append(prefs[attempt:], prefs[:attempt]...)
	}
	return prefs
}

// witnessInput is a witness packet with what the engine needs besides.
type witnessInput struct {
	d    packet.Desc
	conn *packet.Desc
	mark uint32
	seed uint64 // the engine's seed for random matches
	// badSum: the UDP packet arrives with a wrong checksum,
	// which conntrack calls INVALID (nf_conntrack_checksum); a UDP
	// packet the host sends has a UDP length shorter than the header.
	badSum bool
}

// pick chooses a packet of the region g.
func (c *comparer) pick(g bdd.Node, attempt int) (witnessInput, bool) {
	m := c.s.M
	for _, p := range c.preferences(attempt) {
		if n := m.And(g, p); n != bdd.False {
			g = n
		}
	}
	a, ok := m.SatOne(g)
	if !ok {
		return witnessInput{}, false
	}
	return c.desc(a)
}

// desc builds the packet an assignment describes.
func (c *comparer) desc(a []int8) (witnessInput, bool) {
	s := c.s
	num := func(vars []int) uint64 {
		var v uint64
		for _, x := range vars {
			v <<= 1
			if a[x] == 1 {
				v |= 1
			}
		}
		return v
	}
	field := func(f symbolic.Field) uint64 { return num(s.FieldVars(f)) }
	addr := func(vars []int) netip.Addr {
		b := bits(a, vars)
		for i := range b {
			if b[i] < 0 {
				b[i] = 0
			}
		}
		return addrOf(b)
	}
	var d packet.Desc
	if field(symbolic.FLocal) == 1 {
		d.Local = true
	} else {
		idx := field(symbolic.FIn)
		if idx == 0 || int(idx) > len(s.Ifaces) {
			return witnessInput{}, false
		}
		d.In = s.Ifaces[idx-1].Name
	}
	d.Src, d.Dst = addr(s.FieldVars(symbolic.FSrc)), addr(s.FieldVars(symbolic.FDst))
	d.Proto = packet.Proto(field(symbolic.FProto))
	switch d.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		d.Sport, d.Dport = uint16(field(symbolic.FSport)), uint16(field(symbolic.FDport))
		if d.Proto == packet.ProtoTCP {
			f := packet.TCPFlags(field(symbolic.FFlags))
			d.Flags = &f
		}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		d.Type, d.Code = uint8(field(symbolic.FIType)), uint8(field(symbolic.FICode))
	}
	ttl := uint8(field(symbolic.FTTL))
	d.TTL = &ttl
	d.TOS = uint8(field(symbolic.FTOS))
	total := int(field(symbolic.FLen))
	d.Len = 0
	if hl := headerLen(d); total >= hl {
		d.Len = total - hl
	}
	if s.W == 128 {
		d.Len = total - 40 - (headerLen(d) - 40)
		if d.Len < 0 {
			d.Len = 0
		}
	}
	// The connection context.
	ct := field(symbolic.FCT)
	first := field(symbolic.FFirst) == 1
	ctx := &packet.CT{Mark: uint32(field(symbolic.FCTMark)), Reply: field(symbolic.FReply) == 1}
	nat := func(i int, port int) netip.AddrPort {
		return netip.AddrPortFrom(addr(s.ExtraVars(i)), uint16(num(s.ExtraVars(port))))
	}
	if field(symbolic.FDNAT) == 1 {
		ctx.DNAT = nat(symbolic.VPreAddr, symbolic.VPrePort)
	}
	if field(symbolic.FSNAT) == 1 {
		ctx.SNAT = nat(symbolic.VPostAddr, symbolic.VPostPort)
	}
	switch {
	case ct == symbolic.CTNew && first:
	case ct == symbolic.CTNew:
		ctx.State = "UNREPLIED"
		d.CT = ctx
	case ct == symbolic.CTEstablished:
		ctx.State = "ESTABLISHED"
		d.CT = ctx
	case ct == symbolic.CTRelated:
		// An ICMP error quoting a packet the error's destination sent
		// on an established connection.
		far := netip.MustParseAddr("203.0.113.99")
		if s.W == 128 {
			far = netip.MustParseAddr("2001:db8:9::99")
		}
		in := &packet.Inner{Src: d.Dst, Dst: far, Proto: packet.ProtoUDP, Sport: 1234, Dport: 53}
		d.Inner = in
		conn := packet.Desc{In: "eth0", Src: in.Src, Dst: in.Dst, Proto: packet.ProtoUDP, Sport: in.Sport, Dport: in.Dport, CT: ctx}
		ctx.State = "ESTABLISHED"
		total := int(field(symbolic.FLen))
		d.Len = max(0, total-headerLen(d))
		wi := witnessInput{d: d, conn: &conn}
		return wi, true
	case ct == symbolic.CTInvalid && !d.Local && d.Proto == packet.ProtoUDP:
		// Arriving: a wrong checksum makes it INVALID (a TCP packet is
		// made INVALID by its flags: a wrong checksum would also
		// silence a REJECT's answer).
		return witnessInput{d: d, badSum: true}, true
	case ct == symbolic.CTInvalid && d.Local && d.Proto == packet.ProtoUDP:
		// Sent by the host (a raw socket): a UDP length shorter than
		// the header makes it INVALID at any hook (udp_error).
		return witnessInput{d: d, mark: uint32(field(symbolic.FMark)), badSum: true}, true
	}
	mark := uint32(0)
	if d.Local {
		mark = uint32(field(symbolic.FMark))
	}
	return witnessInput{d: d, mark: mark}, true
}

// headerLen is the header bytes the packet builder puts before the
// payload.
func headerLen(d packet.Desc) int {
	n := 20
	if d.Dst.Is6() {
		n = 40
	}
	switch d.Proto {
	case packet.ProtoTCP:
		n += 20
	case packet.ProtoUDP, packet.ProtoICMP, packet.ProtoICMPv6:
		n += 8
	}
	if d.Inner != nil {
		n += 28
		if d.Dst.Is6() {
			n += 20
		}
	}
	return n
}

// check runs the witness through the engine on both rulesets.
func (c *comparer) check(wi witnessInput, old, new *rules.Ruleset) *Witness {
	w := &Witness{Packet: wi.d, Text: wi.d.String(), Mark: wi.mark, Conn: wi.conn, BadChecksum: wi.badSum, Seed: wi.seed}
	if wi.conn != nil {
		w.ConnText = wi.conn.String()
	}
	var err1, err2 error
	w.Old, err1 = c.run(old, wi)
	w.New, err2 = c.run(new, wi)
	if err1 != nil || err2 != nil {
		w.Old, w.New = fmt.Sprint(err1), fmt.Sprint(err2)
		return w
	}
	w.Reproduced = w.Old != w.New
	return w
}

// run is one engine run of the witness: its observable outcome as text.
func (c *comparer) run(rs *rules.Ruleset, wi witnessInput) (string, error) {
	e, err := c.newEngine(rs, wi.seed)
	if err != nil {
		return "", err
	}
	return c.runOn(e, wi)
}

// newEngine loads a ruleset into a fresh engine on the comparison's
// host.
func (c *comparer) newEngine(rs *rules.Ruleset, seed uint64) (*engine.Engine, error) {
	cfg := engine.Config{Legacy: c.o.Legacy, Sets: c.o.Sets, Seed: seed}
	rs, err := withConntrack(rs)
	if err != nil {
		return nil, err
	}
	base := rs
	if rs.Family == ext.IPv6 {
		cfg.Rules6 = rs
		base = rules.New()
	}
	return engine.New(base, c.s.Host, cfg)
}

// withConntrack returns a copy of rs with an unreferenced chain whose
// rule makes the engine track connections, as the host does whenever
// either ruleset compared uses conntrack: the comparison's inputs
// include connection contexts, which exist only where connections are
// tracked.
func withConntrack(rs *rules.Ruleset) (*rules.Ruleset, error) {
	c := rs.Clone()
	for _, line := range []string{"-t filter -N IPSIFT-DIFF-CT", "-t filter -A IPSIFT-DIFF-CT -m conntrack --ctstate INVALID -j RETURN"} {
		var words []rules.Word
		for _, f := range strings.Fields(line) {
			words = append(words, rules.Word{Text: f})
		}
		cmd, err := rules.ParseCommand(words, rules.ParseOptions{Family: rs.Family})
		if err != nil {
			return nil, err
		}
		if err := c.Apply(cmd); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// runOn runs a witness on an engine (whose connection table must not
// hold the witness's own connections already).
func (c *comparer) runOn(e *engine.Engine, wi witnessInput) (string, error) {
	d, mark := wi.d, wi.mark
	var logs bytes.Buffer
	e.Log = &logs
	data, err := d.Build(0)
	if err != nil {
		return "", err
	}
	if wi.badSum {
		// The checksum field of the TCP or UDP header after the IP
		// header (the builder writes no options or extension
		// headers), made wrong but never 0 (a UDP packet without a
		// checksum).
		at := 20 + 6
		if d.Local {
			at = 20 + 4 // the UDP length
		}
		if d.Dst.Is6() {
			at += 20
		}
		switch {
		case at+1 >= len(data):
		case d.Local:
			data[at], data[at+1] = 0, 7
		default:
			data[at] ^= 0x5a
			if data[at] == 0 && data[at+1] == 0 {
				data[at+1] = 1
			}
		}
	}
	now := int64(1_000_000_000_000)
	for _, cd := range []*packet.Desc{&d, wi.conn} {
		if cd == nil || cd.CT == nil {
			continue
		}
		p, err := conntrack.ContextOf(*cd)
		if err != nil {
			return "", err
		}
		if _, err := e.CT.Insert(p, now); err != nil {
			return "", fmt.Errorf("ct: %v", err)
		}
	}
	in := &engine.Input{Data: data, In: d.In, Local: d.Local, Now: now, Mark: mark}
	if !d.Local {
		in.Frame = engine.FrameHost
		if ifc := c.s.Host.Iface(d.In); ifc != nil {
			in.SrcMAC = ifc.Peer
		}
	}
	st := engine.NewState()
	e.Process(st, in)
	return c.outcomeText(st, d.CT != nil, &logs), nil
}

// outcomeText is the observable outcome of the packet st last
// processed, as text: what the comparison calls its effect. hadCT: the
// packet came with a connection context (what a dropped packet of an
// existing connection leaves on it counts). logs holds its LOG lines.
func (c *comparer) outcomeText(st *engine.State, hadCT bool, logs *bytes.Buffer) string {
	r := &st.Result
	var b strings.Builder
	b.WriteString(r.Verdict.String())
	switch r.Verdict {
	case engine.Forward, engine.Sent:
		b.WriteString(" out " + r.OutIface)
	case engine.Queue:
		fmt.Fprintf(&b, " %d", r.QueueNum)
	}
	for _, o := range r.Out {
		if o.HostReply {
			continue
		}
		var p packet.Packet
		if p.Decode(o.Data) == nil {
			fmt.Fprintf(&b, "; %s %s", o.Iface, p.Summary())
			if r.Verdict != engine.Reject {
				fmt.Fprintf(&b, " ttl %d tos 0x%02x", p.TTL, p.TOS)
			}
		}
	}
	if r.SelfDelivered > 0 {
		b.WriteString("; delivered back to the host")
	}
	if !c.o.IgnoreMark && r.Verdict != engine.Drop && r.Verdict != engine.Reject {
		fmt.Fprintf(&b, "; mark 0x%x", st.Mark())
	}
	if ent, _ := st.Conn(); ent != nil && (r.Verdict != engine.Drop && r.Verdict != engine.Reject || hadCT) {
		if !c.o.IgnoreMark {
			fmt.Fprintf(&b, "; ctmark 0x%x", ent.Mark())
		}
		// The NAT binding left on the connection: its reply tuple
		// (a packet delivered to the host shows it nowhere else).
		src, dst, sport, dport := ent.Tuple(1)
		fmt.Fprintf(&b, "; reply tuple %s", netip.AddrPortFrom(src, sport))
		fmt.Fprintf(&b, " > %s", netip.AddrPortFrom(dst, dport))
	}
	if !c.o.IgnoreLog && logs.Len() > 0 {
		b.WriteString("; log: " + strings.TrimSpace(logs.String()))
	}
	return b.String()
}
