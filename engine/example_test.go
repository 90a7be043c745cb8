package engine_test

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// A program that has packets in byte slices embeds ipsift like this: load
// a ruleset, build an engine for its host, and give it packets.
func Example() {
	rs := rules.New()
	_, err := rs.Restore(strings.NewReader(`*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 22 -s 203.0.113.0/24 -j ACCEPT
COMMIT
`), rules.RestoreOptions{})
	if err != nil {
		panic(err)
	}
	e, err := engine.New(rs, host.Default(), engine.Config{})
	if err != nil {
		panic(err)
	}
	st := engine.NewState() // one per goroutine; Process allocates nothing
	for _, pkt := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 198.51.100.9:40000 > 198.51.100.1:22 S",
	} {
		d, _ := packet.ParseShort(pkt)
		data, _ := d.Build(0) // or bytes from a TUN device, a capture ...
		e.Process(st, &engine.Input{Data: data, In: d.In, Now: 0})
		fmt.Println(d.Src, st.Result.Verdict, st.Result.Hits)
	}
	// Output:
	// 203.0.113.7 accept-local [{filter INPUT 1}]
	// 198.51.100.9 drop [{filter INPUT 0}]
}

// Counters read like iptables -L -v: the Program keeps them per rule
// and per policy.
func ExampleProgram_Counters() {
	rs := rules.New()
	rs.Restore(strings.NewReader("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i wlan0 -o eth0 -j ACCEPT\nCOMMIT\n"), rules.RestoreOptions{})
	e, _ := engine.New(rs, nil, engine.Config{})
	st := engine.NewState()
	d, _ := packet.ParseShort("wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40")
	data, _ := d.Build(0)
	e.Process(st, &engine.Input{Data: data, In: d.In})
	for _, c := range e.Program().Counters() {
		if c.Table == "filter" && c.Chain == "FORWARD" {
			fmt.Printf("rule %d: %d packets, %d bytes\n", c.Rule, c.Packets, c.Bytes)
		}
	}
	// Output:
	// rule 0: 0 packets, 0 bytes
	// rule 1: 1 packets, 68 bytes
}
