package ext

import (
	"fmt"
	"strings"
)

// The sctp match (-p sctp [-m sctp]): ports and chunk types, as iptables'
// libxt_sctp.c reads and prints them and the kernel's xt_sctp.c tests
// them. --chunk-types walks every chunk of the packet; a chunk header cut
// short or a chunk of length 0 makes the kernel drop the packet, as does
// a common header (12 bytes) cut short (see Hotdropper). A later fragment
// never matches.
//
// Two quirks of iptables are kept because they decide what the kernel
// sees: chunk flags ("DATA:Be") are stored under the chunk's place in
// iptables' name table, not its type number, which is the same for the
// types 0-14 but makes flags given for I_DATA, RE_CONFIG ... apply to no
// chunk at all (and not be printed); and "all ALL" never matches, because
// "ALL" sets bits for 2048 chunk types where only 256 exist.

// sctpProto is IPPROTO_SCTP.
const sctpProto = 132

// sctpChunkNames is iptables' chunk table: name, type and the flag
// letters valid for it (bit 7 first; '-' is no flag).
var sctpChunkNames = []struct {
	name  string
	typ   uint8
	flags string
}{
	{"DATA", 0, "----IUBE"}, {"INIT", 1, "--------"}, {"INIT_ACK", 2, "--------"},
	{"SACK", 3, "--------"}, {"HEARTBEAT", 4, "--------"}, {"HEARTBEAT_ACK", 5, "--------"},
	{"ABORT", 6, "-------T"}, {"SHUTDOWN", 7, "--------"}, {"SHUTDOWN_ACK", 8, "--------"},
	{"ERROR", 9, "--------"}, {"COOKIE_ECHO", 10, "--------"}, {"COOKIE_ACK", 11, "--------"},
	{"ECN_ECNE", 12, "--------"}, {"ECN_CWR", 13, "--------"}, {"SHUTDOWN_COMPLETE", 14, "-------T"},
	{"I_DATA", 64, "----IUBE"}, {"RE_CONFIG", 130, "--------"}, {"PAD", 132, "--------"},
	{"ASCONF", 193, "--------"}, {"ASCONF_ACK", 128, "--------"}, {"FORWARD_TSN", 192, "--------"},
	{"I_FORWARD_TSN", 194, "--------"},
}

// Chunk match types (SCTP_CHUNK_MATCH_*).
const (
	sctpAny  = 1
	sctpAll  = 2
	sctpOnly = 4
)

// Option bits (XT_SCTP_*), for flags and invflags.
const (
	sctpSrcPorts   = 1
	sctpDstPorts   = 2
	sctpChunkTypes = 4
)

// sctpFlagInfo is struct xt_sctp_flag_info.
type sctpFlagInfo struct {
	chunktype, flag, mask uint8
}

// sctpMatch is one -m sctp in one rule (struct xt_sctp_info).
type sctpMatch struct {
	spts, dpts [2]uint16
	chunkmap   [8]uint32 // one bit per chunk type
	allSet     bool      // "ALL": the kernel's map has all its 2048 bits set
	matchType  uint8
	flagInfo   [4]sctpFlagInfo
	flagCount  int
	flags      uint8
	invflags   uint8
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "sctp",
		Family:   AnyFamily,
		Proto:    sctpProto,
		Implicit: true,
		// libxt_sctp uses the old parse interface: "!" is allowed
		// before every option.
		Options: []Option{
			{Name: "source-port", Arg: OneArg, Invert: true},
			{Name: "sport", Arg: OneArg, Invert: true},
			{Name: "destination-port", Arg: OneArg, Invert: true},
			{Name: "dport", Arg: OneArg, Invert: true},
			{Name: "chunk-types", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &sctpMatch{spts: [2]uint16{0, 65535}, dpts: [2]uint16{0, 65535}} },
	})
}

