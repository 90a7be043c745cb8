package ext

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync"

	"github.com/ipsift/ipsift/packet"
)

// LOG (iptables' libxt_LOG, the kernel's xt_LOG and nf_log_syslog):
// write a line about the packet to Ctx.Log and go on with the next rule.
//
// The line is exactly the message the kernel hands to printk, without the
// syslog level the kernel puts in front of it and without the timestamp
// the log reader adds, followed by a newline. For IPv4 it reads:
//
//	PREFIX IN=eth0 OUT= MAC=DST:SRC:TYPE SRC=a.b.c.d DST=a.b.c.d LEN=n
//	TOS=0xNN PREC=0xNN TTL=n ID=n [CE ][DF ][MF ][FRAG:n ][OPT (HEX) ]
//	PROTO=... [UID=n GID=n ][MARK=0xn ]
//
// (one line; every field is followed by one space, so the line ends in a
// space before the newline, as the kernel's does). The prefix is printed
// as given, with no space added. After PROTO:
//
//	TCP:  SPT=n DPT=n [SEQ=n ACK=n ]WINDOW=n RES=0xnn [AE ][CWR ][ECE ]
//	      [URG ][ACK ][PSH ][RST ][SYN ][FIN ]URGP=n [OPT (HEX) ]
//	UDP, UDPLITE: SPT=n DPT=n LEN=n
//	ICMP: TYPE=n CODE=n, then ID=n SEQ=n (echo), PARAMETER=n,
//	      GATEWAY=a.b.c.d, and for errors the quoted packet in [ ... ]
//	      (dumped the same way, once) and MTU=n for "fragmentation needed"
//	AH, ESP: SPI=0xn;  others: PROTO=n
//
// Hex in OPT ( ) is upper case, RES and MARK lower case. A non-first
// fragment stops after PROTO=...; a header cut short prints
// "INCOMPLETE [n bytes] " (n = bytes from the transport header on) and,
// for TCP and UDP, ends the line there (no UID, no MARK), as the kernel's
// does. SEQ/ACK need --log-tcp-sequence, TCP OPT --log-tcp-options, IP OPT
// --log-ip-options, UID/GID --log-uid (and a local socket: Ctx.UID >= 0).
//
// MAC= appears only when the packet came in on an interface (Ctx.In): it
// is the 14-byte Ethernet header, destination, source, type 08:00, in
// lower-case hex separated by colons. ipsift knows the source (Ctx.SrcMAC)
// but not the destination address the frame carried, so it writes the
// input interface's address for a packet to this host or another host,
// ff:ff:ff:ff:ff:ff for a broadcast and 01:00:5e:... for a multicast
// frame; "lo" shows all zeros; without a known source (Ctx.HasMAC false)
// it writes "MAC= " as the kernel does for interfaces without a link
// header. With --log-macdecode the kernel writes instead
// "MACSRC=src MACDST=dst MACPROTO=0800 ".
//
// The kernel logs from other network namespaces only when
// net.netfilter.nf_log_all_netns is set; ipsift always logs.

// LOG flags (XT_LOG_*).
const (
	logTCPSeq    = 0x01
	logTCPOpt    = 0x02
	logIPOpt     = 0x04
	logUID       = 0x08
	logMACDecode = 0x20
	logMask      = 0x2f
)

const logDefaultLevel = 4 // LOG_WARNING

type logTarget struct {
	level  uint8
	flags  uint8
	prefix string
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "LOG",
		Family: AnyFamily,
		Options: []Option{
			{Name: "log-level", Arg: OneArg},
			{Name: "log-prefix", Arg: OneArg},
			{Name: "log-tcp-sequence", Arg: NoArg},
			{Name: "log-tcp-options", Arg: NoArg},
			{Name: "log-ip-options", Arg: NoArg},
			{Name: "log-uid", Arg: NoArg},
			{Name: "log-macdecode", Arg: NoArg},
		},
		New: func() Target { return &logTarget{level: logDefaultLevel} },
	})
}

