package ext

import (
	"strconv"
	"testing"
)

func TestCluster(t *testing.T) {
	m, _ := sfMatch(t, "-m cluster --cluster-total-nodes 2 --cluster-local-node 2 --cluster-hash-seed 0xfeedcafe", IPv4, "mangle", "PREROUTING", nil)
	save, print, _ := sfSavePrint(m)
	if save != " --cluster-local-nodemask 0x00000002 --cluster-total-nodes 2 --cluster-hash-seed 0xfeedcafe" ||
		print != " cluster node_mask=0x00000002 total_nodes=2 hash_seed=0xfeedcafe" {
		t.Errorf("%q %q", save, print)
	}
	// Every connection belongs to exactly one of the two nodes.
	cc := NewCompiler(nil)
	_, n1 := sfMatch(t, "-m cluster --cluster-total-nodes 2 --cluster-local-node 1 --cluster-hash-seed 0xfeedcafe", IPv4, "mangle", "PREROUTING", cc)
	_, n2 := sfMatch(t, "-m cluster --cluster-total-nodes 2 --cluster-local-node 2 --cluster-hash-seed 0xfeedcafe", IPv4, "mangle", "PREROUTING", cc)
	hits := 0
	for i := 1; i < 200; i++ {
		src := "192.0.2." + strconv.Itoa(i)
		conn := newConn(src, "198.51.100.1", 1000, 80)
		c := sfCtx(sfPkt(src, "198.51.100.1", 6, 1000, 80, 40), PreRouting, 0)
		c.Conn = conn
		c.PktType = PktMulticast
		a, b := n1.Match(c), n2.Match(c)
		if a == b {
			t.Fatalf("%s: node 1 %v node 2 %v", src, a, b)
		}
		if a {
			hits++
		}
		if c.PktType != PktHost {
			t.Fatal("pkt_type not mangled to host")
		}
	}
	if hits < 60 || hits > 140 {
		t.Errorf("node 1 got %d of 199", hits)
	}
}
