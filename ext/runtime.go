package ext

import (
	"io"
	"net/netip"
	"sync"

	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/packet"
)

// Hook is one of netfilter's five IPv4/IPv6 hooks.
type Hook uint8

// The hooks in the kernel's numbering (NF_INET_*).
const (
	PreRouting Hook = iota
	LocalIn
	Forward
	LocalOut
	PostRouting
	NumHooks
)

// HookMask is a set of hooks.
type HookMask uint8

// Has reports whether h is in the set.
func (m HookMask) Has(h Hook) bool { return m&(1<<h) != 0 }

// Hook masks for the sets extensions are commonly restricted to.
const (
	HookPreRouting  HookMask = 1 << PreRouting
	HookLocalIn     HookMask = 1 << LocalIn
	HookForward     HookMask = 1 << Forward
	HookLocalOut    HookMask = 1 << LocalOut
	HookPostRouting HookMask = 1 << PostRouting
	AllHooks        HookMask = 1<<NumHooks - 1
)

var hookNames = [...]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// String returns the built-in chain name of the hook (PREROUTING ...).
func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "?"
}

// Iface is a network interface as a packet sees it.
type Iface struct {
	Name  string
	Index int
	MAC   [6]byte
	// Group is the interface's device group (dev->group, IFLA_GROUP,
	// what `ip link set dev X group N` sets); 0, the kernel's default
	// group, unless the host file gives another.
	Group uint32
}

// Packet types, as skb->pkt_type (PACKET_HOST ...).
const (
	PktHost      = 0
	PktBroadcast = 1
	PktMulticast = 2
	PktOtherHost = 3
)

// Conntrack states as the state and conntrack matches see them
// (XT_CONNTRACK_STATE_* bits).
type CTState uint16

// Conntrack state bits.
const (
	CTInvalid     CTState = 1 << 0
	CTEstablished CTState = 1 << 1
	CTRelated     CTState = 1 << 2
	CTNew         CTState = 1 << 3
	CTUntracked   CTState = 1 << 8
	CTSNAT        CTState = 1 << 9
	CTDNAT        CTState = 1 << 10
)

// Conn is the connection-tracking entry a packet belongs to, as the
// stateful matches and targets see it. The conntrack package implements
// it; a nil Conn means the packet is untracked or invalid (see Ctx.CT).
type Conn interface {
	Mark() uint32
	SetMark(uint32)
	// Status returns the IPS_* status bits (SEEN_REPLY, ASSURED, ...).
	Status() uint32
	// Proto is the layer-4 protocol number of the connection.
	Proto() uint8
	// Tuple returns the original (dir 0) or reply (dir 1) direction's
	// addresses and ports (ports 0 when the protocol has none).
	Tuple(dir int) (src, dst netip.Addr, sport, dport uint16)
	// Expires returns the time left, in the engine clock's nanoseconds.
	Expires(now int64) int64
	// Reply reports whether the current packet travels in the reply
	// direction.
	Reply() bool
	// Labels, zone and helpers are added with the extensions that need them.
}

// ConnFinder is implemented by the conntrack table (the ConnTable a
// TableConn names) for connlimit, which must look connections up as the
// kernel's nf_conncount does with nf_conntrack_find_get: ConnAlive alone
// cannot tell a connection that is gone from one that is closing (a
// counted tuple that is still in the table is "already counted" even in
// TIME_WAIT), nor give the status (CONFIRMED, ASSURED) of the connection
// a packet without an entry of its own belongs to.
type ConnFinder interface {
	// FindConn returns the confirmed connection one of whose tuples is t
	// in zone zone (nil when there is none, or it has expired) and
	// whether it is a TCP connection in TIME_WAIT or CLOSE (the
	// kernel's already_closed). now is the engine clock.
	FindConn(t ConnTuple, zone uint16, now int64) (c Conn, closed bool)
}