// syslogLevels are the names --log-level takes (xtables' list).
var syslogLevels = map[string]uint8{
	"alert": 1, "crit": 2, "debug": 7, "emerg": 0, "error": 3,
	"info": 6, "notice": 5, "panic": 0, "warning": 4,
}

// ParseLogLevel reads a syslog level as xtables does: a number 0-7 or one
// of alert crit debug emerg error info notice panic warning.
func ParseLogLevel(s string) (uint8, error) {
	if v, err := ParseUint(s, 0, 7); err == nil {
		return uint8(v), nil
	}
	if v, ok := syslogLevels[s]; ok {
		return v, nil
	}
	return 0, Errorf("log level %q unknown: use 0-7 or emerg, alert, crit, error, warning, notice, info, debug", s)
}

// logPrefixMax is the longest prefix the kernel keeps (30 bytes with the
// terminating NUL); iptables cuts longer ones silently.
const logPrefixMax = 29

// Parse implements Parser.
func (t *logTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "log-level":
		l, err := ParseLogLevel(arg)
		if err != nil {
			return err
		}
		t.level = l
	case "log-prefix":
		p, err := parseLogPrefix(arg, logPrefixMax)
		if err != nil {
			return err
		}
		t.prefix = p
	case "log-tcp-sequence":
		t.flags |= logTCPSeq
	case "log-tcp-options":
		t.flags |= logTCPOpt
	case "log-ip-options":
		t.flags |= logIPOpt
	case "log-uid":
		t.flags |= logUID
	case "log-macdecode":
		t.flags |= logMACDecode
	}
	return nil
}

// parseLogPrefix checks a --log-prefix or --nflog-prefix and cuts it to
// max bytes, as iptables does when it copies it into the kernel's field.
func parseLogPrefix(arg string, max int) (string, error) {
	if arg == "" {
		return "", Errorf("the prefix must have at least 1 character")
	}
	if strings.Contains(arg, "\n") {
		return "", Errorf("newlines not allowed in --log-prefix")
	}
	if len(arg) > max {
		arg = arg[:max]
	}
	return arg, nil
}

// Finish implements Parser.
func (t *logTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *logTarget) Save(b *strings.Builder) {
	if t.prefix != "" {
		b.WriteString(" --log-prefix")
		SaveString(b, t.prefix)
	}
	if t.level != logDefaultLevel {
		b.WriteString(" --log-level ")
		b.WriteString(strconv.Itoa(int(t.level)))
	}
	if t.flags&logTCPSeq != 0 {
		b.WriteString(" --log-tcp-sequence")
	}
	if t.flags&logTCPOpt != 0 {
		b.WriteString(" --log-tcp-options")
	}
	if t.flags&logIPOpt != 0 {
		b.WriteString(" --log-ip-options")
	}
	if t.flags&logUID != 0 {
		b.WriteString(" --log-uid")
	}
	if t.flags&logMACDecode != 0 {
		b.WriteString(" --log-macdecode")
	}
}

// priorityNames is glibc's prioritynames order: the first name of a
// level is the one iptables -L prints.
var priorityNames = [...]string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"}

// Print implements Parser.
func (t *logTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" LOG")
	if numeric {
		b.WriteString(" flags " + strconv.Itoa(int(t.flags)) + " level " + strconv.Itoa(int(t.level)))
	} else {
		if int(t.level) < len(priorityNames) {
			b.WriteString(" level " + priorityNames[t.level])
		} else {
			b.WriteString(" UNKNOWN level " + strconv.Itoa(int(t.level)))
		}
		for _, f := range []struct {
			bit  uint8
			name string
		}{{logTCPSeq, "tcp-sequence"}, {logTCPOpt, "tcp-options"}, {logIPOpt, "ip-options"}, {logUID, "uid"}, {logMACDecode, "macdecode"}} {
			if t.flags&f.bit != 0 {
				b.WriteString(" " + f.name)
			}
		}
		if t.flags&^logMask != 0 {
			b.WriteString(" unknown-flags")
		}
	}
	if t.prefix != "" {
		b.WriteString(" prefix \"" + t.prefix + "\"")
	}
}

var logBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Compile implements Target.
func (t *logTarget) Compile(c *Compiler) (Action, error) {
	prefix := t.prefix
	flags := t.flags
	return ActionFunc(func(c *Ctx) Verdict {
		if c.Log == nil || c.Pkt == nil {
			return Continue
		}
		bp := logBufs.Get().(*[]byte)
		b := AppendLogLine((*bp)[:0], c, prefix, flags)
		c.Log.Write(b)
		*bp = b
		logBufs.Put(bp)
		return Continue
	}), nil
}

// AppendLogLine appends the kernel's LOG line for the packet in c (see
// the file comment), newline included, and returns the extended buffer.
// flags are the XT_LOG_* bits.
func AppendLogLine(b []byte, c *Ctx, prefix string, flags uint8) []byte {
	b = append(b, prefix...)
	b = append(b, "IN="...)
	if c.In != nil {
		b = append(b, c.In.Name...)
	}
	b = append(b, " OUT="...)
	if c.Out != nil {
		b = append(b, c.Out.Name...)
	}
	b = append(b, ' ')
	if c.In != nil {
		b = appendLogMAC(b, c, flags)
	}
	d := rejectData(c.Pkt)
	if c.Pkt.Version == 6 {
		b = appendLogIPv6(b, c, d, 0, flags, true)
	} else {
		b = appendLogIPv4(b, c, d, 0, flags)
	}
	return append(b, '\n')
}

func appendMAC(b []byte, m []byte) []byte {
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendHex2(b, x, false)
	}
	return b
}

const hexLower, hexUpper = "0123456789abcdef", "0123456789ABCDEF"

func appendHex2(b []byte, x byte, upper bool) []byte {
	h := hexLower
	if upper {
		h = hexUpper
	}
	return append(b, h[x>>4], h[x&15])
}

// logDstMAC is the destination address of the frame, as well as ipsift
// can tell it (see the file comment).
func logDstMAC(c *Ctx) [6]byte {
	switch c.PktType {
	case PktBroadcast:
		return [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case PktMulticast:
		if c.Pkt != nil && c.Pkt.Dst.Is4() {
			a := c.Pkt.Dst.As4()
			return [6]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
		}
	}
	return c.In.MAC
}

func appendLogMAC(b []byte, c *Ctx, flags uint8) []byte {
	lo := c.In.Name == "lo"
	if flags&logMACDecode != 0 && c.HasMAC && !lo {
		dst := logDstMAC(c)
		b = append(b, "MACSRC="...)
		b = appendMAC(b, c.SrcMAC[:])
		b = append(b, " MACDST="...)
		b = appendMAC(b, dst[:])
		if c.Pkt != nil && c.Pkt.Version == 6 {
			return append(b, " MACPROTO=86dd "...)
		}
		return append(b, " MACPROTO=0800 "...)
	}
	b = append(b, "MAC="...)
	switch {
	case lo:
		var z [6]byte
		b = appendMAC(b, z[:])
		b = append(b, ':')
		b = appendMAC(b, z[:])
		b = appendEtherType(b, c)
	case c.HasMAC:
		dst := logDstMAC(c)
		b = appendMAC(b, dst[:])
		b = append(b, ':')
		b = appendMAC(b, c.SrcMAC[:])
		b = appendEtherType(b, c)
	}
	return append(b, ' ')
}

// appendEtherType writes the frame's type as the MAC= dump ends it:
// ":08:00" for IPv4, ":86:dd" for IPv6.
func appendEtherType(b []byte, c *Ctx) []byte {
	if c.Pkt != nil && c.Pkt.Version == 6 {
		return append(b, ":86:dd"...)
	}
	return append(b, ":08:00"...)
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

func appendIPv4(b []byte, a []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			b = append(b, '.')
		}
		b = appendUint(b, uint64(a[i]))
	}
	return b
}

func appendIncomplete(b []byte, n int) []byte {
	b = append(b, "INCOMPLETE ["...)
	b = appendUint(b, uint64(n))
	return append(b, " bytes] "...)
}

