// Package saveopt reads a match's options as iptables-save prints them
// ("! --dport 22 --tcp-flags SYN,ACK SYN"). Packages analyze and symbolic
// both model rules from this text; they read it here, once, so that the
// two models cannot drift apart on what a saved rule says.
package saveopt

import (
	"strconv"
	"strings"
)

// Each walks "[!] --opt ARG..." tokens, calling f for each option with
// a function that yields its arguments (the words up to the next option
// or "!"). It returns false if f does, when the text does not start with
// an option, or when f leaves an argument untaken (text the caller does
// not understand).
func Each(toks []string, f func(opt string, args func() (string, bool), inv bool) bool) bool {
	i := 0
	for i < len(toks) {
		inv := false
		if toks[i] == "!" {
			inv = true
			i++
			if i >= len(toks) {
				return false
			}
		}
		opt := toks[i]
		if !strings.HasPrefix(opt, "--") {
			return false
		}
		i++
		args := func() (string, bool) {
			if i >= len(toks) || toks[i] == "!" || strings.HasPrefix(toks[i], "--") {
				return "", false
			}
			i++
			return toks[i-1], true
		}
		if !f(opt, args, inv) {
			return false
		}
		// Arguments f did not take mean text we do not understand.
		if i < len(toks) && toks[i] != "!" && !strings.HasPrefix(toks[i], "--") {
			return false
		}
	}
	return true
}

// PortRange reads "N" or "N:M" as iptables-save prints ports and lengths
// (16-bit values).
func PortRange(s string) (lo, hi uint64, ok bool) {
	l, h, isRange := strings.Cut(s, ":")
	lo, err := strconv.ParseUint(l, 10, 16)
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.ParseUint(h, 10, 16); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// TCPFlagBits are the names --tcp-flags prints, with ECE and CWR in case
// a printer names them.
var TCPFlagBits = map[string]uint8{
	"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10,
	"URG": 0x20, "ECE": 0x40, "CWR": 0x80, "ALL": 0x3f, "NONE": 0,
}

// TCPFlags reads a comma-separated list of flag names ("SYN,ACK").
func TCPFlags(s string) (uint8, bool) {
	var f uint8
	for _, n := range strings.Split(s, ",") {
		b, ok := TCPFlagBits[n]
		if !ok {
			return 0, false
		}
		f |= b
	}
	return f, true
}