// Host answers questions about the host the ruleset runs on, for the
// matches that depend on it (addrtype, and the engine's routing).
type Host interface {
	// AddrType returns the RTN_* type of addr as seen from the host
	// (unicast 1, local 2, broadcast 3, anycast 4, multicast 5,
	// blackhole 6, unreachable 7, prohibit 8, throw 9, nat 10, xresolve 11);
	// dev, when non-empty, limits the lookup to that interface, as
	// addrtype's --limit-iface-in/out do.
	AddrType(addr netip.Addr, dev string) int
}

// Verdict is what a target or a rule's end tells the engine: go on,
// or a final verdict. The low 16 bits are the kind; Queue carries its
// queue number in the upper 16 bits.
type Verdict uint32

// Verdict kinds.
const (
	Continue Verdict = iota // XT_CONTINUE: on to the next rule
	Accept
	Drop
	Queue  // NF_QUEUE; see QueueTo
	Return // RETURN from a user chain (targets never return it)
	Stolen // the target consumed the packet (e.g. REJECT after replying)
)

// QueueTo returns the verdict that queues a packet to queue number n.
func QueueTo(n uint16) Verdict { return Queue | Verdict(n)<<16 }

// Kind is the verdict without its queue number.
func (v Verdict) Kind() Verdict { return v & 0xffff }

// QueueNum is the queue number of a Queue verdict.
func (v Verdict) QueueNum() uint16 { return uint16(v >> 16) }

// Ctx is one packet on its way through the rules, with everything a
// match or target may read or change. The engine owns and reuses it: a
// Matcher must not keep it after returning.
type Ctx struct {
	Pkt  *packet.Packet
	Hook Hook
	In   *Iface // nil in OUTPUT and for locally generated packets
	Out  *Iface // nil in PREROUTING and INPUT
	// SkbDev names, for a packet the host made, the device its skb
	// holds when that is not Out: a Redirect's is the link it is about
	// (ndisc_alloc_skb), wherever its route leads. An ICMPv6 answer to
	// it reads that device (icmp6_dev) for a link-local destination.
	// "" when it is Out.
	SkbDev string
	// Now is the engine's clock: nanoseconds since the Unix epoch (UTC),
	// simulated or real. Every time-based extension reads it and nothing
	// reads the wall clock; the time match takes it as the date.
	Now int64

	Mark    uint32 // skb->mark
	PktType uint8  // PktHost ...
	SrcMAC  [6]byte
	HasMAC  bool // an Ethernet source is known (packets that came in)

	// CT is the packet's conntrack state and Conn its entry (nil when
	// untracked or invalid).
	CT   CTState
	Conn Conn
	// Nfct says the packet carries conntrack information without an
	// entry: an answer attached to an untracked packet (nf_ct_attach
	// gives it RELATED with no connection). CT --notrack leaves such a
	// packet alone, as it does one with an entry.
	Nfct bool
	// Conns is the connection table itself, for matches that look up
	// connections other than the packet's (connlimit); nil without one.
	Conns ConnTable

	// Owner of a locally generated packet's socket (owner match); -1 when
	// not known.
	UID, GID int

	Host Host
	// Log receives LOG lines, already in the kernel's format.
	Log io.Writer
	// Emit sends a packet the target created (a REJECT's RST or ICMP
	// error); the engine routes it through OUTPUT and POSTROUTING.
	Emit func(ipPacket []byte)
	// NAT is set by the NAT targets: the engine applies it to the
	// connection (first packet) as the kernel's nf_nat does.
	NAT *NATRequest
}

// NAT manipulation kinds.
const (
	NATSrc = 1 // SNAT, MASQUERADE (applied in POSTROUTING / INPUT)
	NATDst = 2 // DNAT, REDIRECT (PREROUTING / OUTPUT)
)

