package conntrack

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/packet"
)

// word is a word of a line and its 1-based column.
type word struct {
	s   string
	col int
}

// ParseListLine reads one line of `conntrack -L -o extended`, such as
//
//	ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=203.0.113.5 sport=40000 dport=80 src=203.0.113.5 dst=198.51.100.1 sport=80 dport=40000 [ASSURED] mark=0 use=1
//
// into a connection to Insert (ICMP with type=, code=, id= instead of
// ports). On error col is the 1-based column of the word at fault.
// Entries of a conntrack zone other than 0 are refused: the table has
// no zones.
func ParseListLine(text string) (p Preload, col int, err error) {
	var ws []word
	for i := 0; i < len(text); {
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		j := i
		for j < len(text) && text[j] != ' ' && text[j] != '\t' {
			j++
		}
		if j > i {
			ws = append(ws, word{text[i:j], i + 1})
		}
		i = j
	}
	if len(ws) < 5 {
		return p, 1, fmt.Errorf("too short for a line of conntrack -L -o extended (ipv4 2 tcp 6 TIMEOUT ...)")
	}
	var v6 bool
	switch ws[0].s {
	case "ipv4":
	case "ipv6":
		v6 = true
	default:
		return p, ws[0].col, fmt.Errorf("%q: want ipv4 or ipv6 (the output of conntrack -L -o extended)", ws[0].s)
	}
	proto, err := strconv.ParseUint(ws[3].s, 10, 8)
	if err != nil {
		return p, ws[3].col, fmt.Errorf("%q: want the protocol number", ws[3].s)
	}
	secs, err := strconv.ParseUint(ws[4].s, 10, 32)
	if err != nil {
		return p, ws[4].col, fmt.Errorf("%q: want the seconds left", ws[4].s)
	}
	p.Timeout = time.Duration(secs) * time.Second
	p.SeenReply = true
	rest := ws[5:]
	if uint8(proto) == packet.ProtoTCP {
		if len(rest) == 0 {
			return p, len(text) + 1, fmt.Errorf("a TCP connection without its state")
		}
		st, ok := tcpStates[rest[0].s]
		if !ok {
			return p, rest[0].col, fmt.Errorf("%q: not a TCP state conntrack prints", rest[0].s)
		}
		p.TCPState = st
		rest = rest[1:]
	}
	// Two tuples of key=value words; flags in brackets; then mark= and
	// the rest.
	var tuples [2]map[string]word
	n := -1
	for _, w := range rest {
		if strings.HasPrefix(w.s, "[") {
			switch w.s {
			case "[UNREPLIED]":
				p.SeenReply = false
			case "[ASSURED]":
				p.Assured = true
			}
			continue
		}
		k, v, ok := strings.Cut(w.s, "=")
		if !ok {
			return p, w.col, fmt.Errorf("%q: want KEY=VALUE", w.s)
		}
		switch k {
		case "src":
			n++
			if n > 1 {
				return p, w.col, fmt.Errorf("a third tuple")
			}
			tuples[n] = map[string]word{}
		case "mark":
			m, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return p, w.col, fmt.Errorf("%q: want a number", w.s)
			}
			p.Mark = uint32(m)
			continue
		case "zone":
			if v != "0" {
				return p, w.col, fmt.Errorf("%s: conntrack zones are not modelled; leave the zone's connections out", w.s)
			}
			continue
		}
		if n < 0 {
			return p, w.col, fmt.Errorf("%q before the first src=", w.s)
		}
		if _, seen := tuples[n][k]; !seen {
			tuples[n][k] = word{v, w.col}
		}
	}
	if n != 1 {
		return p, len(text) + 1, fmt.Errorf("want two tuples (src= dst= ... src= dst= ...)")
	}
	for i, t := range tuples {
		tp, c, err := tupleFrom(t, uint8(proto), v6)
		if err != nil {
			return p, c, err
		}
		if i == 0 {
			p.Orig = tp
		} else {
			p.Reply = tp
		}
	}
	return p, 0, nil
}

var tcpStates = map[string]TCPState{}

func init() {
	for s := TCPNone; s <= TCPSynSent2; s++ {
		tcpStates[s.String()] = s
	}
}

func tupleFrom(t map[string]word, proto uint8, v6 bool) (Tuple, int, error) {
	addr := func(k string) (netip.Addr, int, error) {
		w, ok := t[k]
		if !ok {
			return netip.Addr{}, 1, fmt.Errorf("a tuple without %s=", k)
		}
		a, err := netip.ParseAddr(w.s)
		if err != nil || a.Is6() != v6 {
			return a, w.col, fmt.Errorf("%s=%s: not an address of the line's family", k, w.s)
		}
		return a, 0, nil
	}
	num := func(k string, bits int) (uint64, int, error) {
		w, ok := t[k]
		if !ok {
			return 0, 1, fmt.Errorf("a %s tuple without %s=", packet.Proto(proto), k)
		}
		n, err := strconv.ParseUint(w.s, 10, bits)
		if err != nil {
			return 0, w.col, fmt.Errorf("%s=%s: want a number", k, w.s)
		}
		return n, 0, nil
	}
	src, c, err := addr("src")
	if err != nil {
		return Tuple{}, c, err
	}
	dst, c, err := addr("dst")
	if err != nil {
		return Tuple{}, c, err
	}
	var sport, dport uint64
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, 132, 136, 33: // tcp udp sctp udplite dccp
		if sport, c, err = num("sport", 16); err != nil {
			return Tuple{}, c, err
		}
		if dport, c, err = num("dport", 16); err != nil {
			return Tuple{}, c, err
		}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		typ, c, err := num("type", 8)
		if err != nil {
			return Tuple{}, c, err
		}
		code, c, err := num("code", 8)
		if err != nil {
			return Tuple{}, c, err
		}
		if sport, c, err = num("id", 16); err != nil {
			return Tuple{}, c, err
		}
		dport = typ<<8 | code
	}
	tp, ok := MakeTuple(src, dst, uint16(sport), uint16(dport), proto)
	if !ok {
		return tp, 1, fmt.Errorf("addresses of two families in one tuple")
	}
	return tp, 0, nil
}
