package ext

import (
	"strconv"
	"strings"
)

// NFLOG (iptables' libxt_NFLOG, the kernel's xt_NFLOG): send the packet
// to a netlink log group for a program such as ulogd, and go on with the
// next rule. ipsift has no netlink listener to feed, so the Action only
// continues; the rule's counters still count, as the kernel's do.
//
// ipsift follows iptables-nft, the backend Debian and most distributions
// use: a prefix longer than 127 bytes is cut to 127 (iptables-legacy cuts
// at 63), and --nflog-range, which never worked, is accepted and dropped
// (iptables-legacy keeps and prints it).

const (
	nflogDefaultThreshold = 0
	nflogCopyLen          = 0x1 // XT_NFLOG_F_COPY_LEN
	nflogPrefixMax        = 127
)

type nflogTarget struct {
	group     uint16
	prefix    string
	len       uint32
	threshold uint16
	flags     uint16
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "NFLOG",
		Family: AnyFamily,
		Options: []Option{
			{Name: "nflog-group", Arg: OneArg},
			{Name: "nflog-prefix", Arg: OneArg},
			{Name: "nflog-range", Arg: OneArg, Excludes: []string{"nflog-size"}},
			{Name: "nflog-size", Arg: OneArg, Excludes: []string{"nflog-range"}},
			{Name: "nflog-threshold", Arg: OneArg},
		},
		New: func() Target { return &nflogTarget{threshold: nflogDefaultThreshold} },
	})
}

// Parse implements Parser.
func (t *nflogTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "nflog-group", "nflog-threshold":
		v, err := ParseUint(arg, 0, 65535)
		if err != nil {
			return Errorf("bad value for --%s: %v", opt, err)
		}
		if opt == "nflog-group" {
			t.group = uint16(v)
		} else {
			t.threshold = uint16(v)
		}
	case "nflog-prefix":
		p, err := parseLogPrefix(arg, nflogPrefixMax)
		if err != nil {
			return err
		}
		t.prefix = p
	case "nflog-range", "nflog-size":
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("bad value for --%s: %v", opt, err)
		}
		if opt == "nflog-size" {
			t.len = uint32(v)
			t.flags |= nflogCopyLen
		}
	}
	return nil
}

// Finish implements Parser.
func (t *nflogTarget) Finish(r *RuleInfo) error { return nil }

func (t *nflogTarget) format(b *strings.Builder, pfx string) {
	if t.prefix != "" {
		b.WriteString(" " + pfx + "nflog-prefix")
		SaveString(b, t.prefix)
	}
	if t.group != 0 {
		b.WriteString(" " + pfx + "nflog-group " + strconv.Itoa(int(t.group)))
	}
	if t.flags&nflogCopyLen != 0 {
		b.WriteString(" " + pfx + "nflog-size " + strconv.FormatUint(uint64(t.len), 10))
	} else if t.len != 0 {
		b.WriteString(" " + pfx + "nflog-range " + strconv.FormatUint(uint64(t.len), 10))
	}
	if t.threshold != nflogDefaultThreshold {
		b.WriteString(" " + pfx + "nflog-threshold " + strconv.Itoa(int(t.threshold)))
	}
}

// Save implements Parser.
func (t *nflogTarget) Save(b *strings.Builder) { t.format(b, "--") }

// Print implements Parser.
func (t *nflogTarget) Print(b *strings.Builder, numeric bool) { t.format(b, "") }

// Compile implements Target.
func (t *nflogTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
