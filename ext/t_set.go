package ext

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ipset"
)

// SET (iptables' libxt_SET revision 3, the kernel's xt_SET): add the
// packet's addresses (ports, ...) to an ipset, delete them from one, or
// map an element's skbinfo (mark, priority, queue) onto the packet. The
// sets are found by name when the rule is compiled.

type setTarget struct {
	op, name string
	dim      int
	dirFlags uint32
	exist    bool
	timeout  uint32
	hasTO    bool
	mapMark  bool
	mapPrio  bool
	mapQueue bool
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "SET",
		Family: AnyFamily,
		Options: []Option{
			{Name: "add-set", Arg: OneArg, Excludes: []string{"del-set", "map-set"}},
			{Name: "del-set", Arg: OneArg, Excludes: []string{"add-set", "map-set"}},
			{Name: "map-set", Arg: OneArg, Excludes: []string{"add-set", "del-set"}},
			{Name: "exist", Arg: NoArg},
			{Name: "timeout", Arg: OneArg},
			{Name: "map-mark", Arg: NoArg},
			{Name: "map-prio", Arg: NoArg},
			{Name: "map-queue", Arg: NoArg},
		},
		New: func() Target { return &setTarget{} },
	})
}

// Parse implements Parser: --add-set/--del-set/--map-set take the set's
// name and its flags (src,dst,...).
func (t *setTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "add-set", "del-set", "map-set":
		flags, ok := more.Take()
		if !ok {
			return Errorf("--%s needs a set name and flags, e.g. --%s myset src", opt, opt)
		}
		if len(arg) > ipsetMaxNameLen-1 {
			return fmt.Errorf("setname %q too long, max %d characters", arg, ipsetMaxNameLen-1)
		}
		dim, dirs, err := parseSetDirs(flags)
		if err != nil {
			return err
		}
		t.op, t.name, t.dim, t.dirFlags = opt, arg, dim, dirs
	case "exist":
		t.exist = true
	case "timeout":
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("bad --timeout: %v", err)
		}
		t.timeout, t.hasTO = uint32(v), true
	case "map-mark":
		t.mapMark = true
	case "map-prio":
		t.mapPrio = true
	case "map-queue":
		t.mapQueue = true
	}
	return nil
}

// Finish implements Parser, with xt_SET's checkentry: --map-set only in
// mangle, --map-prio and --map-queue only where the packet is routed
// (FORWARD, OUTPUT, POSTROUTING).
func (t *setTarget) Finish(r *RuleInfo) error {
	if t.op == "" {
		return Errorf("SET needs --add-set, --del-set or --map-set")
	}
	if t.op == "map-set" {
		if r.Table != "mangle" {
			return Errorf("--map-set only usable from mangle table")
		}
		if (t.mapPrio || t.mapQueue) && r.Hooks&^(HookForward|HookLocalOut|HookPostRouting) != 0 {
			return Errorf("mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains")
		}
	} else if t.mapMark || t.mapPrio || t.mapQueue {
		return Errorf("--map-mark, --map-prio and --map-queue need --map-set")
	}
	return nil
}

// SetNames implements SetUser.
func (t *setTarget) SetNames() []string { return []string{t.name} }

// Save implements Parser.
func (t *setTarget) Save(b *strings.Builder) { t.dump(b, "--") }

// Print implements Parser.
func (t *setTarget) Print(b *strings.Builder, numeric bool) { t.dump(b, "") }

// dump prints the options, each name after pre ("--" for save, "" for
// iptables -L).
func (t *setTarget) dump(b *strings.Builder, pre string) {
	b.WriteString(" " + pre + t.op + " " + t.name + " " + setDirsString(t.dim, t.dirFlags))
	for _, f := range []struct {
		on   bool
		name string
	}{{t.exist, "exist"}, {t.hasTO, "timeout " + strconv.FormatUint(uint64(t.timeout), 10)}, {t.mapMark, "map-mark"}, {t.mapPrio, "map-prio"}, {t.mapQueue, "map-queue"}} {
		if f.on {
			b.WriteString(" " + pre + f.name)
		}
	}
}

// Compile implements Target.
func (t *setTarget) Compile(c *Compiler) (Action, error) {
	s, err := resolveSet(c, t.name)
	if err != nil {
		return nil, err
	}
	a := &setAction{t: *t, set: s}
	return a, nil
}

type setAction struct {
	t   setTarget
	set *ipset.Set
}

// Explain implements Explainer for traces: what the target did to the
// set (called after Do, on the same packet).
func (a *setAction) Explain(c *Ctx, _ bool) string {
	if a.t.op == "map-set" {
		return "--map-set " + a.t.name + ": the mark is now " + fmt.Sprintf("0x%x", c.Mark)
	}
	return "--" + a.t.op + " " + a.t.name + ": " + a.set.LastChange()
}

// Do implements Action: the packet goes on (XT_CONTINUE) whatever the
// set says.
func (a *setAction) Do(c *Ctx) Verdict {
	pi := packetInfo(c, familyOf(c))
	switch a.t.op {
	case "add-set":
		a.set.AddPacket(&pi, a.t.dirFlags, a.t.dim, c.Now, a.t.timeout, a.t.hasTO, a.t.exist)
	case "del-set":
		a.set.DelPacket(&pi, a.t.dirFlags, a.t.dim, c.Now)
	case "map-set":
		h := a.set.MatchPacket(&pi, a.t.dirFlags, a.t.dim, c.Now, nil)
		if h.Result != ipset.Matched {
			return Continue
		}
		if a.t.mapMark {
			c.Mark = c.Mark&^h.SkbMask ^ h.SkbMark
		}
		// skb->priority and the queue mapping are not modelled: the
		// engine has no qdiscs
	}
	return Continue
}