// icmpRequiredLen is nf_log's required_len: the bytes an ICMP message of
// a type needs before its fields are printed.
var icmpRequiredLen = [19]int{0: 4, 3: 28, 4: 28, 5: 28, 8: 4, 11: 28, 12: 28, 13: 20, 14: 20, 17: 12, 18: 12}

// appendLogIPv4 is dump_ipv4_packet on the packet bytes d (the skb) with
// the IP header at off; off 0 is the packet itself, anything else the
// packet an ICMP error quotes.
func appendLogIPv4(b []byte, c *Ctx, d []byte, off int, flags uint8) []byte {
	if len(d) < off+20 {
		return append(b, "TRUNCATED"...)
	}
	ih := d[off:]
	b = append(b, "SRC="...)
	b = appendIPv4(b, ih[12:16])
	b = append(b, " DST="...)
	b = appendIPv4(b, ih[16:20])
	b = append(b, " LEN="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(ih[2:])))
	b = append(b, " TOS=0x"...)
	b = appendHex2(b, ih[1]&0x1e, true)
	b = append(b, " PREC=0x"...)
	b = appendHex2(b, ih[1]&0xe0, true)
	b = append(b, " TTL="...)
	b = appendUint(b, uint64(ih[8]))
	b = append(b, " ID="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(ih[4:])))
	b = append(b, ' ')
	frag := binary.BigEndian.Uint16(ih[6:])
	if frag&0x8000 != 0 {
		b = append(b, "CE "...)
	}
	if frag&0x4000 != 0 {
		b = append(b, "DF "...)
	}
	if frag&0x2000 != 0 {
		b = append(b, "MF "...)
	}
	fragOff := frag & 0x1fff
	if fragOff != 0 {
		b = append(b, "FRAG:"...)
		b = appendUint(b, uint64(fragOff))
		b = append(b, ' ')
	}
	ihl := int(ih[0]&0x0f) * 4
	if flags&logIPOpt != 0 && ihl > 20 {
		if len(d) < off+ihl {
			return append(b, "TRUNCATED"...)
		}
		b = append(b, "OPT ("...)
		for _, x := range ih[20:ihl] {
			b = appendHex2(b, x, true)
		}
		b = append(b, ") "...)
	}
	l4off := off + ihl
	proto := ih[9]
	switch proto {
	case packet.ProtoTCP:
		b = append(b, "PROTO=TCP "...)
		if fragOff == 0 {
			var stop bool
			if b, stop = appendLogTCP(b, d, l4off, flags); stop {
				return b
			}
		}
	case packet.ProtoUDP, 136:
		if proto == packet.ProtoUDP {
			b = append(b, "PROTO=UDP "...)
		} else {
			b = append(b, "PROTO=UDPLITE "...)
		}
		if fragOff == 0 {
			var stop bool
			if b, stop = appendLogUDP(b, d, l4off); stop {
				return b
			}
		}
	case packet.ProtoICMP:
		b = append(b, "PROTO=ICMP "...)
		if fragOff == 0 {
			b = appendLogICMP(b, c, d, off, l4off, flags)
		}
	case 51: // AH
		if fragOff != 0 {
			break
		}
		b = append(b, "PROTO=AH "...)
		if len(d) < l4off+12 {
			b = appendIncomplete(b, len(d)-l4off)
			break
		}
		b = append(b, "SPI=0x"...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[l4off+4:])), 16)
		b = append(b, ' ')
	case 50: // ESP
		b = append(b, "PROTO=ESP "...)
		if fragOff != 0 {
			break
		}
		if len(d) < l4off+8 {
			b = appendIncomplete(b, len(d)-l4off)
			break
		}
		b = append(b, "SPI=0x"...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[l4off:])), 16)
		b = append(b, ' ')
	default:
		b = append(b, "PROTO="...)
		b = appendUint(b, uint64(proto))
		b = append(b, ' ')
	}
	if off == 0 {
		b = appendLogOwnerMark(b, c, flags)
	}
	return b
}

