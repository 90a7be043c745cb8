package ext

// The hbh match (-m hbh --hbh-len N --hbh-opts TYPE[:LEN],...): the IPv6
// Hop-by-Hop Options header, as libip6t_hbh.c reads and prints it; the
// same code as dst (m_dst.go) for the other options header.

func init() { registerOptsMatch("hbh") }
