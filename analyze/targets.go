package analyze

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// kind is what a rule's target does with the packets it matches, as far
// as traversal goes.
type kind uint8

const (
	kContinue kind = iota // nothing: the packet goes on (LOG, MARK, no target)
	kTerminal             // the packet leaves the table (ACCEPT, DROP, REJECT, DNAT, ...)
	kReturn               // RETURN
	kJump                 // -j CHAIN
	kGoto                 // -g CHAIN
	kMaybe                // may end the packet's way or let it go on (an unknown target)
)

// action is a rule's target as the analysis sees it.
type action struct {
	kind  kind
	chain *rules.Chain // kJump, kGoto
	// mut holds the dimensions the target may rewrite for packets that
	// go on after it; setMark, when not nil, is an exact MARK instead.
	mut     dimMask
	setMark *uint32
}

// Targets that end the packet's way through the table, whatever their
// options. NFQUEUE is here even with --queue-bypass: with no listener the
// packet is then accepted (libxt_NFQUEUE(8): "behaves like ACCEPT
// instead"), and with one the listener's verdict ends it too. The NAT
// targets return NF_ACCEPT (or NF_DROP); TPROXY accepts or drops.
var terminalTargets = map[string]bool{
	"REJECT": true, "NFQUEUE": true, "DNAT": true, "SNAT": true,
	"MASQUERADE": true, "REDIRECT": true, "NETMAP": true, "TPROXY": true,
	"TARPIT": true,
}

// Targets that always let the packet go on and change nothing the model
// holds (they log, count, classify, or rewrite fields outside the model
// such as TOS, options or the connection's own mark).
var pureTargets = map[string]bool{
	"LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "AUDIT": true,
	"TCPMSS": true, "TCPOPTSTRIP": true, "CHECKSUM": true, "CLASSIFY": true,
	"DSCP": true, "TOS": true, "IDLETIMER": true, "LED": true,
	"RATEEST": true, "SECMARK": true, "CONNSECMARK": true, "TEE": true,
	"SET": true, "HL": true,
}

// Targets that go on but may rewrite fields of the model.
var mutatingTargets = map[string]dimMask{
	"MARK":    1 << dimMark,
	"HMARK":   1 << dimMark,
	"TTL":     1 << dimTTL,
	"ECN":     1 << dimFlags,
	"CT":      1 << dimState, // CT --notrack makes later rules see UNTRACKED
	"NOTRACK": 1 << dimState,
	"DNPT":    1 << dimDst,
	"SNPT":    1 << dimSrc,
}

// classify returns what the rule's target does.
func classify(r *rules.Rule, t *rules.Table) action {
	switch r.Verdict {
	case "":
		return action{kind: kContinue}
	case "ACCEPT", "DROP", "QUEUE":
		return action{kind: kTerminal}
	case "RETURN":
		return action{kind: kReturn}
	}
	if r.IsJump() {
		c := t.Chain(r.Verdict)
		if c == nil || c.Builtin {
			return action{kind: kMaybe, mut: allDims}
		}
		if r.Goto {
			return action{kind: kGoto, chain: c}
		}
		return action{kind: kJump, chain: c}
	}
	name := r.Verdict
	if r.TType != nil {
		name = r.TType.Name
	}
	var text string
	if r.Target != nil {
		var b strings.Builder
		r.Target.Save(&b)
		text = b.String()
	}
	switch {
	case terminalTargets[name]:
		return action{kind: kTerminal}
	case pureTargets[name]:
		return action{kind: kContinue}
	case name == "CONNMARK":
		// Only --restore-mark copies the connection's mark to the packet.
		if strings.Contains(text, "--restore-mark") {
			return action{kind: kContinue, mut: 1 << dimMark}
		}
		return action{kind: kContinue}
	case name == "MARK":
		if v, ok := exactMark(text); ok {
			return action{kind: kContinue, setMark: &v}
		}
		return action{kind: kContinue, mut: 1 << dimMark}
	case mutatingTargets[name] != 0:
		return action{kind: kContinue, mut: mutatingTargets[name]}
	case name == "SYNPROXY":
		// Drops or steals some packets, lets the rest go on unchanged.
		return action{kind: kMaybe}
	}
	// An unknown target may do anything.
	return action{kind: kMaybe, mut: allDims}
}

// exactMark reads MARK's canonical " --set-xmark VALUE/0xffffffff" (or
// the old " --set-mark VALUE"), which sets the mark to VALUE.
func exactMark(text string) (uint32, bool) {
	f := strings.Fields(text)
	if len(f) != 2 {
		return 0, false
	}
	vs, ms, hasMask := strings.Cut(f[1], "/")
	switch {
	case f[0] == "--set-xmark" && hasMask:
		m, err := strconv.ParseUint(ms, 0, 32)
		if err != nil || m != 0xffffffff {
			return 0, false
		}
	case f[0] == "--set-mark" && !hasMask:
	default:
		return 0, false
	}
	v, err := strconv.ParseUint(vs, 0, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// sameVerdict reports whether two rules do the same thing to a packet they
// decide: the same target with the same options.
func sameVerdict(a, b *rules.Rule) bool {
	if a.Verdict != b.Verdict || a.Goto != b.Goto {
		return false
	}
	var x, y strings.Builder
	if a.Target != nil {
		a.Target.Save(&x)
	}
	if b.Target != nil {
		b.Target.Save(&y)
	}
	return x.String() == y.String()
}