// NATRange is an address and port range a NAT target maps to (the
// kernel's nf_nat_range2).
type NATRange struct {
	Flags            uint32 // NF_NAT_RANGE_* bits
	MinAddr, MaxAddr netip.Addr
	MinPort, MaxPort uint16
	BasePort         uint16 // for --to-ports with shifting (NETMAP-like)
}

// NAT range flags (NF_NAT_RANGE_*).
const (
	NATMapIPs           = 1 << 0
	NATProtoSpecified   = 1 << 1
	NATProtoRandom      = 1 << 2
	NATPersistent       = 1 << 3
	NATProtoRandomFully = 1 << 4
	NATProtoOffset      = 1 << 5
	NATNetmap           = 1 << 6
)

// NATRequest is what a NAT target asks of the engine for a connection.
type NATRequest struct {
	Kind  int // NATSrc or NATDst
	Range NATRange
	// Masquerade: use the output interface's address.
	Masquerade bool
	// Redirect: use the address of the input interface (or loopback).
	Redirect bool
	// Netmap: map addresses one to one into Range's prefix.
	Netmap bool
	Prefix netip.Prefix
}

// Matcher is a compiled match: the per-packet test. Match must not
// allocate, must not keep c, and must be safe for concurrent calls
// (state is guarded inside the Matcher).
type Matcher interface {
	Match(c *Ctx) bool
}

// Explainer is implemented by Matchers that can say, for a trace, why a
// packet did or did not match ("--dport 22: the packet's is 80"). It is
// called after Match on the same packet, only when tracing; it may
// allocate and must not change state.
type Explainer interface {
	Explain(c *Ctx, matched bool) string
}

// Action is a compiled target: it does its work and returns a verdict.
// The same rules as for Matcher apply.
type Action interface {
	Do(c *Ctx) Verdict
}

// ActionFunc adapts a function to Action.
type ActionFunc func(c *Ctx) Verdict

// Do calls f.
func (f ActionFunc) Do(c *Ctx) Verdict { return f(c) }

// MatchFunc adapts a function to Matcher.
type MatchFunc func(c *Ctx) bool

// Match calls f.
func (f MatchFunc) Match(c *Ctx) bool { return f(c) }

// Compiler is what Compile gets: the rule's place and the engine's
// settings, and a store for state that outlives one ruleset.
type Compiler struct {
	Family Family
	Table  string
	Chain  string
	// HZ is the kernel tick rate the time-based matches count in
	// (jiffies); the reference kernel has 250.
	HZ int
	// Seed makes random choices (statistic --mode random, NAT port
	// clashes) reproducible.
	Seed uint64
	// Legacy selects the x_tables semantics of iptables-legacy where
	// they differ from those of iptables-nft, the reference (see
	// DIFFERENCES.md): iptables-nft turns some matches into nf_tables
	// expressions that behave differently at the edges.
	Legacy bool
	// Sets are the ipsets rules name (-m set, -j SET); nil: none. They
	// live apart from the rules, as the kernel's do: a reload that
	// passes the same registry keeps their contents.
	Sets *ipset.Registry

	store *Store
}

// NewCompiler returns a Compiler whose shared state lives in store (nil
// for a store of its own).
func NewCompiler(store *Store) *Compiler {
	if store == nil {
		store = NewStore()
	}
	return &Compiler{Family: IPv4, HZ: 250, store: store}
}

// Shared returns the object stored under key, creating it with create the
// first time. Objects shared this way survive a reload, as the kernel's
// recent lists and hashlimit tables do (they belong to the network
// namespace, not to one ruleset).
func (c *Compiler) Shared(key string, create func() any) any {
	return c.store.get(key, create)
}

// Store holds the state that outlives a ruleset; one per engine.
type Store struct {
	mu sync.Mutex
	m  map[string]any
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{m: map[string]any{}} }

// Lookup returns the object stored under key, if there is one.
func (s *Store) Lookup(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

func (s *Store) get(key string, create func() any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v
	}
	v := create()
	s.m[key] = v
	return v
}
