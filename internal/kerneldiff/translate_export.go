package kerneldiff

import (
	"os"

	"github.com/ipsift/ipsift/internal/kernel"
)

// PrepareHost gives a firewall what Run gives its own before the packets
// of a generated ruleset: the host's sysctls and neighbour entries for
// the packets' addresses. For tests that compare two kernel firewalls
// with each other (the nft translation's test).
func PrepareHost(fw *kernel.Firewall, ruleset string, pkts []Packet) error {
	args := append([]string{"sysctl", "-q", "-w"}, hostSettings...)
	if _, err := fw.Run(args...); err != nil {
		return err
	}
	return neighbours(fw, os.TempDir(), ruleset, pkts)
}

// Answers reports whether the packet answers an earlier one (a reply or
// an ICMP error addressed to what the kernel made of it), which only a
// run that follows the kernel can address.
func (p Packet) Answers() bool { return p.Of >= 0 }
