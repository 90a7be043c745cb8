package kerneldiff

import (
	"os"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

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
// IPSIFT_KERNEL_DIFF_SUMMARY names (test.sh prints it after go test,
// which hides the output of passing tests). Several test binaries write
// to it at once, so each appends its own line. Without the variable it
// does nothing.
func AppendSummary(line string) error {
	path := os.Getenv("IPSIFT_KERNEL_DIFF_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Resolve makes a generated packet concrete the way the harness does
// before sending it: an answer to an earlier packet (p.Of) takes its
// addresses and ports from what that packet became (outs[p.Of], as it
// left) and sent[p.Of] (the earlier packets as sent). ok is false when
// there is nothing to send. Other comparisons of generated packets (the
// engine's linear and compiled walks) use it to send the same answers.
func Resolve(p Packet, pkts []Packet, sent []packet.Desc, outs [][]sim.Out) (d packet.Desc, ok bool) {
	return resolve(p, pkts, sent, outs)
}
