package packet

import (
	"bytes"
	"reflect"
	"testing"
)

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func descEqual(a, b Desc) bool { return reflect.DeepEqual(a, b) }

// IPv6 packets of the packets format and the bytes they stand for: the
// four examples of packets.md's IPv6 section, then extension headers
// (routing types 0, 2 and 4, AH, fragment), neighbour advertisement,
// packet too big, parameter problem, echo with traffic class and flow
// label. The expected bytes were built independently of this package,
// with scapy 2.5 (IPv6, IPv6ExtHdr*, ICMPv6*, its own in6_chksum, which
// also puts a routing header's final destination into the
// pseudo-header); only AH's Next Header and Payload Length bytes were
// filled in by hand (RFC 4302: 60 and 4), scapy's AH layer leaving them
// to a security association. The link-layer option carries
// 02:00:00:00:01:01.
var ipv6Examples = []struct {
	line string
	hex  string
}{
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":40000,"dport":22,"flags":"S"}`,
		"600000000014064020010db801130000000000000000000720010db80100000000000000000000019c400016000003e8000000005002200092170000",
	},
	{
		`{"in":"eth0","src":"fe80::ff:fe00:101","dst":"ff02::1:ff00:1","proto":"icmpv6","type":135,"target":"2001:db8:100::1","ttl":255}`,
		"6000000000203afffe80000000000000000000fffe000101ff0200000000000000000001ff000001870049610000000020010db80100000000000000000000010101020000000101",
	},
	{
		`{"in":"wlan0","src":"2001:db8:2::10","dst":"2001:db8:100::9","proto":"udp","sport":53000,"dport":53,"ext":[{"type":"hbh"},{"type":"dst","len":1}]}`,
		"600000000020004020010db800020000000000000000001020010db80100000000000000000000093c0001040000000011011e0c000000000000000000000000cf0800350008d413",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":1,"code":4,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"udp","sport":46000,"dport":33434}}`,
		"6000000000383a4020010db801130000000000000000008020010db801000000000000000000000101042f5400000000600000000008114020010db801000000000000000000000120010db8011300000000000000000080b3b0829a00086b8d",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"udp","sport":1000,"dport":2000,"len":5,"ext":[{"type":"rt","rt_type":0,"segleft":1,"addrs":["2001:db8:100::5","2001:db8:100::6"]}]}`,
		"6000000000352b4020010db801130000000000000000000720010db8010000000000000000000001110400010000000020010db801000000000000000000000520010db801000000000000000000000603e807d0000d968a0000000000",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":1000,"dport":2000,"flags":"PA","len":3,"ext":[{"type":"ah","spi":258},{"type":"dst","len":2}],"mf":true,"id":77}`,
		"60000000004f334020010db801130000000000000000000720010db80100000000000000000000013c04000000000102000000000000000000000000000000002c021e140000000000000000000000000000000000000000060000010000004d03e807d0000003e8000003e9501820001eb40000000000",
	},
	{
		`{"local":true,"src":"2001:db8:100::1","dst":"fe80::ff:fe00:101","proto":"icmpv6","type":136,"target":"2001:db8:100::1"}`,
		"6000000000203aff20010db8010000000000000000000001fe80000000000000000000fffe0001018800b6ac6000000020010db80100000000000000000000010201020000000101",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":2,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"tcp","sport":22,"dport":40000}}`,
		"6000000000383a4020010db801130000000000000000008020010db8010000000000000000000001020035ee00000500600000000014064020010db801000000000000000000000120010db801130000000000000000008000169c40000003e8",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":4,"code":1,"pointer":40,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"tcp","sport":22,"dport":40000}}`,
		"6000000000383a4020010db801130000000000000000008020010db8010000000000000000000001040138c500000028600000000014064020010db801000000000000000000000120010db801130000000000000000008000169c40000003e8",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"icmpv6","type":128,"tos":184,"flow":74565,"ttl":3}`,
		"6b81234500083a0320010db801130000000000000000000720010db80100000000000000000000018000223000000000",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"udp","sport":1,"dport":2,"ext":[{"type":"rt","rt_type":4,"segleft":1,"addrs":["2001:db8:100::99","2001:db8:100::77"]}]}`,
		"6000000000302b4020010db801130000000000000000000720010db8010000000000000000000001110404010100000020010db801000000000000000000009920010db8010000000000000000000077000100020008a1b6",
	},
	{
		`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"59","ext":[{"type":"rt","rt_type":2,"segleft":1,"addrs":["2001:db8:100::9"]}]}`,
		"6000000000182b4020010db801130000000000000000000720010db80100000000000000000000013b0202010000000020010db8010000000000000000000009",
	},
}

func TestBuildIPv6Examples(t *testing.T) {
	for i, e := range ipv6Examples {
		d, err := ParseDescLine([]byte(e.line))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		got, err := d.BuildWith(i, BuildOpts{LinkAddr: MAC{2, 0, 0, 0, 1, 1}})
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := mustHex(t, e.hex); !bytes.Equal(got, want) {
			t.Errorf("line %d %s:\n got % x\nwant % x", i, e.line, got, want)
		}
		// Each decodes to what it says, and survives JSON and the short
		// form.
		checkDesc(t, d)
		back, err := ParseDescLine(must(d.MarshalJSON()))
		if err != nil || !descEqual(back, d) {
			t.Errorf("line %d: JSON round trip gives %+v, %v", i, back, err)
		}
		short, err := ParseShort(d.String())
		if err != nil || !descEqual(short, d) {
			t.Errorf("line %d: short form %q gives %+v, %v", i, d.String(), short, err)
		}
	}
}
