package sim

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// Until the engine runs ip6tables rules, an IPv6 packet (which the
// packet layer now reads and builds) is refused, not put through the
// IPv4 ruleset.
func TestIPv6PacketRefused(t *testing.T) {
	res := load.Bytes("r.rules", []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	e, err := engine.New(res.Rules, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := packet.ParseShort("eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(e).Run(0, d); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("IPv6 packet simulated: %v", err)
	}
}
