package ext

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/internal/jhash"
)

// The cluster match (-m cluster, libxt_cluster and the kernel's
// xt_cluster) spreads connections over the nodes of a cluster that all
// see the same packets: each connection belongs to the node its original
// source address hashes to (jhash with --cluster-hash-seed), and a node
// accepts the connections of the nodes in its --cluster-local-nodemask.
// The hash is the kernel's on a little-endian machine, so ipsift picks
// the same node as an x86 or arm64 firewall would.

const clusterNodesMax = 32

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "cluster",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "cluster-total-nodes", Arg: OneArg, Mandatory: true},
			{Name: "cluster-local-node", Arg: OneArg, Invert: true, Excludes: []string{"cluster-local-nodemask"}},
			{Name: "cluster-local-nodemask", Arg: OneArg, Invert: true, Excludes: []string{"cluster-local-node"}},
			{Name: "cluster-hash-seed", Arg: OneArg, Mandatory: true},
		},
		New: func() Match { return &clusterMatch{} },
	})
}

// clusterMatch is one -m cluster in a rule (struct
// xt_cluster_match_info).
type clusterMatch struct {
	totalNodes, nodeMask, hashSeed uint32
	invert                         bool
	haveNode                       bool
}

// Parse implements Parser.
func (m *clusterMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	num := func(min, max uint64) (uint32, error) {
		v, ok := StrtoulFull(arg, 0, min, max)
		if !ok {
			return 0, fmt.Errorf("bad value %q, or out of range (%d-%d)", arg, min, max)
		}
		return uint32(v), nil
	}
	var err error
	switch opt {
	case "cluster-total-nodes":
		m.totalNodes, err = num(1, clusterNodesMax)
	case "cluster-local-node":
		var n uint32
		n, err = num(1, clusterNodesMax)
		m.nodeMask = 1 << (n - 1)
		m.haveNode = true
		m.invert = m.invert || invert
	case "cluster-local-nodemask":
		m.nodeMask, err = num(1, clusterNodesMax)
		m.haveNode = true
		m.invert = m.invert || invert
	case "cluster-hash-seed":
		m.hashSeed, err = num(0, 1<<32-1)
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return err
}

// Finish implements Parser: cluster_check and the kernel's checkentry.
func (m *clusterMatch) Finish(*RuleInfo) error {
	if !m.haveNode {
		return fmt.Errorf("--cluster-local-node or --cluster-local-nodemask is missing")
	}
	if uint64(m.nodeMask) >= 1<<uint64(m.totalNodes) {
		return fmt.Errorf("--cluster-local-node must be <= --cluster-total-nodes (the node mask 0x%08x is too big for %d nodes)", m.nodeMask, m.totalNodes)
	}
	return nil
}

// Save implements Parser.
func (m *clusterMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	fmt.Fprintf(b, " --cluster-local-nodemask 0x%08x --cluster-total-nodes %d --cluster-hash-seed 0x%08x", m.nodeMask, m.totalNodes, m.hashSeed)
}

// Print implements Parser.
func (m *clusterMatch) Print(b *strings.Builder, _ bool) {
	not := ""
	if m.invert {
		not = "!"
	}
	fmt.Fprintf(b, " cluster %snode_mask=0x%08x total_nodes=%d hash_seed=0x%08x", not, m.nodeMask, m.totalNodes, m.hashSeed)
}

// Compile implements Match.
func (m *clusterMatch) Compile(*Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// node is xt_cluster_hash: the node (0-based) a connection belongs to,
// by the original source address of it or of its master.
func (m *clusterMatch) node(conn Conn) uint32 {
	if mc, ok := conn.(MasterConn); ok {
		if master := mc.Master(); master != nil {
			conn = master
		}
	}
	src, _, _, _ := conn.Tuple(0)
	var h uint32
	if src.Is4() {
		a := src.As4()
		h = jhash.Word1(binary.LittleEndian.Uint32(a[:]), m.hashSeed)
	} else {
		a := src.As16()
		var w [4]uint32
		for i := range w {
			w[i] = binary.LittleEndian.Uint32(a[4*i:])
		}
		h = jhash.Words(w[:], m.hashSeed)
	}
	return uint32(uint64(h) * uint64(m.totalNodes) >> 32)
}

// Match implements Matcher: xt_cluster_mt, including its side effect:
// a packet to a unicast address that arrived as link-layer multicast
// (the cluster's shared MAC) becomes PACKET_HOST.
func (m *clusterMatch) Match(c *Ctx) bool {
	if c.PktType == PktMulticast && !c.Pkt.Dst.IsMulticast() {
		c.PktType = PktHost
	}
	if c.Conn == nil {
		return false
	}
	return (uint64(1)<<m.node(c.Conn)&uint64(m.nodeMask) != 0) != m.invert
}

// Explain implements Explainer.
func (m *clusterMatch) Explain(c *Ctx, matched bool) string {
	if c.Conn == nil {
		return "cluster: the packet has no connection"
	}
	return fmt.Sprintf("cluster: the connection belongs to node %d of %d; this node takes mask 0x%08x", m.node(c.Conn)+1, m.totalNodes, m.nodeMask)
}
