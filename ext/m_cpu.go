package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The cpu match (-m cpu, libxt_cpu and the kernel's xt_cpu) tests which
// CPU handles the packet. ipsift has no CPUs to speak of: the rule parses
// and prints, and Compile says so.

func init() {
	RegisterMatch(&MatchType{
		Name:   "cpu",
		Family: AnyFamily,
		Options: []Option{
			{Name: "cpu", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &cpuMatch{} },
	})
}

// cpuMatch is one -m cpu in a rule (struct xt_cpu_info).
type cpuMatch struct {
	cpu    uint32
	invert bool
}

// Parse implements Parser.
func (m *cpuMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
	if !ok {
		return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
	}
	m.cpu, m.invert = uint32(v), invert
	return nil
}

// Finish implements Parser.
func (m *cpuMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *cpuMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --cpu " + strconv.FormatUint(uint64(m.cpu), 10))
}

// Print implements Parser.
func (m *cpuMatch) Print(b *strings.Builder, _ bool) {
	not := ""
	if m.invert {
		not = "! "
	}
	b.WriteString(" cpu " + not + strconv.FormatUint(uint64(m.cpu), 10))
}

// Compile implements Match.
func (m *cpuMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m cpu: ipsift cannot know which CPU handles a packet; the rule cannot be evaluated (remove it, or steer with -m statistic or -m cluster instead)")
}
