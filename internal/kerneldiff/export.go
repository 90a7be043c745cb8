package kerneldiff

import (
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/testsummary"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

// LoadFamily loads text (a restore file, or a script), named name in
// messages, as ip6tables rules when six is set, else as iptables rules,
// and returns the load result (its sets, its diagnostics) and the
// ruleset of that family, which an engine runs. rs is nil when the text
// has errors (lr.Err() says which). The harness, and the tests that run
// generated rulesets through engines of their own, load them this way.
func LoadFamily(name, text string, six bool) (lr *load.Result, rs *rules.Ruleset) {
	fam := ext.IPv4
	if six {
		fam = ext.IPv6
	}
	lr = load.Bytes(name, []byte(text), load.Options{Family: fam})
	if lr.Diags.HasErrors() {
		return lr, nil
	}
	if six {
		rs, _ = lr.Pick(true)
		return lr, rs
	}
	return lr, lr.Rules
}

// SaveDifference compares the kernel's iptables-save output with
// ipsift's, table by table, after the normalisation every kernel save
// comparison shares (see saveDifference: comment lines and counters
// aside, the protocol names and the repeated tcp/udp matches that
// DIFFERENCES.md lists). It returns "" when they agree, else the tables
// that differ, both sides shown. Other kernel comparisons (the corpus
// test) use it so that all of them judge equality the same way.
func SaveDifference(b kernel.Backend, kernelSave, ipsiftSave string) string {
	return saveDifference(b, kernelSave, ipsiftSave)
}

// AppendSummary adds one summary line to the file that
// IPSIFT_KERNEL_DIFF_SUMMARY names (testsummary.Append).
func AppendSummary(line string) error { return testsummary.Append(line) }

// Resolve makes a generated packet concrete the way the harness does
// before sending it: an answer to an earlier packet (p.Of) takes its
// addresses and ports from what that packet became (outs[p.Of], as it
// left) and sent[p.Of] (the earlier packets as sent). ok is false when
// there is nothing to send. Other comparisons of generated packets (the
// engine's linear and compiled walks) use it to send the same answers.
func Resolve(p Packet, pkts []Packet, sent []packet.Desc, outs [][]sim.Out) (d packet.Desc, ok bool) {
	return resolve(p, pkts, sent, outs)
}
