package ext

import "strings"

// SET (iptables' libxt_SET, the kernel's xt_SET): add the packet's
// addresses to an ipset or delete them from it. ipsift has no ipsets, so
// every set a rule names is unknown: Finish refuses the rule as the
// kernel does for a set that does not exist.

type setTarget struct {
	op, name, flags string
	exist           bool
	timeout         string
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
		t.op, t.name, t.flags = opt, arg, flags
	case "exist":
		t.exist = true
	case "timeout":
		if _, err := ParseUint(arg, 0, 0xffffffff); err != nil {
			return Errorf("bad --timeout: %v", err)
		}
		t.timeout = arg
	}
	return nil
}

// Finish implements Parser.
func (t *setTarget) Finish(r *RuleInfo) error {
	if t.op == "" {
		return Errorf("SET needs --add-set, --del-set or --map-set")
	}
	return Errorf("set %q does not exist: ipsift has no ipsets", t.name)
}

// Save implements Parser.
func (t *setTarget) Save(b *strings.Builder) {
	if t.op != "" {
		b.WriteString(" --" + t.op + " " + t.name + " " + t.flags)
	}
	if t.exist {
		b.WriteString(" --exist")
	}
	if t.timeout != "" {
		b.WriteString(" --timeout " + t.timeout)
	}
}

// Print implements Parser.
func (t *setTarget) Print(b *strings.Builder, numeric bool) {
	if t.op != "" {
		b.WriteString(" " + strings.TrimSuffix(t.op, "-set") + "-set " + t.name + " " + t.flags)
	}
}

// Compile implements Target.
func (t *setTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j SET: ipsift has no ipsets")
}
