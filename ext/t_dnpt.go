package ext

// DNPT (libip6t_DNPT, the kernel's ip6t_NPT): stateless IPv6 network
// prefix translation of the destination, mangle table, PREROUTING and
// OUTPUT; the same target as SNPT (t_snpt.go) in the other direction.

func init() { registerNPT("DNPT", HookPreRouting|HookLocalOut) }
