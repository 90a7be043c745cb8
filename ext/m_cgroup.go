package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The cgroup match (-m cgroup, libxt_cgroup revision 2 and the kernel's
// xt_cgroup) tests the control group of the socket a packet belongs to:
// its cgroup v2 path or its net_cls class id. ipsift cannot know a
// packet's cgroup; the rule parses, checks and prints, and Compile says
// so.

const cgroupPathMax = 512 // XT_CGROUP_PATH_MAX

func init() {
	RegisterMatch(&MatchType{
		Name:   "cgroup",
		Family: AnyFamily,
		Hooks:  HookLocalIn | HookLocalOut | HookPostRouting,
		Options: []Option{
			{Name: "path", Arg: OneArg, Invert: true},
			{Name: "cgroup", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &cgroupMatch{} },
	})
}

// cgroupMatch is one -m cgroup in a rule (struct xt_cgroup_info_v2).
type cgroupMatch struct {
	path                string
	classid             uint32
	hasPath, hasClassid bool
	invPath, invClassid bool
}

// Parse implements Parser.
func (m *cgroupMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "path":
		if len(arg) > cgroupPathMax-1 {
			arg = arg[:cgroupPathMax-1]
		}
		m.path, m.hasPath, m.invPath = arg, true, invert
	case "cgroup":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		m.classid, m.hasClassid, m.invClassid = uint32(v), true, invert
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: the kernel's cgroup_mt_check_v2.
func (m *cgroupMatch) Finish(*RuleInfo) error {
	if m.hasPath && m.hasClassid {
		return fmt.Errorf("invalid argument: --path and --cgroup cannot be used together")
	}
	if !m.hasPath && !m.hasClassid {
		return fmt.Errorf("invalid argument: give --path or --cgroup")
	}
	return nil
}

// Save implements Parser.
func (m *cgroupMatch) Save(b *strings.Builder) {
	if m.hasPath {
		if m.invPath {
			b.WriteString(" !")
		}
		b.WriteString(" --path")
		SaveString(b, m.path)
	}
	if m.hasClassid {
		if m.invClassid {
			b.WriteString(" !")
		}
		b.WriteString(" --cgroup " + strconv.FormatUint(uint64(m.classid), 10))
	}
}

// Print implements Parser.
func (m *cgroupMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" cgroup")
	if m.hasPath {
		if m.invPath {
			b.WriteString(" ! " + m.path)
		} else {
			b.WriteString(" " + m.path)
		}
	}
	if m.hasClassid {
		if m.invClassid {
			b.WriteString(" ! ")
		} else {
			b.WriteString(" ")
		}
		b.WriteString(strconv.FormatUint(uint64(m.classid), 10))
	}
}

// Compile implements Match.
func (m *cgroupMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m cgroup: ipsift cannot know a packet's cgroup (the control group of the process that owns its socket); the rule cannot be evaluated (match the owner with -m owner --uid-owner instead where that is what is meant)")
}
