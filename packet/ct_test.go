package packet

import (
	"strings"
	"testing"
)

func TestCTShortAndJSON(t *testing.T) {
	for _, s := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct=established",
		"eth0 tcp 198.51.100.9:80 > 198.51.100.1:40000 SA ct=syn_sent,reply",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:2222 A ct=established,mark=0x10,dnat=192.0.2.50:22,timeout=60",
		"wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 ct=unreplied,snat=198.51.100.1",
		`eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 100 ESTABLISHED src=203.0.113.7 dst=198.51.100.1 sport=40000 dport=22 src=198.51.100.1 dst=203.0.113.7 sport=22 dport=40000 [ASSURED] mark=0 use=1"`,
	} {
		d, err := ParseShort(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if d.CT == nil {
			t.Fatalf("%s: no ct", s)
		}
		if got := d.String(); got != s {
			t.Errorf("String:\n got %s\nwant %s", got, s)
		}
		j, _ := d.MarshalJSON()
		back, err := ParseDescLine(j)
		if err != nil {
			t.Fatalf("%s: %v", j, err)
		}
		if back.CT.String() != d.CT.String() {
			t.Errorf("JSON round trip: %s != %s", back.CT, d.CT)
		}
	}
}

func TestCTErrors(t *testing.T) {
	for s, want := range map[string]string{
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 ct=estab":                            `"estab" is not a state`,
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 ct=established,foo":                  `"foo": want reply`,
		"eth0 udp 203.0.113.7:1 > 198.51.100.1:22 ct=time_wait":                        "is a TCP state",
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 ct=established,dnat=2001:db8::1":     "not of the packet's family",
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 ct=established,reply,snat=192.0.2.1": "with reply",
		"eth0 icmp 203.0.113.7 > 198.51.100.1 3/3 ct=established":                      "icmp error",
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 ct=established,mark=x":               `"mark=x"`,
	} {
		_, err := ParseShort(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", s, err, want)
		}
	}
	if _, err := ParseDescLine([]byte(`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2,"ct":5}`)); err == nil || !strings.Contains(err.Error(), `"ct"`) {
		t.Errorf("ct as a number: %v", err)
	}
}
