// Package conntrack is the Linux kernel's connection tracking and NAT
// for IPv4 and IPv6 (nf_conntrack, nf_nat), reimplemented to give the same
// results packet for packet: the same states (NEW, ESTABLISHED,
// RELATED, INVALID), the same TCP state machine and window tracking, the
// same timeouts, the same NAT bindings and rewrites, checksums included.
// The reference is kernel 6.18 with its default sysctls; see DefaultConfig.
//
// # What is tracked
//
//   - TCP as nf_conntrack_proto_tcp: the tcp_conntracks transition table
//     for both directions (SYN_SENT2 for simultaneous open), tcp_in_window
//     with per-direction td_end/td_maxend/td_maxwin/td_scale, window
//     scaling and SACK from the SYN options, the three outcomes of a
//     window check (in window; out of window and INVALID; out of window
//     but let through untouched, as for data behind the window or an
//     ACK below it), retransmission counting, the ignore/resync logic
//     for SYNs and SYN/ACKs out of step, RST checks (exact sequence,
//     challenge ACK), loose pickup of mid-stream packets
//     (nf_conntrack_tcp_loose), the flag combinations that are INVALID,
//     ASSURED, the per-state timeouts and the shorter ones for
//     retransmissions, unacknowledged data and zero windows, and the
//     deletion of a connection whose only answer is a RST.
//   - UDP: 30 s until a reply, then the stream timeout (120 s) and
//     ASSURED once the connection is more than 2 s old. UDP-Lite: the
//     same timeouts, the stream one and ASSURED as soon as it is
//     replied; its checksum coverage is checked.
//   - ICMP: queries (echo, timestamp, information, address mask) by id,
//     30 s; an answer without a query is INVALID; errors (types 3, 4, 5,
//     11, 12) are RELATED to the connection of the packet they quote, or
//     INVALID.
//   - GRE (keys of PPTP's enhanced GRE; 30 s, 180 s once replied) and
//     every other protocol with the generic tracker (600 s).
//   - IPv6, in the same table (a tuple's family keeps the two apart, as
//     the kernel's l3num): the transport header is where
//     ipv6_skip_exthdr finds it, so a packet whose chain ends in No
//     Next Header, is cut short, or is a later fragment gets no entry
//     (INVALID). TCP, UDP, UDP-Lite, GRE and the generic protocols are
//     tracked exactly as for IPv4 (checksums over the IPv6
//     pseudo-header of the IPv6 header's own addresses). ICMPv6:
//     echo (128) and node information queries (139) by id, 30 s;
//     neighbour discovery, MLD and multicast router discovery (130-136,
//     143, 151, 152) are UNTRACKED (Track returns ext.CTUntracked and
//     no entry); an answer without a query and the types without one
//     (129, 137, 140, 141, 144, 153, 200, 255, ...) are INVALID; errors
//     (types below 128) are RELATED to the connection they quote when
//     they go where its packets in that direction go; a bad ICMPv6
//     checksum is INVALID. ICMP in IPv6 and ICMPv6 in IPv4 are INVALID,
//     as the kernel's trackers refuse the other family.
//
// Known differences from the kernel: SCTP and DCCP are tracked by the
// generic tracker (the kernel has an SCTP state machine; DCCP is not in
// this kernel's configuration either, so DCCP matches); there are no
// conntrack helpers and expectations (FTP, SIP, PPTP's GRE keymap), no
// zones, labels or per-rule timeout policies; the kernel's random
// choices (the NAT port when the original is taken, --random) come from
// a seeded stream; early drop picks its victim deterministically (see
// Table); MASQUERADE does not remember its output interface, so the
// kernel's drop of a masqueraded connection whose route moves to
// another interface is not modelled.
//
// # How the engine drives it
//
// One Table per network namespace (engine); it is safe for concurrent
// packets. The clock is the engine's, in nanoseconds, passed to every
// call. For each packet, in the kernel's hook order:
//
//  1. raw table first; a packet made untracked there (NOTRACK, CT
//     --notrack) is not given to conntrack (its state is CTUntracked).
//     A packet that already carries a connection (one the host sent to
//     itself, coming back through lo) is not tracked again.
//  2. Conntrack: Track for a packet that came in (PREROUTING, with
//     checksum verification) or TrackLocal for one the host sends
//     (OUTPUT). It returns the entry, the state and the direction;
//     Ctx.CT = state and Ctx.Conn = e.Conn(reply). A nil entry means
//     INVALID (state ext.CTInvalid) or, with state Drop, that the kernel
//     drops the packet here (table full).
//  3. NAT, destination manipulation, at PREROUTING and OUTPUT (after
//     mangle): the nat chain is traversed only when the state is NEW
//     (or RELATED, for a packet that is not an ICMP error) and
//     !e.HasNAT(ext.NATDst). A NAT target's request goes to SetupNAT;
//     if the chain ends without one, SetupNullNAT(e, ext.NATDst). Then,
//     for every tracked packet, Translate(e, reply, ext.NATDst, p). ICMP
//     errors RELATED to a connection never traverse nat chains; only
//     Translate, which rewrites the quoted packet too. All of this only
//     when a nat table is loaded: the kernel registers its NAT hooks
//     with the table, and without them there is no binding at all.
//  4. Routing, filter, and the source manipulation the same way at
//     POSTROUTING (forwarded and local packets) or INPUT (packets to the
//     host): SetupNAT/SetupNullNAT(e, ext.NATSrc), Translate(..., NATSrc).
//     For MASQUERADE pass the address of the output interface, for
//     REDIRECT the primary address of the input interface (127.0.0.1
//     for local packets). For IPv6: MASQUERADE's address is
//     SelectSource6 of the host's addresses (the kernel's source
//     address selection), REDIRECT's RedirectAddr6 of the input
//     interface's (::1 for local packets); NAT66 rewrites as NAT does
//     for IPv4, the transport checksums through the pseudo-header.
//     Stateless prefix translation (SNPT, DNPT) is package npt. A SetupNAT error or a false Translate means the
//     kernel drops the packet.
//  5. Confirm(e, now) when the packet has passed the last hook
//     (POSTROUTING, or INPUT for the host): a new connection enters the
//     table only then. If the packet is dropped anywhere before, call
//     Discard(e) instead (a REJECT drops it too). Confirm is a no-op for
//     a confirmed connection, so it can be called for every packet; a
//     false result means the kernel drops the packet (its tuples clashed
//     with a connection that got there first).
//
// Answers the firewall builds itself (REJECT's RST or ICMP error) are
// not tracked: they belong to the connection of the packet they answer
// as RELATED in the opposite direction (Entry.Attach), are rewritten by
// Translate as RELATED packets, and do not confirm the connection. The
// host stack's own answers (a RST from a closed port, an ICMP port
// unreachable) are ordinary local packets: TrackLocal, and they change
// the connection as in the kernel (a RST answering a SYN deletes it).
//
// # Direction without allocation
//
// The packet's direction is not stored in the shared entry (two packets
// of one connection may be in flight at once). *Entry is the connection
// as an original-direction packet sees it; *ReplyView is the same memory
// seen from the reply direction (a pointer conversion, no allocation),
// whose Reply method reports true. Entry.Conn(reply) returns the right
// one as an ext.Conn. Both implement ext.Conn, ext.TableConn (for
// connlimit) and ext.AcctConn (connbytes); Table implements
// ext.ConnTable.
package conntrack
