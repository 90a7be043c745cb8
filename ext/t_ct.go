package ext

import (
	"strconv"
	"strings"
)

// CT and NOTRACK (iptables' libxt_CT revisions 1 and 2, the kernel's
// xt_CT): the raw-table targets that act on connection tracking before
// it runs.
//
// CT --notrack (and NOTRACK, which iptables 1.8 turns into CT --notrack
// and prints back as NOTRACK) marks the packet untracked: Ctx.CT becomes
// CTUntracked, as the kernel attaches its untracked template. Like the
// kernel, a packet that already has a connection is left alone, and with
// --notrack every other option is ignored.
//
// --ctevents and --expevents only choose which events ctnetlink
// listeners hear, so they change nothing ipsift can see. --helper,
// --timeout and the zones change what conntrack does with the
// connection; ipsift's conntrack does not take them from a rule yet, so
// Compile refuses them rather than silently ignoring them.

const (
	ctZoneOrig  = 1 << 0
	ctZoneReply = 1 << 1
	ctZoneMark  = 1 << 2
)

var ctEventNames = []string{"new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "natseqinfo", "secmark"}
var ctExpEventNames = []string{"new"}

// ctHelpers are the kernel's built-in conntrack helpers by name, with the
// protocols each is registered for.
var ctHelpers = map[string][]uint8{
	"ftp": {6}, "tftp": {17}, "irc": {6}, "sip": {17, 6}, "RAS": {17}, "Q.931": {6},
	"pptp": {6}, "amanda": {17}, "netbios-ns": {17}, "snmp": {17}, "sane": {6},
	"snmp_trap": {17},
}

type ctTarget struct {
	notrack   bool
	alias     bool // NOTRACK
	helper    string
	timeout   string
	events    uint32
	expEvents uint32
	zone      uint16
	zoneFlags uint8
}

func init() {
	RegisterTarget(&TargetType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "CT",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "notrack", Arg: NoArg},
			{Name: "helper", Arg: OneArg},
			{Name: "timeout", Arg: OneArg},
			{Name: "ctevents", Arg: OneArg},
			{Name: "expevents", Arg: OneArg},
			{Name: "zone-orig", Arg: OneArg},
			{Name: "zone-reply", Arg: OneArg},
			{Name: "zone", Arg: OneArg},
		},
		Tables: []string{"raw"},
		Hooks:  HookPreRouting | HookLocalOut,
		New:    func() Target { return &ctTarget{} },
	})
	RegisterTarget(&TargetType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "NOTRACK",
		Family:    AnyFamily,
		Tables:    []string{"raw"},
		Hooks:     HookPreRouting | HookLocalOut,
		New:       func() Target { return &ctTarget{notrack: true, alias: true} },
	})
}

func parseCTEvents(names []string, arg string) (uint32, error) {
	var mask uint32
	for _, e := range strings.Split(arg, ",") {
		i := 0
		for i < len(names) && names[i] != e {
			i++
		}
		if i == len(names) {
			return 0, Errorf("unknown event type %q: use %s", e, strings.Join(names, ","))
		}
		mask |= 1 << i
	}
	return mask, nil
}

