package packet

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ShortError is an error in a short-form packet description, located at
// one word.
type ShortError struct {
	Word  string // the word at fault, "" when something is missing at the end
	Index int    // its position among the words, from 1
	Col   int    // its first byte's column in the input, from 1
	Msg   string
}

// Error returns `word N "WORD" (column C): message`, or
// "at end (column C): message" when Word is empty.
func (e *ShortError) Error() string {
	if e.Word == "" {
		return fmt.Sprintf("at end (column %d): %s", e.Col, e.Msg)
	}
	return fmt.Sprintf("word %d %q (column %d): %s", e.Index, e.Word, e.Col, e.Msg)
}

type shortWord struct {
	s   string
	col int // from 1
}

// splitShort splits s at white space, and around every '>'.
func splitShort(s string) []shortWord {
	var ws []shortWord
	start := -1
	flush := func(i int) {
		if start >= 0 {
			ws = append(ws, shortWord{s[start:i], start + 1})
			start = -1
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			flush(i)
		case c == '>':
			flush(i)
			ws = append(ws, shortWord{">", i + 1})
		case start < 0 && strings.HasPrefix(s[i:], `ct="`):
			// A conntrack -L line has spaces: ct="ipv4 2 tcp ...".
			end := strings.IndexByte(s[i+4:], '"')
			if end < 0 {
				end = len(s) - i - 4
			}
			ws = append(ws, shortWord{"ct=" + s[i+4:i+4+end], i + 1})
			i += 4 + end
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(s))
	return ws
}

type shortParser struct {
	ws  []shortWord
	i   int
	end int // column just past the input
}

func (p *shortParser) errAt(i int, format string, args ...any) error {
	if i >= len(p.ws) {
		return &ShortError{Index: len(p.ws) + 1, Col: p.end, Msg: fmt.Sprintf(format, args...)}
	}
	return &ShortError{Word: p.ws[i].s, Index: i + 1, Col: p.ws[i].col, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next word, or an error saying what was wanted.
func (p *shortParser) next(want string) (string, error) {
	if p.i >= len(p.ws) {
		return "", p.errAt(p.i, "missing %s", want)
	}
	p.i++
	return p.ws[p.i-1].s, nil
}

// ParseShort parses the short form, the one-line packet description
// typed on the command line, into a Desc checked with Validate:
//
//	[IFACE | local] PROTO SRC[:PORT] > DST[:PORT] [WORDS...]
//
// for example
//
//	eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S
//	wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40
//	eth0 icmp 198.51.100.9 > 198.51.100.1 echo-request delay_ms=1000
//	eth0 icmp 203.0.113.80 > 198.51.100.1 type 3 code 3 inner udp 198.51.100.1:46000 > 203.0.113.80:33434
//	local tcp 198.51.100.1:22 > 203.0.113.7:40000 SA
//	eth0 tcp(raw) 203.0.113.7 > 198.51.100.1 len=8
//	eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S
//	eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 neighbour-solicitation target=2001:db8:100::1
//	eth0 udp [2001:db8:2::10]:53000 > [2001:db8:100::9]:53 ext=hbh,dst/1
//
// IPv6 addresses with a port are written in brackets, [ADDR]:PORT, as
// URLs write them; without a port, bare (brackets are accepted too).
// As in the JSON form, a protocol written as a number is a raw packet
// (Desc.Raw): the IP header and len zero bytes, no ports, no transport
// header. "6", "17" and "1" may also be written "tcp(raw)", "udp(raw)"
// and "icmp(raw)", which is how String writes them.
//
// The words after the destination, in any order:
//
//   - tcp flags: letters from FSRPAUEC ("S", "SA", "FPA"), or "none" for
//     no flag (absent: the default, S);
//   - icmp type and code: "type N [code M]", "N/M", or an iptables
//     --icmp-type name ("echo-request", "port-unreachable", ...); for
//     icmpv6 an ip6tables --icmpv6-type name ("echo-request" is 128,
//     "neighbour-solicitation" 135, "packet-too-big" 2, ...);
//   - "inner PROTO SRC:PORT > DST:PORT": the packet an icmp error quotes;
//   - "df", "mf": set those IP flags;
//   - KEY=VALUE for any other field of Desc, by its JSON name: seq, ack,
//     window, len, ttl, tos, id, df, frag_off, mf, src_mac, delay_ms,
//     flags, type, code, and for IPv6 flow, target, mtu, pointer and
//     ext. Numbers are decimal, or hexadecimal with 0x. ext is a comma
//     separated list of headers: hbh[/LEN], dst[/LEN],
//     rt/TYPE/SEGLEFT[/ADDR...], frag/OFFSET/MF[/ID] (MF 0 or 1),
//     ah/SPI, for example ext=hbh,rt/0/1/2001:db8::5,frag/0/1.
//
// A '>' may touch the addresses ("1.2.3.4:5>6.7.8.9:10").
//
// The interface may be left out (In == "" and Local false: the caller
// decides where such a packet arrives). tcp and udp need both ports,
// other protocols take none; icmp needs a type. Each field may be given
// once. Errors are *ShortError values naming the word at fault and its
// position.
func ParseShort(s string) (Desc, error) {
	p := &shortParser{ws: splitShort(s), end: len(s) + 1}
	var d Desc
	if len(p.ws) == 0 {
		return Desc{}, p.errAt(0, "empty packet description: want [IFACE] PROTO SRC[:PORT] > DST[:PORT]")
	}

	// An interface comes first unless the first word is the protocol.
	// A protocol is always followed by an address, never by another
	// protocol, which tells "tcp 1.2.3.4 ..." from "6 tcp ..." (an
	// interface named 6).
	if !isProtoWord(p.ws[0].s) || (len(p.ws) > 1 && isProtoWord(p.ws[1].s)) {
		w := p.ws[0].s
		if w == "local" {
			d.Local = true
		} else {
			if err := checkIfName(w); err != nil {
				return Desc{}, p.errAt(0, "%v", err)
			}
			d.In = w
		}
		p.i++
	}
	protoAt := p.i
	w, err := p.next("protocol (tcp, udp, icmp, icmpv6 or a number)")
	if err != nil {
		return Desc{}, err
	}
	if d.Proto, d.Raw, err = parseProtoWord(w); err != nil {
		return Desc{}, p.errAt(protoAt, "%v", err)
	}
	ports := d.hasPorts()
	if d.Src, d.Sport, err = p.endpoint("source", ports, d.protoWord()); err != nil {
		return Desc{}, err
	}
	if w, err := p.next(`">" between source and destination`); err != nil {
		return Desc{}, err
	} else if w != ">" {
		return Desc{}, p.errAt(p.i-1, `want ">" between source and destination`)
	}
	if d.Dst, d.Dport, err = p.endpoint("destination", ports, d.protoWord()); err != nil {
		return Desc{}, err
	}

	seen := map[string]bool{}
	once := func(at int, field string) error {
		if seen[field] {
			return p.errAt(at, "%s given twice", field)
		}
		seen[field] = true
		return nil
	}
	for p.i < len(p.ws) {
		at := p.i
		w := p.ws[p.i].s
		p.i++
		switch {
		case strings.Contains(w, "="):
			k, v, _ := strings.Cut(w, "=")
			if err := once(at, k); err != nil {
				return Desc{}, err
			}
			if err := d.setKey(k, v); err != nil {
				return Desc{}, p.errAt(at, "%v", err)
			}
		case w == "df" || w == "mf":
			if err := once(at, w); err != nil {
				return Desc{}, err
			}
			d.setKey(w, "true")
		case w == "inner":
			if err := once(at, "inner"); err != nil {
				return Desc{}, err
			}
			in, err := p.inner()
			if err != nil {
				return Desc{}, err
			}
			d.Inner = in
		case w == "type" || w == "code":
			if err := once(at, w); err != nil {
				return Desc{}, err
			}
			vAt := p.i
			v, err := p.next(w + " number")
			if err != nil {
				return Desc{}, err
			}
			if err := d.setKey(w, v); err != nil {
				return Desc{}, p.errAt(vAt, "%v", err)
			}
		case d.is(ProtoTCP) && (w == "none" || isFlagWord(w)):
			if err := once(at, "flags"); err != nil {
				return Desc{}, err
			}
			if w == "none" {
				w = ""
			}
			if err := d.setKey("flags", w); err != nil {
				return Desc{}, p.errAt(at, "%v", err)
			}
		case d.isICMP():
			t, c, ok := parseICMPWord(w, d.IsIPv6())
			if !ok {
				return Desc{}, p.errAt(at, "unexpected word: want an %s type (type N, N/M or a name such as echo-request), inner ..., df, mf or KEY=VALUE", d.Proto)
			}
			if err := once(at, "type"); err != nil {
				return Desc{}, err
			}
			if err := once(at, "code"); err != nil {
				return Desc{}, err
			}
			d.Type, d.Code = t, c
		default:
			want := "df, mf or KEY=VALUE"
			if d.is(ProtoTCP) {
				want = "tcp flags (letters from FSRPAUEC, or none), " + want
			}
			return Desc{}, p.errAt(at, "unexpected word: want %s", want)
		}
	}
	if d.isICMP() && !seen["type"] {
		if d.IsIPv6() {
			return Desc{}, p.errAt(len(p.ws), "icmpv6 needs a type: add e.g. \"type 128\", \"1/4\" or \"echo-request\"")
		}
		return Desc{}, p.errAt(len(p.ws), "icmp needs a type: add e.g. \"type 8\", \"3/3\" or \"echo-request\"")
	}
	if err := d.Validate(); err != nil {
		return Desc{}, p.errAt(len(p.ws), "%v", err)
	}
	return d, nil
}

func isProtoWord(s string) bool {
	_, _, err := parseProtoWord(s)
	return err == nil
}

// parseProtoWord parses a protocol as the short form writes it: what
// ParseProto takes, or "tcp(raw)", "udp(raw)", "icmp(raw)". raw reports
// a raw packet (Desc.Raw): 6, 17 or 1 written as a number or with
// "(raw)".
func parseProtoWord(s string) (p Proto, raw bool, err error) {
	if name, ok := strings.CutSuffix(s, "(raw)"); ok {
		if p, number, err := parseProtoNumber(name); err == nil && !number {
			return p, true, nil
		}
		return 0, false, fmt.Errorf("protocol %q: only tcp, udp and icmp have a raw form (other protocols are always raw)", s)
	}
	p, number, err := parseProtoNumber(s)
	return p, number && named(p), err
}

func isFlagWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(tcpFlagLetters, s[i]) < 0 {
			return false
		}
	}
	return true
}

// endpoint parses ADDR or ADDR:PORT; proto names the protocol in errors.
func (p *shortParser) endpoint(what string, ports bool, proto string) (netip.Addr, uint16, error) {
	at := p.i
	w, err := p.next(what + " address")
	if err != nil {
		return netip.Addr{}, 0, err
	}
	addr, port, hasPort := strings.Cut(w, ":")
	if strings.HasPrefix(w, "[") {
		// [IPv6]:PORT, or [IPv6] alone.
		end := strings.IndexByte(w, ']')
		if end < 0 {
			return netip.Addr{}, 0, p.errAt(at, "%s: missing \"]\" after the IPv6 address", what)
		}
		addr, port = w[1:end], ""
		rest := w[end+1:]
		hasPort = rest != ""
		if hasPort {
			var ok bool
			if port, ok = strings.CutPrefix(rest, ":"); !ok {
				return netip.Addr{}, 0, p.errAt(at, "%s: want [ADDR]:PORT", what)
			}
		}
		if a, err := netip.ParseAddr(addr); err != nil || a.Is4() || a.Zone() != "" {
			return netip.Addr{}, 0, p.errAt(at, "%s: %q in brackets is not an IPv6 address", what, addr)
		}
	} else if strings.Count(w, ":") > 1 {
		// A bare IPv6 address has no port.
		addr, port, hasPort = w, "", false
		if ports {
			return netip.Addr{}, 0, p.errAt(at, "%s: %s needs a port: write an IPv6 address with one as [ADDR]:PORT", what, proto)
		}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, p.errAt(at, "%s: %q is not an IP address", what, addr)
	}
	if !ports {
		if hasPort {
			return netip.Addr{}, 0, p.errAt(at, "%s: %s has no ports", what, proto)
		}
		return a, 0, nil
	}
	if !hasPort {
		return netip.Addr{}, 0, p.errAt(at, "%s: %s needs a port (ADDR:PORT)", what, proto)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.Addr{}, 0, p.errAt(at, "%s: port %q is not a number 0-65535", what, port)
	}
	return a, uint16(n), nil
}

// inner parses PROTO SRC:PORT > DST:PORT after the word "inner".
func (p *shortParser) inner() (*Inner, error) {
	at := p.i
	w, err := p.next("inner protocol (tcp or udp)")
	if err != nil {
		return nil, err
	}
	pr, err := ParseProto(w)
	if err != nil || !hasPorts(pr) {
		return nil, p.errAt(at, "inner protocol: want tcp or udp")
	}
	in := &Inner{Proto: pr}
	if in.Src, in.Sport, err = p.endpoint("inner source", true, pr.String()); err != nil {
		return nil, err
	}
	if w, err := p.next(`">" between inner source and destination`); err != nil {
		return nil, err
	} else if w != ">" {
		return nil, p.errAt(p.i-1, `want ">" between inner source and destination`)
	}
	if in.Dst, in.Dport, err = p.endpoint("inner destination", true, pr.String()); err != nil {
		return nil, err
	}
	return in, nil
}

// parseShortUint parses a decimal, or 0x-prefixed hexadecimal, number.
func parseShortUint(v string, bits int) (uint64, error) {
	if h, ok := strings.CutPrefix(v, "0x"); ok {
		return strconv.ParseUint(h, 16, bits)
	}
	return strconv.ParseUint(v, 10, bits)
}

// setKey sets the field with JSON name k from the short-form value v.
func (d *Desc) setKey(k, v string) error {
	num := func(bits int) (uint64, error) {
		n, err := parseShortUint(v, bits)
		if err != nil {
			return 0, fmt.Errorf("%s=%s: want a number 0-%d", k, v, uint64(1)<<bits-1)
		}
		return n, nil
	}
	boolean := func() (bool, error) {
		switch v {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return false, fmt.Errorf("%s=%s: want true or false", k, v)
	}
	var err error
	var n uint64
	switch k {
	case "flags":
		var f TCPFlags
		if f, err = ParseTCPFlags(v); err == nil {
			d.Flags = &f
		}
	case "seq", "ack":
		if n, err = num(32); err == nil {
			x := uint32(n)
			if k == "seq" {
				d.Seq = &x
			} else {
				d.Ack = &x
			}
		}
	case "window":
		if n, err = num(16); err == nil {
			d.Window = new(uint16(n))
		}
	case "id":
		if n, err = num(16); err == nil {
			d.ID = new(uint16(n))
		}
	case "ttl":
		if n, err = num(8); err == nil {
			d.TTL = new(uint8(n))
		}
	case "type":
		if n, err = num(8); err == nil {
			d.Type = uint8(n)
		}
	case "code":
		if n, err = num(8); err == nil {
			d.Code = uint8(n)
		}
	case "tos":
		if n, err = num(8); err == nil {
			d.TOS = uint8(n)
		}
	case "frag_off":
		if n, err = num(13); err == nil {
			d.FragOff = uint16(n)
		}
	case "len":
		if n, err = num(16); err == nil {
			d.Len = int(n)
		}
	case "delay_ms":
		if n, err = num(63); err == nil {
			d.DelayMS = int64(n)
		}
	case "df":
		d.DF, err = boolean()
	case "mf":
		d.MF, err = boolean()
	case "src_mac":
		d.SrcMAC, err = ParseMAC(v)
	case "flow":
		if n, err = num(20); err == nil {
			d.Flow = uint32(n)
		}
	case "mtu":
		if n, err = num(32); err == nil {
			d.MTU = new(uint32(n))
		}
	case "pointer":
		if n, err = num(32); err == nil {
			d.Pointer = uint32(n)
		}
	case "ct":
		d.CT, err = ParseCT(v)
	case "target":
		var a netip.Addr
		if a, err = netip.ParseAddr(v); err != nil || a.Is4() || a.Zone() != "" {
			return fmt.Errorf("target=%s: want an IPv6 address", v)
		}
		d.Target = a
	case "ext":
		d.Ext, err = parseExtShort(v)
	case "in", "local", "src", "dst", "proto", "sport", "dport", "inner":
		return fmt.Errorf("%s is given by position, not as %s=", k, k)
	default:
		return fmt.Errorf("unknown field %q (known: seq ack window len ttl tos id df frag_off mf src_mac delay_ms flags type code flow target mtu pointer ext)", k)
	}
	return err
}

// parseExtShort parses the short form's ext=... list (see ParseShort).
func parseExtShort(v string) ([]Ext, error) {
	var out []Ext
	for i, item := range strings.Split(v, ",") {
		f := strings.Split(item, "/")
		e := Ext{Type: f[0]}
		bad := func(want string) error {
			return fmt.Errorf("ext=%s: header %d %q: want %s", v, i+1, item, want)
		}
		num := func(s string, bits int) (uint64, bool) {
			n, err := parseShortUint(s, bits)
			return n, err == nil
		}
		switch e.Type {
		case "hbh", "dst":
			if len(f) > 2 {
				return nil, bad(e.Type + " or " + e.Type + "/LEN")
			}
			if len(f) == 2 {
				n, ok := num(f[1], 8)
				if !ok {
					return nil, bad(e.Type + "/LEN with LEN 0-255")
				}
				e.Len = uint8(n)
			}
		case "rt":
			if len(f) < 3 {
				return nil, bad("rt/TYPE/SEGLEFT[/ADDR...]")
			}
			t, ok1 := num(f[1], 8)
			sl, ok2 := num(f[2], 8)
			if !ok1 || !ok2 {
				return nil, bad("rt/TYPE/SEGLEFT[/ADDR...] with numbers 0-255")
			}
			e.RtType, e.SegLeft = uint8(t), uint8(sl)
			for _, s := range f[3:] {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, bad(fmt.Sprintf("IPv6 addresses after rt/TYPE/SEGLEFT, not %q", s))
				}
				e.Addrs = append(e.Addrs, a)
			}
		case "frag":
			if len(f) != 3 && len(f) != 4 {
				return nil, bad("frag/OFFSET/MF or frag/OFFSET/MF/ID")
			}
			off, ok1 := num(f[1], 13)
			if !ok1 || (f[2] != "0" && f[2] != "1") {
				return nil, bad("frag/OFFSET/MF with OFFSET 0-8191 and MF 0 or 1")
			}
			e.Offset, e.MF = uint16(off), f[2] == "1"
			if len(f) == 4 {
				id, ok := num(f[3], 32)
				if !ok {
					return nil, bad("an ID 0-4294967295")
				}
				e.ID = new(uint32(id))
			}
		case "ah":
			spi, ok := uint64(0), len(f) == 2
			if ok {
				spi, ok = num(f[1], 32)
			}
			if !ok {
				return nil, bad("ah/SPI")
			}
			e.SPI = uint32(spi)
		default:
			return nil, bad("a header hbh, dst, rt, frag or ah")
		}
		if err := e.validate(i); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// extShort writes exts as parseExtShort reads them.
func extShort(exts []Ext) string {
	var b strings.Builder
	for i, e := range exts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.Type)
		switch e.Type {
		case "hbh", "dst":
			if e.Len != 0 {
				fmt.Fprintf(&b, "/%d", e.Len)
			}
		case "rt":
			fmt.Fprintf(&b, "/%d/%d", e.RtType, e.SegLeft)
			for _, a := range e.Addrs {
				b.WriteByte('/')
				b.WriteString(addrText(a))
			}
		case "frag":
			mf := 0
			if e.MF {
				mf = 1
			}
			fmt.Fprintf(&b, "/%d/%d", e.Offset, mf)
			if e.ID != nil {
				fmt.Fprintf(&b, "/%d", *e.ID)
			}
		case "ah":
			fmt.Fprintf(&b, "/%d", e.SPI)
		}
	}
	return b.String()
}

// icmpNames are iptables' --icmp-type names (iptables -p icmp -h) with
// the type and code each stands for; a name that covers every code of a
// type (destination-unreachable) means code 0 here.
var icmpNames = []struct {
	name      string
	typ, code uint8
}{
	{"echo-reply", 0, 0},
	{"pong", 0, 0},
	{"destination-unreachable", 3, 0},
	{"network-unreachable", 3, 0},
	{"host-unreachable", 3, 1},
	{"protocol-unreachable", 3, 2},
	{"port-unreachable", 3, 3},
	{"fragmentation-needed", 3, 4},
	{"source-route-failed", 3, 5},
	{"network-unknown", 3, 6},
	{"host-unknown", 3, 7},
	{"network-prohibited", 3, 9},
	{"host-prohibited", 3, 10},
	{"TOS-network-unreachable", 3, 11},
	{"TOS-host-unreachable", 3, 12},
	{"communication-prohibited", 3, 13},
	{"host-precedence-violation", 3, 14},
	{"precedence-cutoff", 3, 15},
	{"source-quench", 4, 0},
	{"redirect", 5, 0},
	{"network-redirect", 5, 0},
	{"host-redirect", 5, 1},
	{"TOS-network-redirect", 5, 2},
	{"TOS-host-redirect", 5, 3},
	{"echo-request", 8, 0},
	{"ping", 8, 0},
	{"router-advertisement", 9, 0},
	{"router-solicitation", 10, 0},
	{"time-exceeded", 11, 0},
	{"ttl-exceeded", 11, 0},
	{"ttl-zero-during-transit", 11, 0},
	{"ttl-zero-during-reassembly", 11, 1},
	{"parameter-problem", 12, 0},
	{"ip-header-bad", 12, 0},
	{"required-option-missing", 12, 1},
	{"timestamp-request", 13, 0},
	{"timestamp-reply", 14, 0},
	{"address-mask-request", 17, 0},
	{"address-mask-reply", 18, 0},
}

// icmp6Names are ip6tables' --icmpv6-type names (ip6tables -p icmpv6
// -h), as icmpNames.
var icmp6Names = []struct {
	name      string
	typ, code uint8
}{
	{"destination-unreachable", 1, 0},
	{"no-route", 1, 0},
	{"communication-prohibited", 1, 1},
	{"beyond-scope", 1, 2},
	{"address-unreachable", 1, 3},
	{"port-unreachable", 1, 4},
	{"failed-policy", 1, 5},
	{"reject-route", 1, 6},
	{"packet-too-big", 2, 0},
	{"time-exceeded", 3, 0},
	{"ttl-exceeded", 3, 0},
	{"ttl-zero-during-transit", 3, 0},
	{"ttl-zero-during-reassembly", 3, 1},
	{"parameter-problem", 4, 0},
	{"bad-header", 4, 0},
	{"unknown-header-type", 4, 1},
	{"unknown-option", 4, 2},
	{"echo-request", 128, 0},
	{"ping", 128, 0},
	{"echo-reply", 129, 0},
	{"pong", 129, 0},
	{"router-solicitation", 133, 0},
	{"router-advertisement", 134, 0},
	{"neighbour-solicitation", 135, 0},
	{"neighbor-solicitation", 135, 0},
	{"neighbour-advertisement", 136, 0},
	{"neighbor-advertisement", 136, 0},
	{"redirect", 137, 0},
}

// parseICMPWord parses "N/M" or an icmp (v6: icmpv6) type name.
func parseICMPWord(w string, v6 bool) (typ, code uint8, ok bool) {
	if t, c, found := strings.Cut(w, "/"); found {
		tn, err1 := strconv.ParseUint(t, 10, 8)
		cn, err2 := strconv.ParseUint(c, 10, 8)
		return uint8(tn), uint8(cn), err1 == nil && err2 == nil
	}
	if v6 {
		for _, n := range icmp6Names {
			if n.name == w {
				return n.typ, n.code, true
			}
		}
		return 0, 0, false
	}
	for _, n := range icmpNames {
		if n.name == w {
			return n.typ, n.code, true
		}
	}
	return 0, 0, false
}

// String returns d in the short form (see ParseShort), such that ParseShort gives d back
// for every d that Validate accepts, except for interface names the form
// cannot carry ("local", and names with '>', which the kernel allows but
// which read as the keyword and the arrow): the interface ("local", or nothing
// when neither is set), protocol ("tcp(raw)", "udp(raw)" or "icmp(raw)"
// for a raw packet), endpoints, then tcp flags (only when
// Flags is set; "none" for no flag), the icmp type as "type N" with
// " code M" when M is not 0, inner, and KEY=VALUE (df, mf as bare words)
// for every other field that is set, in packets.md's order. An invalid d
// is printed as faithfully as the form allows.
func (d Desc) String() string {
	var b strings.Builder
	switch {
	case d.Local:
		b.WriteString("local ")
	case d.In != "":
		b.WriteString(d.In)
		b.WriteByte(' ')
	}
	b.WriteString(d.protoWord())
	b.WriteByte(' ')
	writeEndpoint(&b, d.Src, d.Sport, d.hasPorts() || d.Sport != 0)
	b.WriteString(" > ")
	writeEndpoint(&b, d.Dst, d.Dport, d.hasPorts() || d.Dport != 0)
	if d.Flags != nil {
		if d.is(ProtoTCP) {
			b.WriteByte(' ')
			if *d.Flags == 0 {
				b.WriteString("none")
			} else {
				b.WriteString(d.Flags.String())
			}
		} else {
			fmt.Fprintf(&b, " flags=%s", d.Flags)
		}
	}
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	if d.Seq != nil {
		kv("seq", *d.Seq)
	}
	if d.Ack != nil {
		kv("ack", *d.Ack)
	}
	if d.Window != nil {
		kv("window", *d.Window)
	}
	if d.isICMP() || d.Type != 0 {
		fmt.Fprintf(&b, " type %d", d.Type)
	}
	if d.Code != 0 {
		fmt.Fprintf(&b, " code %d", d.Code)
	}
	if in := d.Inner; in != nil {
		fmt.Fprintf(&b, " inner %s ", in.Proto)
		writeEndpoint(&b, in.Src, in.Sport, true)
		b.WriteString(" > ")
		writeEndpoint(&b, in.Dst, in.Dport, true)
	}
	if d.Len != 0 {
		kv("len", d.Len)
	}
	if d.TTL != nil {
		kv("ttl", *d.TTL)
	}
	if d.TOS != 0 {
		kv("tos", d.TOS)
	}
	if d.ID != nil {
		kv("id", *d.ID)
	}
	if d.DF {
		b.WriteString(" df")
	}
	if d.FragOff != 0 {
		kv("frag_off", d.FragOff)
	}
	if d.MF {
		b.WriteString(" mf")
	}
	if !d.SrcMAC.IsZero() {
		kv("src_mac", d.SrcMAC)
	}
	if d.DelayMS != 0 {
		kv("delay_ms", d.DelayMS)
	}
	if d.Flow != 0 {
		kv("flow", d.Flow)
	}
	if len(d.Ext) > 0 {
		kv("ext", extShort(d.Ext))
	}
	if d.Target.IsValid() {
		kv("target", d.Target)
	}
	if d.MTU != nil {
		kv("mtu", *d.MTU)
	}
	if d.Pointer != 0 {
		kv("pointer", d.Pointer)
	}
	if d.CT != nil {
		if d.CT.Line != "" {
			fmt.Fprintf(&b, " ct=%q", d.CT.Line)
		} else {
			kv("ct", d.CT)
		}
	}
	return b.String()
}

func writeEndpoint(b *strings.Builder, a netip.Addr, port uint16, withPort bool) {
	switch {
	case !a.IsValid():
		b.WriteString("invalid")
	case withPort && !a.Is4():
		b.WriteByte('[')
		b.WriteString(a.String())
		b.WriteByte(']')
	default:
		b.WriteString(a.String())
	}
	if withPort {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(port)))
	}
}
