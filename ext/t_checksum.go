package ext

import "strings"

// CHECKSUM (iptables' libxt_CHECKSUM, the kernel's xt_CHECKSUM): fill in
// the checksum of a packet whose checksum the local stack left to the
// network card, for the rare DHCP clients that need it; mangle table
// only. Packets in ipsift always carry their checksums, so the Action
// only continues.

type checksumTarget struct{}

func init() {
	RegisterTarget(&TargetType{
		Name:    "CHECKSUM",
		Family:  AnyFamily,
		Options: []Option{{Name: "checksum-fill", Arg: NoArg, Mandatory: true}},
		Tables:  []string{"mangle"},
		New:     func() Target { return checksumTarget{} },
	})
}

// Parse implements Parser.
func (checksumTarget) Parse(opt, arg string, invert bool, more *Args) error { return nil }

// Finish implements Parser.
func (checksumTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (checksumTarget) Save(b *strings.Builder) { b.WriteString(" --checksum-fill") }

// Print implements Parser.
func (checksumTarget) Print(b *strings.Builder, numeric bool) { b.WriteString(" CHECKSUM fill") }

// Compile implements Target.
func (checksumTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