// appendLogUDP is nf_log_dump_udp_header after its PROTO= for a first
// fragment; stop reports that the kernel ends the line there (the
// header cut short).
func appendLogUDP(b []byte, d []byte, l4off int) ([]byte, bool) {
	if len(d) < l4off+8 {
		return appendIncomplete(b, len(d)-l4off), true
	}
	u := d[l4off:]
	b = append(b, "SPT="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(u[0:])))
	b = append(b, " DPT="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(u[2:])))
	b = append(b, " LEN="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(u[4:])))
	return append(b, ' '), false
}

// appendLogTCP is nf_log_dump_tcp_header for a first fragment; stop
// reports that the kernel ends the line there.
func appendLogTCP(b []byte, d []byte, off int, flags uint8) ([]byte, bool) {
	if len(d) < off+20 {
		return appendIncomplete(b, len(d)-off), true
	}
	th := d[off:]
	b = append(b, "SPT="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(th[0:])))
	b = append(b, " DPT="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(th[2:])))
	b = append(b, ' ')
	if flags&logTCPSeq != 0 {
		b = append(b, "SEQ="...)
		b = appendUint(b, uint64(binary.BigEndian.Uint32(th[4:])))
		b = append(b, " ACK="...)
		b = appendUint(b, uint64(binary.BigEndian.Uint32(th[8:])))
		b = append(b, ' ')
	}
	b = append(b, "WINDOW="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(th[14:])))
	b = append(b, " RES=0x"...)
	b = appendHex2(b, (th[12]&0x0e)<<2, false)
	b = append(b, ' ')
	if th[12]&0x01 != 0 {
		b = append(b, "AE "...)
	}
	f := th[13]
	for _, x := range [...]struct {
		bit  uint8
		name string
	}{{packet.TCPCwr, "CWR "}, {packet.TCPEce, "ECE "}, {packet.TCPUrg, "URG "}, {packet.TCPAck, "ACK "}, {packet.TCPPsh, "PSH "}, {packet.TCPRst, "RST "}, {packet.TCPSyn, "SYN "}, {packet.TCPFin, "FIN "}} {
		if f&x.bit != 0 {
			b = append(b, x.name...)
		}
	}
	b = append(b, "URGP="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(th[18:])))
	b = append(b, ' ')
	doff := int(th[12]>>4) * 4
	if flags&logTCPOpt != 0 && doff > 20 {
		if len(d) < off+doff {
			return append(b, "OPT (TRUNCATED)"...), true
		}
		b = append(b, "OPT ("...)
		for _, x := range th[20:doff] {
			b = appendHex2(b, x, true)
		}
		b = append(b, ") "...)
	}
	return b, false
}

func appendLogICMP(b []byte, c *Ctx, d []byte, ipoff, off int, flags uint8) []byte {
	if len(d) < off+8 {
		return appendIncomplete(b, len(d)-off)
	}
	ich := d[off:]
	typ, code := ich[0], ich[1]
	b = append(b, "TYPE="...)
	b = appendUint(b, uint64(typ))
	b = append(b, " CODE="...)
	b = appendUint(b, uint64(code))
	b = append(b, ' ')
	if int(typ) < len(icmpRequiredLen) && icmpRequiredLen[typ] != 0 && len(d)-off < icmpRequiredLen[typ] {
		return appendIncomplete(b, len(d)-off)
	}
	switch typ {
	case 0, 8:
		b = append(b, "ID="...)
		b = appendUint(b, uint64(binary.BigEndian.Uint16(ich[4:])))
		b = append(b, " SEQ="...)
		b = appendUint(b, uint64(binary.BigEndian.Uint16(ich[6:])))
		b = append(b, ' ')
	case 12:
		b = append(b, "PARAMETER="...)
		b = appendUint(b, uint64(ich[4]))
		b = append(b, ' ')
	case 5, 3, 4, 11:
		if typ == 5 {
			b = append(b, "GATEWAY="...)
			b = appendIPv4(b, ich[4:8])
			b = append(b, ' ')
		}
		if ipoff == 0 { // only one level deep
			b = append(b, '[')
			b = appendLogIPv4(b, c, d, off+8, flags)
			b = append(b, "] "...)
		}
		if typ == 3 && code == 4 {
			b = append(b, "MTU="...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(ich[6:])))
			b = append(b, ' ')
		}
	}
	return b
}