// Parse implements Parser.
func (m *sctpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	var bit uint8
	switch opt {
	case "source-port", "sport":
		bit = sctpSrcPorts
	case "destination-port", "dport":
		bit = sctpDstPorts
	case "chunk-types":
		bit = sctpChunkTypes
	default:
		return Errorf("unknown option --%s", opt)
	}
	if m.flags&bit != 0 {
		return Errorf("only one --%s allowed", opt)
	}
	switch bit {
	case sctpSrcPorts, sctpDstPorts:
		lo, hi, err := parseXtPortRange(arg, sctpProto)
		if err != nil {
			return err
		}
		if bit == sctpSrcPorts {
			m.spts = [2]uint16{lo, hi}
		} else {
			m.dpts = [2]uint16{lo, hi}
		}
	case sctpChunkTypes:
		chunks, ok := more.Take()
		if !ok || chunks == "" || chunks[0] == '!' || chunks[0] == '-' {
			return Errorf("--chunk-types requires two args: all, any or only, then the chunk types, e.g. --chunk-types any INIT,ABORT")
		}
		switch strings.ToLower(arg) {
		case "any":
			m.matchType = sctpAny
		case "all":
			m.matchType = sctpAll
		case "only":
			m.matchType = sctpOnly
		default:
			return Errorf("match type %q: it has to be one of all, any or only", arg)
		}
		if err := m.parseChunks(chunks); err != nil {
			return err
		}
	}
	m.flags |= bit
	if invert {
		m.invflags |= bit
	}
	return nil
}

// parseChunks reads "ALL", "NONE" or "NAME[:FLAGS],..." as
// parse_sctp_chunk: names case-insensitively, flag letters upper case to
// require a flag and lower case to require it clear.
func (m *sctpMatch) parseChunks(s string) error {
	m.chunkmap = [8]uint32{}
	m.allSet = false
	if strings.EqualFold(s, "ALL") {
		for i := range m.chunkmap {
			m.chunkmap[i] = ^uint32(0)
		}
		m.allSet = true
		return nil
	}
	if strings.EqualFold(s, "NONE") {
		return nil
	}
	for _, w := range strings.Split(s, ",") {
		if w == "" {
			continue
		}
		name, flags, _ := strings.Cut(w, ":")
		idx := -1
		for i, c := range sctpChunkNames {
			if strings.EqualFold(c.name, name) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return Errorf("unknown sctp chunk %q: use DATA, INIT, INIT_ACK, SACK, HEARTBEAT, HEARTBEAT_ACK, ABORT, SHUTDOWN, SHUTDOWN_ACK, ERROR, COOKIE_ECHO, COOKIE_ACK, ECN_ECNE, ECN_CWR, SHUTDOWN_COMPLETE, I_DATA, RE_CONFIG, PAD, ASCONF, ASCONF_ACK, FORWARD_TSN, I_FORWARD_TSN, ALL or NONE", name)
		}
		typ := sctpChunkNames[idx].typ
		m.chunkmap[typ/32] |= 1 << (typ % 32)
		valid := sctpChunkNames[idx].flags
		for j := 0; j < len(flags); j++ {
			c := flags[j]
			up := c
			if c >= 'a' && c <= 'z' {
				up = c - 'a' + 'A'
			}
			pos := strings.IndexByte(valid, up)
			if pos < 0 {
				return Errorf("invalid flag %q for chunk type %s: valid are %s (upper case: set, lower case: clear)", string(c), sctpChunkNames[idx].name, strings.ReplaceAll(valid, "-", ""))
			}
			if err := m.saveFlag(uint8(idx), uint8(7-pos), c >= 'A' && c <= 'Z'); err != nil {
				return err
			}
		}
	}
	return nil
}

