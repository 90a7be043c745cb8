package load

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/rules"
)

var genCount = flag.Int("gen.n", 30, "number of generated rulesets compared with the kernel's iptables-save")

// Match and target snippets by table, each valid in every chain of its
// table, covering the extensions real firewalls use.
var (
	anyTableMatches = []string{
		"-p tcp -m tcp --dport 22", "-p tcp -m tcp ! --sport 1024:65535", "-p tcp --syn",
		"-p tcp -m tcp --tcp-flags SYN,ACK,FIN,RST RST", "-p tcp -m tcp --tcp-option 2",
		"-p udp -m udp --dport 53", "-p udp --sport 67:68", "-p icmp -m icmp --icmp-type 8",
		"-p icmp --icmp-type echo-reply", "-p icmp -m icmp --icmp-type 3/3",
		"-p tcp -m multiport --dports 22,25,80,443", "-p udp -m multiport ! --sports 1000:2000,3000",
		"-m iprange --src-range 192.0.2.10-192.0.2.20", "-m length --length 100:1500",
		"-m ttl --ttl-lt 5", "-m tos --tos 0x10", "-m dscp --dscp 10", "-m dscp --dscp-class AF41",
		"-m mark --mark 0x1/0xff", "-m connmark ! --mark 7", "-m addrtype --dst-type LOCAL",
		"-m comment --comment \"a comment\"", "-m limit --limit 5/min --limit-burst 10",
		"-m state --state NEW,ESTABLISHED", "-m conntrack --ctstate RELATED,ESTABLISHED",
		"-m conntrack --ctstate DNAT --ctorigdst 198.51.100.1", "-m statistic --mode nth --every 3 --packet 1",
		"-m statistic --mode random --probability 0.25", "-m recent --name bad --rcheck --seconds 60",
		"-m hashlimit --hashlimit-upto 10/sec --hashlimit-mode srcip --hashlimit-name h1",
		"-m connlimit --connlimit-above 5", "-m pkttype --pkt-type broadcast", "-p tcp -m ecn --ecn-tcp-cwr",
		"-m string --string foo --algo bm", "-m u32 --u32 \"0>>22&0x3C@0>>16=0x50\"", "-m time --weekdays Mon",
		"-m policy --dir in --pol none", "-m quota --quota 1000", "-m helper --helper ftp",
		"-f", "! -f", "! -p udp", // not -p 47: 1.8.9 prints gre, 1.8.11 47 (DIFFERENCES.md)
	}
	filterTargets = []string{"-j ACCEPT", "-j DROP", "-j RETURN", "-j REJECT", "-p tcp -j REJECT --reject-with tcp-reset",
		"-j REJECT --reject-with icmp-host-prohibited", "-j LOG --log-prefix \"drop: \" --log-level 7",
		"-j NFLOG --nflog-group 2", "-j NFQUEUE --queue-num 3 --queue-bypass", "-j MARK --set-mark 5",
		"-j CONNMARK --save-mark", "-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu", ""}
	natTargets = map[string][]string{
		"PREROUTING":  {"-p tcp -j DNAT --to-destination 192.0.2.10:80", "-p tcp -j REDIRECT --to-ports 8080", "-j DNAT --to-destination 192.0.2.10-192.0.2.20", "-j NETMAP --to 192.0.2.0/28"},
		"OUTPUT":      {"-j DNAT --to-destination 192.0.2.10", "-j REDIRECT"},
		"POSTROUTING": {"-j MASQUERADE", "-j SNAT --to-source 198.51.100.1", "-p udp -j MASQUERADE --to-ports 1024-2048 --random", "-p tcp -j SNAT --to-source 198.51.100.1:1000-2000 --persistent"},
		"INPUT":       {"-j SNAT --to-source 198.51.100.1"},
	}
	mangleTargets = []string{"-j MARK --set-xmark 0x1/0xff", "-j TTL --ttl-set 64", "-j TOS --set-tos 0x10", "-j DSCP --set-dscp 8", "-j CLASSIFY --set-class 1:2", "-j CONNMARK --set-mark 3", "-j ACCEPT", ""}
	rawTargets    = []string{"-j CT --notrack", "-j NOTRACK", "-j TRACE", "-j ACCEPT", "-j DROP", ""}
	addrs         = []string{"192.0.2.1", "192.0.2.0/24", "198.51.100.0/25", "203.0.113.7/32", "192.0.2.10,192.0.2.11", "198.51.100.0/255.255.0.255"}
	ifaces        = []string{"eth0", "wlan0", "eth+", "veth1"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// genRuleset builds a random restore file: the four tables, user chains
// with jumps and gotos (no loops: chains only jump to later ones),
// negations, several addresses, and the snippets above.
func genRuleset(r *rand.Rand) string {
	var b strings.Builder
	tables := map[string][]string{"filter": {"INPUT", "FORWARD", "OUTPUT"}, "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}, "mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}, "raw": {"PREROUTING", "OUTPUT"}}
	for _, tn := range []string{"raw", "mangle", "nat", "filter"} {
		if r.IntN(4) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", tn)
		for _, c := range tables[tn] {
			pol := "ACCEPT"
			if tn == "filter" && r.IntN(2) == 0 {
				pol = "DROP"
			}
			fmt.Fprintf(&b, ":%s %s [0:0]\n", c, pol)
		}
		nuser := 0
		if tn == "filter" || tn == "mangle" {
			nuser = r.IntN(4)
		}
		var users []string
		for i := 0; i < nuser; i++ {
			u := fmt.Sprintf("%s-u%d", []string{"chain", "Chain", "x"}[r.IntN(3)], i)
			users = append(users, u)
			fmt.Fprintf(&b, ":%s - [0:0]\n", u)
		}
		chains := append(append([]string{}, tables[tn]...), users...)
		for ci, c := range chains {
			for n := r.IntN(5); n > 0; n-- {
				// Mostly rules ipsift accepts (so the kernel's save has
				// something to compare), sometimes whatever came out (so
				// refusals are compared too).
				for try := 0; try < 8; try++ {
					var parts []string
					if r.IntN(3) == 0 {
						a, neg := pick(r, addrs), pick(r, []string{"", "! "})
						if strings.Contains(a, ",") && r.IntN(8) != 0 {
							neg = "" // mostly loadable; sometimes the refusal is the test
						}
						parts = append(parts, neg+"-s "+a)
					}
					if r.IntN(4) == 0 {
						parts = append(parts, pick(r, []string{"", "! "})+"-d "+pick(r, addrs[:4]))
					}
					hook := c
					if ci >= len(tables[tn]) {
						hook = "FORWARD" // user chains here are reached from FORWARD-like hooks only
					}
					if r.IntN(3) == 0 && hook != "OUTPUT" && hook != "POSTROUTING" {
						parts = append(parts, pick(r, []string{"", "! "})+"-i "+pick(r, ifaces))
					}
					if r.IntN(4) == 0 && hook != "INPUT" && hook != "PREROUTING" {
						parts = append(parts, "-o "+pick(r, ifaces))
					}
					if tn != "raw" && r.IntN(2) == 0 {
						parts = append(parts, pick(r, anyTableMatches))
					}
					var target string
					switch {
					case ci < len(chains)-1 && r.IntN(4) == 0 && ci >= len(tables[tn])-1 && len(users) > 0:
						// jump forward only, to a later user chain
						later := chains[max(ci+1, len(tables[tn])):]
						if len(later) > 0 {
							target = pick(r, []string{"-j ", "-g "}) + pick(r, later)
						}
					case tn == "filter":
						target = pick(r, filterTargets)
					case tn == "nat":
						if ts := natTargets[c]; ts != nil && r.IntN(2) == 0 {
							target = pick(r, ts)
						}
					case tn == "mangle":
						target = pick(r, mangleTargets)
					case tn == "raw":
						target = pick(r, rawTargets)
					}
					if strings.Contains(target, "TCPMSS") || strings.Contains(target, "REJECT") && strings.Contains(target, "tcp-reset") {
						parts = nil // these bring their own protocol match
					}
					if strings.Contains(target, "REJECT") && (hook == "PREROUTING" || hook == "POSTROUTING") {
						target = "-j DROP"
					}
					if strings.HasPrefix(target, "-p ") && strings.Contains(strings.Join(parts, " "), "-p ") {
						parts = parts[:0]
					}
					if strings.Contains(strings.Join(parts, " "), "-p ") && strings.HasPrefix(target, "-p ") {
						parts = nil
					}
					line := strings.TrimSpace(strings.Join(append(parts, target), " "))
					if try < 7 && r.IntN(10) != 0 && !accepted(tn, c, users, line) {
						continue
					}
					fmt.Fprintf(&b, "-A %s %s\n", c, line)
					break
				}
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// TestKernelSaveGenerated compares ipsift's iptables-save with the
// kernel's (nf_tables backend) for generated rulesets. A ruleset the
// installed iptables refuses must be refused by ipsift too.
func TestKernelSaveGenerated(t *testing.T) {
	kernel.Require(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("IPSIFT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("IPSIFT_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (rerun: IPSIFT_SEED=%d go test ./load -run TestKernelSaveGenerated)", seed, seed)
	fw := kernel.NewFirewall(t, kernel.NFT)
	compared, refused := 0, 0
	for i := 0; i < *genCount; i++ {
		s := uint64(i)
		if i >= *genCount/2 {
			s = seed + uint64(i)
		}
		text := genRuleset(rand.New(rand.NewPCG(s, 7)))
		rs := rules.New()
		_, ourErr := rs.Restore(strings.NewReader(text), rules.RestoreOptions{})
		// A fresh kernel table set: flush what the previous ruleset left.
		fw.Restore("*raw\nCOMMIT\n*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n")
		kerr := fw.Restore(text)
		if kerr != nil {
			refused++
			t.Logf("seed %d refused by the kernel: %v; ipsift: %v", s, firstLines(kerr.Error(), 2), ourErr)
			if ourErr == nil {
				t.Errorf("seed %d: the kernel refuses, ipsift accepts:\n%v\n%s", s, kerr, text)
			}
			continue
		}
		if ourErr != nil {
			t.Errorf("seed %d: ipsift refuses what the kernel loads: %v\n%s", s, ourErr, text)
			continue
		}
		theirs, err := fw.Save()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		rs.Save(&b, rules.SaveOptions{})
		k, o := tableBlocks(theirs), tableBlocks(b.String())
		for name, want := range o {
			if k[name] != want {
				t.Errorf("seed %d table %s:\nkernel:\n%s\nipsift:\n%s", s, name, k[name], want)
			}
		}
		compared++
	}
	t.Logf("%d generated rulesets compared with the kernel, %d refused by both", compared, refused)
	if compared < *genCount/2 {
		t.Errorf("only %d of %d generated rulesets loaded into the kernel: the generator is off", compared, *genCount)
	}
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(s, "\n", n+1)
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, " / ")
}

// accepted reports whether ipsift takes the rule in a table holding the
// given user chains (hooks of user chains are checked at COMMIT).
func accepted(table, chain string, users []string, line string) bool {
	rs := rules.New()
	for _, u := range users {
		cmd, _ := rules.ParseCommand(rules.Words([]string{"-t", table, "-N", u}), rules.ParseOptions{})
		rs.Apply(cmd)
	}
	cmd, err := rules.ParseCommand(rules.SplitLine("", 1, "-t "+table+" -A "+chain+" "+line), rules.ParseOptions{})
	return err == nil && rs.Apply(cmd) == nil
}