// Parse implements Parser.
func (t *ctTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "notrack":
		t.notrack = true
	case "helper":
		t.helper = truncate(arg, 15)
	case "timeout":
		t.timeout = truncate(arg, 31)
	case "ctevents", "expevents":
		names := ctEventNames
		if opt == "expevents" {
			names = ctExpEventNames
		}
		m, err := parseCTEvents(names, arg)
		if err != nil {
			return err
		}
		if opt == "ctevents" {
			t.events = m
		} else {
			t.expEvents = m
		}
	case "zone", "zone-orig", "zone-reply":
		if opt == "zone-orig" {
			t.zoneFlags |= ctZoneOrig
		}
		if opt == "zone-reply" {
			t.zoneFlags |= ctZoneReply
		}
		t.zone = 0
		if strings.EqualFold(arg, "mark") {
			t.zoneFlags |= ctZoneMark
		} else {
			v, err := ParseUint(arg, 0, 65535)
			if err != nil {
				return Errorf("cannot parse %q as a zone ID: write 0-65535 or mark", arg)
			}
			t.zone = uint16(v)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Finish implements Parser: the kernel's checks that do not depend on
// what is loaded at run time.
// NeedsConntrack implements ConntrackDecider: xt_CT's checkentry takes
// no conntrack reference for --notrack (nor does NOTRACK), so such a rule
// alone starts neither tracking nor defragmentation.
func (t *ctTarget) NeedsConntrack() bool { return !t.notrack }

func (t *ctTarget) Finish(r *RuleInfo) error {
	if t.notrack || t.helper == "" {
		return nil
	}
	if r.Proto == 0 || r.InvProto {
		return Errorf("CT --helper %s needs -p with the helper's protocol (the kernel refuses it otherwise)", t.helper)
	}
	protos, ok := ctHelpers[t.helper]
	if !ok {
		return Errorf("CT --helper %q: no such conntrack helper (the kernel's are ftp, tftp, irc, sip, RAS, Q.931, pptp, amanda, netbios-ns, snmp, snmp_trap, sane)", t.helper)
	}
	for _, p := range protos {
		if p == r.Proto {
			return nil
		}
	}
	return Errorf("CT --helper %s does not handle protocol %d", t.helper, r.Proto)
}

func (t *ctTarget) events2(b *strings.Builder, pfx string, names []string, mask uint32) {
	b.WriteString(" " + pfx + " ")
	sep := ""
	for i, n := range names {
		if mask&(1<<i) != 0 {
			b.WriteString(sep + n)
			sep = ","
		}
	}
}

func (t *ctTarget) format(b *strings.Builder, pfx string) {
	if t.notrack {
		b.WriteString(" " + pfx + "notrack")
	}
	if t.helper != "" {
		b.WriteString(" " + pfx + "helper " + t.helper)
	}
	if t.timeout != "" {
		b.WriteString(" " + pfx + "timeout " + t.timeout)
	}
	if t.events != 0 {
		t.events2(b, pfx+"ctevents", ctEventNames, t.events)
	}
	if t.expEvents != 0 {
		t.events2(b, pfx+"expevents", ctExpEventNames, t.expEvents)
	}
	if t.zoneFlags&ctZoneMark != 0 || t.zone != 0 {
		b.WriteString(" " + pfx + "zone")
		switch t.zoneFlags & (ctZoneOrig | ctZoneReply) {
		case ctZoneOrig:
			b.WriteString("-orig")
		case ctZoneReply:
			b.WriteString("-reply")
		}
		if t.zoneFlags&ctZoneMark != 0 {
			b.WriteString(" mark")
		} else {
			b.WriteString(" " + strconv.Itoa(int(t.zone)))
		}
	}
}

// Save implements Parser; NOTRACK saves no options.
func (t *ctTarget) Save(b *strings.Builder) {
	if !t.alias {
		t.format(b, "--")
	}
}

// Print implements Parser.
func (t *ctTarget) Print(b *strings.Builder, numeric bool) {
	if t.alias {
		b.WriteString(" NOTRACK")
		return
	}
	b.WriteString(" CT")
	t.format(b, "")
}

// Compile implements Target.
func (t *ctTarget) Compile(c *Compiler) (Action, error) {
	if t.notrack {
		return ActionFunc(func(c *Ctx) Verdict {
			if c.Conn == nil && !c.Nfct {
				c.CT = CTUntracked // notrack_tg: not for a packet seen before
			}
			return Continue
		}), nil
	}
	switch {
	case t.helper != "":
		return nil, Errorf("-j CT --helper: ipsift's conntrack cannot yet attach a helper from a rule")
	case t.timeout != "":
		return nil, Errorf("-j CT --timeout: ipsift's conntrack cannot yet take a timeout policy from a rule")
	case t.zone != 0 || t.zoneFlags != 0:
		return nil, Errorf("-j CT --zone: ipsift's conntrack has no zones yet")
	}
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
