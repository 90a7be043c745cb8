package kerneldiff

import (
	"slices"
	"strings"
)

func init() {
	knownBugs6 = append(knownBugs6, knownBug6{
		// The harness sends local packets on a raw socket of its own,
		// root's: the kernel's LOG --log-uid prints its UID=0 GID=0.
		// packets.md's local packets have no socket (ipsift's Ctx.UID
		// is -1), so ipsift prints none. A model question, not an
		// engine bug: a local packet's owner is not in the format.
		"model: --log-uid on a local packet: the kernel logs the harness's raw socket (UID=0 GID=0), a packets.md local packet has no socket",
		func(_ string, d Difference, k *Observation) bool {
			if !d.Packet.Local || !slices.ContainsFunc(k.Log, func(l string) bool { return strings.HasSuffix(l, " UID=0 GID=0") }) {
				return false
			}
			log := make([]string, len(k.Log))
			for i, l := range k.Log {
				log[i] = strings.TrimSuffix(l, " UID=0 GID=0")
			}
			k.Log = log
			return true
		},
	})
}