// saveFlag records one flag test, keyed as iptables keys it (see the
// file comment).
func (m *sctpMatch) saveFlag(chunk, bit uint8, set bool) error {
	for i := 0; i < m.flagCount; i++ {
		if m.flagInfo[i].chunktype == chunk {
			m.flagInfo[i].mask |= 1 << bit
			if set {
				m.flagInfo[i].flag |= 1 << bit
			}
			return nil
		}
	}
	if m.flagCount == len(m.flagInfo) {
		return Errorf("flags given for more than %d chunk types: the kernel keeps at most %d", len(m.flagInfo), len(m.flagInfo))
	}
	fi := &m.flagInfo[m.flagCount]
	fi.chunktype = chunk
	fi.mask |= 1 << bit
	if set {
		fi.flag |= 1 << bit
	}
	m.flagCount++
	return nil
}

// Finish implements Parser.
func (m *sctpMatch) Finish(r *RuleInfo) error { return nil }

func (m *sctpMatch) chunkSet(t uint8) bool { return m.chunkmap[t/32]&(1<<(t%32)) != 0 }

// appendChunks is print_chunks: the match type, then ALL, NONE or the
// chunk list with flags.
func (m *sctpMatch) appendChunks(b *strings.Builder, numeric bool) {
	switch m.matchType {
	case sctpAny:
		b.WriteString(" any")
	case sctpAll:
		b.WriteString(" all")
	case sctpOnly:
		b.WriteString(" only")
	}
	if m.chunkmap == [8]uint32{} {
		b.WriteString(" NONE")
		return
	}
	if m.allSet {
		b.WriteString(" ALL")
		return
	}
	first := true
	for t := 0; t < 256; t++ {
		if !m.chunkSet(uint8(t)) {
			continue
		}
		if first {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		first = false
		if numeric {
			fmt.Fprintf(b, "0x%04X", t)
		} else {
			for _, c := range sctpChunkNames {
				if int(c.typ) == t {
					b.WriteString(c.name)
				}
			}
		}
		for j := 0; j < m.flagCount; j++ {
			fi := m.flagInfo[j]
			if int(fi.chunktype) != t || fi.mask == 0 {
				continue
			}
			b.WriteByte(':')
			valid := sctpChunkNames[t].flags // t < 15 here: see the file comment
			for bit := 7; bit >= 0; bit-- {
				if fi.mask&(1<<bit) == 0 {
					continue
				}
				c := valid[7-bit]
				if fi.flag&(1<<bit) == 0 && c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				b.WriteByte(c)
			}
		}
	}
}

// Save implements Parser: options given are saved even when they cover
// every port.
func (m *sctpMatch) Save(b *strings.Builder) {
	if m.flags&sctpSrcPorts != 0 {
		savePortRange(b, "sport", m.spts[0], m.spts[1], m.invflags&sctpSrcPorts != 0)
	}
	if m.flags&sctpDstPorts != 0 {
		savePortRange(b, "dport", m.dpts[0], m.dpts[1], m.invflags&sctpDstPorts != 0)
	}
	if m.flags&sctpChunkTypes != 0 {
		if m.invflags&sctpChunkTypes != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --chunk-types")
		m.appendChunks(b, false)
	}
}

// Print implements Parser.
func (m *sctpMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" sctp")
	if m.flags&sctpSrcPorts != 0 && !skipPorts(m.spts, m.invflags&sctpSrcPorts != 0) {
		appendPortRange(b, "spt", m.spts[0], m.spts[1], m.invflags&sctpSrcPorts != 0, sctpProto, numeric)
	}
	if m.flags&sctpDstPorts != 0 && !skipPorts(m.dpts, m.invflags&sctpDstPorts != 0) {
		appendPortRange(b, "dpt", m.dpts[0], m.dpts[1], m.invflags&sctpDstPorts != 0, sctpProto, numeric)
	}
	if m.flags&sctpChunkTypes != 0 {
		if m.invflags&sctpChunkTypes != 0 {
			b.WriteString(" !")
		}
		m.appendChunks(b, numeric)
	}
}

