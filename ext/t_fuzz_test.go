package ext

import (
	"strings"
	"testing"
)

// targetNames are the targets in the t_*.go files.
var targetNames = []string{
	"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "REJECT", "LOG", "MARK",
	"CONNMARK", "NFQUEUE", "NFLOG", "CT", "NOTRACK", "TRACE", "TCPMSS", "TTL", "ECN",
	"TOS", "DSCP", "CLASSIFY", "CHECKSUM", "AUDIT", "SECMARK", "CONNSECMARK",
	"TCPOPTSTRIP", "TPROXY", "TEE", "IDLETIMER", "LED", "SYNPROXY", "SET", "HMARK", "RATEEST",
}

// FuzzTargetParse feeds any argument to every option of every target:
// Parse may refuse it, but nothing may panic, and what is accepted must
// save and print.
func FuzzTargetParse(f *testing.F) {
	for _, s := range []string{"1.2.3.4:80-90/5", "[2001:db8::1]:80", "0x10/0xff", "ssh", "4:", ":", "inf", "250ms", "src,dst", "icmp-h", "-1", "65536", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, arg, next string) {
		for _, name := range targetNames {
			tt := LookupTarget(name, IPv4)
			if tt == nil {
				t.Fatalf("%s not registered", name)
			}
			for _, o := range tt.Options {
				inst := tt.New()
				a := arg
				if o.Arg == NoArg {
					a = ""
				}
				if inst.Parse(o.Name, a, false, &Args{Words: []string{next}}) != nil {
					continue
				}
				for _, ri := range []*RuleInfo{
					{Family: IPv4, Table: "nat", Chain: "PREROUTING", Proto: 6, Hooks: HookPreRouting},
					{Family: IPv4, Table: "mangle", Chain: "FORWARD", Proto: 17, Hooks: HookForward},
				} {
					if inst.Finish(ri) == nil {
						var b strings.Builder
						inst.Save(&b)
						inst.Print(&b, false)
						inst.Print(&b, true)
					}
				}
			}
		}
	})
}
