package conntrack

import (
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/jhash"
)

// jhash2 is the kernel's jhash2 (include/linux/jhash.h, Bob Jenkins'
// lookup3 over 32-bit words), which NAT uses to spread connections over
// an address range (find_best_ips_proto). The words must be given as the
// kernel reads them from memory: an IPv4 address stored in network order
// and read through a u32 pointer on a little-endian machine is le32(addr).
// The hash itself is shared with ipset and the extensions that use it
// (internal/jhash).
func jhash2(k []uint32, initval uint32) uint32 { return jhash.Words(k, initval) }

// reciprocalScale is the kernel's reciprocal_scale: v scaled into [0, n).
func reciprocalScale(v, n uint32) uint32 { return ext.ReciprocalScale(v, n) }