// Compile implements Match.
func (m *sctpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// check is SCCHECK: a test not asked for passes.
func (m *sctpMatch) check(bit uint8, cond bool) bool {
	return m.flags&bit == 0 || cond != (m.invflags&bit != 0)
}

// eval runs sctp_mt on the packet: its result, and whether the kernel
// set hotdrop on the way (both can be true, see MatchHotdropper).
func (m *sctpMatch) eval(c *Ctx) (match, hotdrop bool) {
	p := c.Pkt
	if p.FragOff != 0 {
		return false, false
	}
	h, ok := l4Bytes(p, 0, 12)
	if !ok {
		return false, true
	}
	sport, dport := uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3])
	if !m.check(sctpSrcPorts, sport >= m.spts[0] && sport <= m.spts[1]) ||
		!m.check(sctpDstPorts, dport >= m.dpts[0] && dport <= m.dpts[1]) {
		return false, false
	}
	if m.flags&sctpChunkTypes == 0 {
		return true, false
	}
	// On a chunk it cannot read, the kernel's match_packet returns false
	// with hotdrop set, and an inverted test then passes.
	res, drop := m.chunks(p.L4)
	return m.check(sctpChunkTypes, res), drop
}

// matchFlags is the kernel's match_flags: a chunk without a flag test
// passes.
func (m *sctpMatch) matchFlags(typ, flags uint8) bool {
	for i := 0; i < m.flagCount; i++ {
		if m.flagInfo[i].chunktype == typ {
			return flags&m.flagInfo[i].mask == m.flagInfo[i].flag
		}
	}
	return true
}

// chunks is the kernel's match_packet: it walks the chunks after the
// common header.
func (m *sctpMatch) chunks(l4 []byte) (res, hotdrop bool) {
	left := m.chunkmap // for "all": the chunk types not seen yet
	off := 12
	for {
		if off+4 > len(l4) {
			return false, true
		}
		typ, flags := l4[off], l4[off+1]
		length := int(l4[off+2])<<8 | int(l4[off+3])
		if length == 0 {
			return false, true
		}
		off += (length + 3) &^ 3
		if m.chunkSet(typ) {
			switch m.matchType {
			case sctpAny:
				if m.matchFlags(typ, flags) {
					return true, false
				}
			case sctpAll:
				if m.matchFlags(typ, flags) {
					left[typ/32] &^= 1 << (typ % 32)
				}
			case sctpOnly:
				if !m.matchFlags(typ, flags) {
					return false, false
				}
			}
		} else if m.matchType == sctpOnly {
			return false, false
		}
		if off >= len(l4) {
			break
		}
	}
	switch m.matchType {
	case sctpAll:
		return left == [8]uint32{} && !m.allSet, false
	case sctpOnly:
		return true, false
	}
	return false, false
}

// Match implements Matcher: false for a packet the kernel drops.
func (m *sctpMatch) Match(c *Ctx) bool {
	ok, drop := m.eval(c)
	return ok && !drop
}

// MatchHotdrop implements MatchHotdropper.
func (m *sctpMatch) MatchHotdrop(c *Ctx) (match, hotdrop bool) { return m.eval(c) }

// Hotdrop implements Hotdropper.
func (m *sctpMatch) Hotdrop(c *Ctx) bool {
	_, drop := m.eval(c)
	return drop
}

// Explain implements Explainer.
func (m *sctpMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	if p.FragOff != 0 {
		return "a later fragment has no sctp header: sctp never matches it"
	}
	h, ok := l4Bytes(p, 0, 12)
	if !ok {
		return "the sctp header is cut short: the packet is dropped"
	}
	if _, drop := m.eval(c); drop {
		return "an sctp chunk header is cut short or has length 0: the packet is dropped"
	}
	var want strings.Builder
	m.Save(&want)
	var types []string
	for off := 12; off+4 <= len(p.L4); {
		types = append(types, fmt.Sprintf("%d", p.L4[off]))
		l := int(p.L4[off+2])<<8 | int(p.L4[off+3])
		if l == 0 {
			break
		}
		off += (l + 3) &^ 3
	}
	return fmt.Sprintf("%s: the packet has ports %d, %d and chunk types %s", strings.TrimSpace(want.String()),
		uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3]), strings.Join(types, ","))
}
