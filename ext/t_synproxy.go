package ext

import (
	"strconv"
	"strings"
)

// SYNPROXY (iptables' libxt_SYNPROXY, the kernel's xt_SYNPROXY): answer
// TCP SYNs with SYN cookies on the host's behalf and open the real
// connection only after the handshake; filter INPUT and FORWARD, -p tcp.
// That needs the host's TCP stack and the synproxy conntrack extension,
// which ipsift does not model, so Compile refuses it.

const (
	synproxyMSS      = 0x01
	synproxyWscale   = 0x02
	synproxySackPerm = 0x04
	synproxyTstamp   = 0x08
	synproxyECN      = 0x10
)

type synproxyTarget struct {
	opts   uint8
	wscale uint8
	mss    uint16
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "SYNPROXY",
		Family: AnyFamily,
		Proto:  6,
		Options: []Option{
			{Name: "sack-perm", Arg: NoArg},
			{Name: "timestamp", Arg: NoArg},
			{Name: "wscale", Arg: OneArg},
			{Name: "mss", Arg: OneArg},
			{Name: "ecn", Arg: NoArg},
		},
		Tables: []string{"filter"},
		Hooks:  HookLocalIn | HookForward,
		New:    func() Target { return &synproxyTarget{} },
	})
}

// Parse implements Parser. Like iptables, the numbers are read as 32 bits
// and kept in the kernel's narrower fields.
func (t *synproxyTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "sack-perm":
		t.opts |= synproxySackPerm
	case "timestamp":
		t.opts |= synproxyTstamp
	case "ecn":
		t.opts |= synproxyECN
	case "wscale", "mss":
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("bad --%s: %v", opt, err)
		}
		if opt == "wscale" {
			t.opts |= synproxyWscale
			t.wscale = uint8(v)
		} else {
			t.opts |= synproxyMSS
			t.mss = uint16(v)
		}
	}
	return nil
}

// Finish implements Parser.
func (t *synproxyTarget) Finish(r *RuleInfo) error { return nil }

func (t *synproxyTarget) format(b *strings.Builder, pfx, sep string) {
	if t.opts&synproxySackPerm != 0 {
		b.WriteString(pfx + "sack-perm" + sep)
	}
	if t.opts&synproxyTstamp != 0 {
		b.WriteString(pfx + "timestamp" + sep)
	}
	if t.opts&synproxyWscale != 0 {
		b.WriteString(pfx + "wscale " + strconv.Itoa(int(t.wscale)) + sep)
	}
	if t.opts&synproxyMSS != 0 {
		b.WriteString(pfx + "mss " + strconv.Itoa(int(t.mss)) + sep)
	}
	if t.opts&synproxyECN != 0 {
		b.WriteString(pfx + "ecn" + sep)
	}
}

// Save implements Parser.
func (t *synproxyTarget) Save(b *strings.Builder) { t.format(b, " --", "") }

// Print implements Parser: iptables writes a space after each part.
func (t *synproxyTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" SYNPROXY ")
	t.format(b, "", " ")
}

// Compile implements Target.
func (t *synproxyTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j SYNPROXY: ipsift does not model the host's TCP stack answering SYNs with cookies")
}
