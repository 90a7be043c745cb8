package packet

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// CT is a packet's connection context: the conntrack entry the packet
// belongs to, put into the table just before the packet is processed,
// so that one packet can be tried as part of an established (or NATed,
// or marked) connection without sending its handshake first.
//
// It is written in one of two forms (the "ct" field of the packets
// format, ct=... in the short form):
//
//   - compact, comma separated words: a state, then options:
//     "established" (both directions seen, assured; TCP ESTABLISHED),
//     "unreplied" (only the original direction seen; TCP SYN_SENT), or a
//     TCP state as conntrack -L prints it (syn_recv, fin_wait,
//     close_wait, last_ack, time_wait, close, syn_sent2; any case);
//     "reply": this packet travels in the reply direction;
//     "mark=N": the connection mark; "snat=ADDR[:PORT]",
//     "dnat=ADDR[:PORT]": NAT done on the connection (the addresses an
//     SNAT or DNAT --to gave); "timeout=S": seconds left. The tuples
//     are the packet's own.
//     Example: ct=established,reply or ct=established,dnat=192.0.2.10:80,mark=0x10.
//   - a line of `conntrack -L -o extended` (JSON only, it has spaces):
//     "ipv4 2 tcp 6 431999 ESTABLISHED src=... dst=... sport=... dport=...
//     src=... dst=... sport=... dport=... [ASSURED] mark=0 use=1": the
//     whole entry, both tuples as written; the packet's direction is the
//     tuple it matches.
type CT struct {
	Line    string         // the conntrack -L -o extended line, when given so; the fields below are unused then
	State   string         // ESTABLISHED, UNREPLIED or a TCP state name, upper case
	Reply   bool           // the packet travels in the reply direction
	Mark    uint32         // ct mark
	SNAT    netip.AddrPort // source NAT to this address (port 0: ports kept)
	DNAT    netip.AddrPort // destination NAT to this address (port 0: ports kept)
	Timeout uint32         // seconds left; 0: the default for the state
}

// ctTCPStates are the TCP states conntrack -L prints that an entry can
// be put in (conntrack.TCPState's names; a test checks they agree).
var ctTCPStates = []string{"SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// ParseCT parses a connection context in either form (see CT).
func ParseCT(s string) (*CT, error) {
	if strings.HasPrefix(s, "ipv4 ") || strings.HasPrefix(s, "ipv6 ") {
		return &CT{Line: s}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("ct: empty: want a state (established, unreplied, ...) or a conntrack -L -o extended line")
	}
	c := &CT{}
	for i, w := range strings.Split(s, ",") {
		k, v, kv := strings.Cut(w, "=")
		if i == 0 {
			if kv {
				return nil, fmt.Errorf("ct=%s: begins with the state (established, unreplied or a TCP state), not %q", s, w)
			}
			up := strings.ToUpper(w)
			if up != "UNREPLIED" && !slicesContains(ctTCPStates, up) {
				return nil, fmt.Errorf("ct=%s: %q is not a state: want established, unreplied or a TCP state (%s)", s, w, strings.ToLower(strings.Join(ctTCPStates, ", ")))
			}
			c.State = up
			continue
		}
		var err error
		switch {
		case w == "reply":
			c.Reply = true
		case kv && k == "mark":
			var n uint64
			n, err = parseShortUint(v, 32)
			c.Mark = uint32(n)
		case kv && k == "timeout":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 32)
			c.Timeout = uint32(n)
			if err == nil && n == 0 {
				err = fmt.Errorf("zero")
			}
		case kv && (k == "snat" || k == "dnat"):
			var ap netip.AddrPort
			ap, err = parseAddrPort(v)
			if k == "snat" {
				c.SNAT = ap
			} else {
				c.DNAT = ap
			}
		default:
			return nil, fmt.Errorf("ct=%s: %q: want reply, mark=N, snat=ADDR[:PORT], dnat=ADDR[:PORT] or timeout=SECONDS", s, w)
		}
		if err != nil {
			return nil, fmt.Errorf("ct=%s: %q: %v", s, w, err)
		}
	}
	return c, nil
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// parseAddrPort parses ADDR, ADDR:PORT or [ADDR6]:PORT.
func parseAddrPort(v string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(strings.Trim(v, "[]")); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 0), nil
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil || ap.Addr().Zone() != "" {
		return ap, fmt.Errorf("want ADDR, ADDR:PORT or [IPv6]:PORT")
	}
	return ap, nil
}

// String returns the context as ParseCT reads it.
func (c *CT) String() string {
	if c.Line != "" {
		return c.Line
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(c.State))
	if c.Reply {
		b.WriteString(",reply")
	}
	if c.Mark != 0 {
		fmt.Fprintf(&b, ",mark=0x%x", c.Mark)
	}
	ap := func(k string, a netip.AddrPort) {
		if !a.IsValid() {
			return
		}
		if a.Port() == 0 {
			fmt.Fprintf(&b, ",%s=%s", k, a.Addr())
		} else {
			fmt.Fprintf(&b, ",%s=%s", k, a)
		}
	}
	ap("snat", c.SNAT)
	ap("dnat", c.DNAT)
	if c.Timeout != 0 {
		fmt.Fprintf(&b, ",timeout=%d", c.Timeout)
	}
	return b.String()
}

// MarshalJSON writes the context as a JSON string.
func (c *CT) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON reads a JSON string with ParseCT.
func (c *CT) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a string (established, ... or a conntrack -L -o extended line)")
	}
	v, err := ParseCT(s)
	if err != nil {
		return err
	}
	*c = *v
	return nil
}

// validateCT checks d.CT against the packet it describes.
func (d Desc) validateCT() error {
	c := d.CT
	if c == nil {
		return nil
	}
	v6 := d.IsIPv6()
	if c.Line != "" {
		if strings.HasPrefix(c.Line, "ipv6 ") != v6 {
			return fmt.Errorf(`field "ct": the conntrack line's family is not the packet's`)
		}
		return nil
	}
	if d.isICMP() && d.isICMPErrorType() {
		return fmt.Errorf(`field "ct": an icmp error belongs to the connection it quotes: give that connection as a conntrack -L -o extended line`)
	}
	if c.State != "ESTABLISHED" && c.State != "UNREPLIED" && !d.is(ProtoTCP) {
		return fmt.Errorf(`field "ct": %s is a TCP state; a %s connection is established or unreplied`, strings.ToLower(c.State), d.protoWord())
	}
	for _, a := range []netip.AddrPort{c.SNAT, c.DNAT} {
		if !a.IsValid() {
			continue
		}
		if a.Addr().Is4() == v6 {
			return fmt.Errorf(`field "ct": NAT address %s is not of the packet's family`, a.Addr())
		}
		if a.Port() != 0 && !d.hasPorts() {
			return fmt.Errorf(`field "ct": a NAT port for a %s packet, which has none`, d.protoWord())
		}
		if c.Reply {
			return fmt.Errorf(`field "ct": snat/dnat with reply: the original tuple is not known from a reply packet; give the entry as a conntrack -L -o extended line`)
		}
	}
	return nil
}