// appendLogIPv6 is dump_ipv6_packet on the packet bytes d with the IPv6
// header at off (0: the packet; otherwise the packet an ICMPv6 error
// quotes, with recurse false). The line for IPv6 reads
//
//	SRC=2001:0db8:...:0007 DST=... LEN=n TC=n HOPLIMIT=n FLOWLBL=n
//	[OPT ( ...) ...] [FRAG:n [INCOMPLETE ]ID:xxxxxxxx ] PROTO=...
//
// with the addresses in full, four lower-case hex digits a group; LEN
// is the payload length plus 40. The extension headers are walked (Hop-
// by-Hop, Routing, Destination Options, Fragment, AH, ESP): only with
// --log-ip-options is each shown, as "OPT ( " ... ") " (AH with its SPI,
// ESP with its SPI, which ends the line); a Fragment header is shown
// always (its offset in bytes, INCOMPLETE when more fragments follow,
// its identification), and after a later fragment's Fragment header an
// extension header ends the line. ICMPv6 prints TYPE and CODE, ID and
// SEQ for echo, POINTER for a parameter problem (eight hex digits), and
// for errors the quoted packet in brackets once, then MTU for a packet
// too big.
func appendLogIPv6(b []byte, c *Ctx, d []byte, off int, flags uint8, recurse bool) []byte {
	if len(d) < off+40 {
		return append(b, "TRUNCATED"...)
	}
	ih := d[off:]
	b = append(b, "SRC="...)
	b = appendIPv6Full(b, ih[8:24])
	b = append(b, " DST="...)
	b = appendIPv6Full(b, ih[24:40])
	v := binary.BigEndian.Uint32(ih)
	b = append(b, " LEN="...)
	b = appendUint(b, uint64(binary.BigEndian.Uint16(ih[4:]))+40)
	b = append(b, " TC="...)
	b = appendUint(b, uint64(v>>20&0xff))
	b = append(b, " HOPLIMIT="...)
	b = appendUint(b, uint64(ih[7]))
	b = append(b, " FLOWLBL="...)
	b = appendUint(b, uint64(v&0xfffff))
	b = append(b, ' ')
	opt := flags&logIPOpt != 0
	fragment := false
	ptr := off + 40
	cur := ih[6]
	for cur != packet.ProtoNoNext && (packet.IsExtHdr(cur) || cur == packet.ProtoESP) {
		if len(d) < ptr+2 {
			return append(b, "TRUNCATED"...)
		}
		if opt {
			b = append(b, "OPT ( "...)
		}
		hl := 0
		switch cur {
		case packet.ProtoFragment:
			b = append(b, "FRAG:"...)
			if len(d) < ptr+8 {
				return append(b, "TRUNCATED "...)
			}
			fo := binary.BigEndian.Uint16(d[ptr+2:])
			b = appendUint(b, uint64(fo&0xfff8))
			b = append(b, ' ')
			if fo&1 != 0 {
				b = append(b, "INCOMPLETE "...)
			}
			b = append(b, "ID:"...)
			id := binary.BigEndian.Uint32(d[ptr+4:])
			for sh := 28; sh >= 0; sh -= 4 {
				b = append(b, hexLower[id>>uint(sh)&15])
			}
			b = append(b, ' ')
			fragment = fo&0xfff8 != 0
			hl = 8
		case packet.ProtoDstOpts, packet.ProtoRouting, packet.ProtoHopOpts:
			if fragment {
				if opt {
					b = append(b, ')')
				}
				return b
			}
			hl = (int(d[ptr+1]) + 1) * 8
		case packet.ProtoAH:
			if opt {
				b = append(b, "AH "...)
				if fragment {
					return append(b, ')')
				}
				if len(d) < ptr+12 {
					b = append(b, "INCOMPLETE ["...)
					b = appendUint(b, uint64(len(d)-ptr))
					return append(b, " bytes] )"...)
				}
				b = append(b, "SPI=0x"...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[ptr+4:])), 16)
				b = append(b, ' ')
			}
			hl = (int(d[ptr+1]) + 2) * 4
		case packet.ProtoESP:
			if opt {
				b = append(b, "ESP "...)
				if fragment {
					return append(b, ')')
				}
				if len(d) < ptr+8 {
					b = append(b, "INCOMPLETE ["...)
					b = appendUint(b, uint64(len(d)-ptr))
					return append(b, " bytes] )"...)
				}
				b = append(b, "SPI=0x"...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[ptr:])), 16)
				b = append(b, " )"...)
			}
			return b
		}
		if opt {
			b = append(b, ") "...)
		}
		cur = d[ptr]
		ptr += hl
	}
	switch cur {
	case packet.ProtoTCP:
		b = append(b, "PROTO=TCP "...)
		if !fragment {
			var stop bool
			if b, stop = appendLogTCP(b, d, ptr, flags); stop {
				return b
			}
		}
	case packet.ProtoUDP, 136:
		if cur == packet.ProtoUDP {
			b = append(b, "PROTO=UDP "...)
		} else {
			b = append(b, "PROTO=UDPLITE "...)
		}
		if !fragment {
			var stop bool
			if b, stop = appendLogUDP(b, d, ptr); stop {
				return b
			}
		}
	case packet.ProtoICMPv6:
		b = append(b, "PROTO=ICMPv6 "...)
		if fragment {
			break
		}
		if len(d) < ptr+8 {
			return appendIncomplete(b, len(d)-ptr)
		}
		ic := d[ptr:]
		b = append(b, "TYPE="...)
		b = appendUint(b, uint64(ic[0]))
		b = append(b, " CODE="...)
		b = appendUint(b, uint64(ic[1]))
		b = append(b, ' ')
		switch ic[0] {
		case 128, 129:
			b = append(b, "ID="...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(ic[4:])))
			b = append(b, " SEQ="...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(ic[6:])))
			b = append(b, ' ')
		case 1, 2, 3, 4:
			if ic[0] == 4 {
				b = append(b, "POINTER="...)
				p := binary.BigEndian.Uint32(ic[4:])
				for sh := 28; sh >= 0; sh -= 4 {
					b = append(b, hexLower[p>>uint(sh)&15])
				}
				b = append(b, ' ')
			}
			if recurse {
				b = append(b, '[')
				b = appendLogIPv6(b, c, d, ptr+8, flags, false)
				b = append(b, "] "...)
			}
			if ic[0] == 2 {
				b = append(b, "MTU="...)
				b = appendUint(b, uint64(binary.BigEndian.Uint32(ic[4:])))
				b = append(b, ' ')
			}
		}
	default:
		b = append(b, "PROTO="...)
		b = appendUint(b, uint64(cur))
		b = append(b, ' ')
	}
	if recurse {
		b = appendLogOwnerMark(b, c, flags)
	}
	return b
}

// appendLogOwnerMark ends the outermost packet's line in both families,
// as nf_log_dump_sk_uid_gid and the MARK= of nf_log_ip_packet and
// nf_log_ip6_packet do: the sending socket's owner with --log-uid, the
// packet mark when it is set.
func appendLogOwnerMark(b []byte, c *Ctx, flags uint8) []byte {
	if flags&logUID != 0 && c.UID >= 0 {
		b = append(b, "UID="...)
		b = appendUint(b, uint64(c.UID))
		b = append(b, " GID="...)
		b = appendUint(b, uint64(max(c.GID, 0)))
		b = append(b, ' ')
	}
	if c.Mark != 0 {
		b = append(b, "MARK=0x"...)
		b = strconv.AppendUint(b, uint64(c.Mark), 16)
		b = append(b, ' ')
	}
	return b
}

// appendIPv6Full writes an IPv6 address as the kernel's %pI6 does:
// eight groups of four lower-case hex digits, leading zeros kept.
func appendIPv6Full(b []byte, a []byte) []byte {
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendHex2(b, a[i], false)
		b = appendHex2(b, a[i+1], false)
	}
	return b
}
