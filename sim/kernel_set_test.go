package sim_test

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/ipset"
)

// setRules use every kind of set lookup the packets can reach: networks
// with nomatch entries, ports with protocols, interfaces, a bitmap, a
// list:set, counters compared with --packets-gt, and -j SET adding the
// sources of SYNs to a set with a timeout and deleting them again.
const setSets = `create bl hash:net counters
add bl 203.0.113.0/24
add bl 203.0.113.0/28 nomatch
add bl 198.51.100.64/26
add bl 198.51.100.66 nomatch
create svc hash:ip,port
add svc 198.51.100.1,tcp:22
add svc 198.51.100.1,udp:53
add svc 192.0.2.1,tcp:80-81
add svc 198.51.100.1,gre:0
add svc 192.0.2.10,icmp:echo-request
create lan hash:net,iface
add lan 192.0.2.0/24,wlan0
add lan 198.51.100.0/25,eth0 nomatch
add lan 198.51.100.0/24,eth0
create low bitmap:port range 0-1024
add low 22
add low 500
add low 53
create seen hash:ip timeout 600
create both list:set
add both seen
add both bl
`

const setRules = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:scan - [0:0]
-A INPUT -m set --match-set bl src --packets-gt 3 -j DROP
-A INPUT -m set --match-set bl src -j scan
-A INPUT -m set --match-set bl src --return-nomatch -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN -j SET --add-set seen src --exist
-A INPUT -p tcp -m tcp --tcp-flags RST RST -j SET --del-set seen src
-A INPUT -m set --match-set svc dst,dst -j ACCEPT
-A INPUT -m set ! --match-set lan src,src
-A INPUT -m set --match-set low dst -j ACCEPT
-A INPUT -m set --match-set both src ! --update-subcounters
-A INPUT -m set --match-set seen src -j DROP
-A FORWARD -m set --match-set lan src,src -m set --match-set svc dst,dst -j ACCEPT
-A FORWARD -m set --match-set svc dst,src
-A scan -m set --match-set svc dst,dst -j RETURN
-A scan -j DROP
COMMIT
`

var setTimeout = regexp.MustCompile(`timeout [0-9]+`)

// sortedSave is ipset save with members sorted and timeouts masked:
// the kernel lists in hash order and its clock runs.
func sortedSave(s string) string {
	lines := strings.Split(strings.TrimSpace(setTimeout.ReplaceAllString(s, "timeout x")), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestKernelSets sends random packets through the kernel and ipsift with
// rules matching sets, comparing per packet, then compares the sets
// themselves (the counters the lookups raised, the elements -j SET
// added and deleted).
func TestKernelSets(t *testing.T) {
	kernel.Require(t)
	descs := randomPackets(7, 150)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			diffs := kerneldiff.CompareWithSets(t, b, setSets, setRules, descs, func(fw *kernel.Firewall, sets *ipset.Registry) {
				compareSets(t, fw, sets)
			})
			for _, d := range diffs {
				t.Errorf("%s", d)
			}
			t.Logf("%s: %d packets, %d differences", b, len(descs), len(diffs))
		})
	}
}

// compareSets compares the kernel's ipset save with ipsift's sets after
// the packets (members sorted, timeouts and initval masked).
func compareSets(t *testing.T, fw *kernel.Firewall, sets *ipset.Registry) {
	want, err := fw.Run("ipset", "save")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	sets.Save(&got, "", 0)
	// initval is random in both
	init := regexp.MustCompile(`initval 0x[0-9a-f]+`)
	w, g := init.ReplaceAllString(sortedSave(want), "initval x"), init.ReplaceAllString(sortedSave(got.String()), "initval x")
	if w != g {
		t.Errorf("sets after the packets:\n--- kernel\n%s\n--- ipsift\n%s", w, g)
	}
}
