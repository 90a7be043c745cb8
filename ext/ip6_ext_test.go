package ext

import (
	"net/netip"
	"strings"
	"testing"
)

// ip6Parse builds one IPv6 extension instance from "--opt val ..." words
// (a "!" before an option inverts it) and returns its save and -L forms.
func ip6Parse(t *testing.T, kind, name string, words []string, info RuleInfo) (save, list string, err error) {
	t.Helper()
	info.Family = IPv6
	var p Parser
	var opts []Option
	if kind == "m" {
		mt := LookupMatch(name, IPv6)
		if mt == nil {
			t.Fatalf("no IPv6 match %s", name)
		}
		p, opts = mt.New(), mt.Options
	} else {
		tt := LookupTarget(name, IPv6)
		if tt == nil {
			t.Fatalf("no IPv6 target %s", name)
		}
		p, opts = tt.New(), tt.Options
	}
	inv := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "!" {
			inv = true
			continue
		}
		opt := strings.TrimPrefix(w, "--")
		arg := ""
		for _, o := range opts {
			if o.Name == opt && o.Arg == OneArg {
				i++
				arg = words[i]
			}
		}
		if err := p.Parse(opt, arg, inv, &Args{}); err != nil {
			return "", "", err
		}
		inv = false
	}
	if err := p.Finish(&info); err != nil {
		return "", "", err
	}
	var s, l strings.Builder
	p.Save(&s)
	p.Print(&l, false)
	return s.String(), l.String(), nil
}

// TestIPv6Extensions: the save and -L forms of the ip6tables extensions,
// as libip6t_*.c print them, and the refusals they share with ip6tables
// and the kernel. (The save forms are also covered line by line by the
// conformance suite; these pin -L and the error paths.)
func TestIPv6Extensions(t *testing.T) {
	for _, c := range []struct {
		kind, name, args string
		info             RuleInfo
		save, list       string
	}{
		{"m", "ah", "--ahspi 5:7 --ahlen 32 --ahres", RuleInfo{}, " --ahspi 5:7 --ahlen 32 --ahres", " ah spis:5:7 length:32 reserved"},
		{"m", "dst", "! --dst-len 42 --dst-opts 149:92,12", RuleInfo{}, " ! --dst-len 42 --dst-opts 149:92,12", " dst length:!42 opts 149:92,12"},
		{"m", "hbh", "--hbh-opts 0x10:0x2", RuleInfo{}, " --hbh-opts 16:2", " hbh opts 16:2"},
		{"m", "frag", "! --fragid 1 --fragfirst --fragmore", RuleInfo{}, " ! --fragid 1 --fragfirst --fragmore", " frag id:!1 first more"},
		{"m", "rt", "--rt-type 0 --rt-segsleft 1:23 --rt-0-addrs 2001:db8::1,::1.2.3.4 --rt-0-not-strict", RuleInfo{}, " --rt-type 0 --rt-segsleft 1:23 --rt-0-addrs 2001:db8::1,::1.2.3.4 --rt-0-not-strict", " rt type:0 segslefts:1:23 0-addrs 2001:db8::1,::1.2.3.4 0-not-strict"},
		{"m", "mh", "! --mh-type bu:ba", RuleInfo{Proto: 135}, " ! --mh-type 5:6", " mh !binding-update:binding-acknowledgement"},
		{"m", "ipv6header", "! --header hop,ipv6-frag,none --soft", RuleInfo{}, " ! --header hop-by-hop,ipv6-frag,ipv6-nonxt --soft", " ipv6header flags:!hop-by-hop,ipv6-frag,ipv6-nonxt soft"},
		{"m", "hl", "--hl-lt 5", RuleInfo{}, " --hl-lt 5", " HL match HL < 5"},
		{"m", "icmp6", "--icmpv6-type neighbour-solicitation", RuleInfo{Proto: 58}, " --icmpv6-type 135", " ipv6-icmp neighbour-solicitation"},
		{"m", "icmp6", "! --icmpv6-type 1/3", RuleInfo{Proto: 58}, " ! --icmpv6-type 1/3", " ipv6-icmp !address-unreachable"},
		{"m", "srh", "! --srh-tag 7 --srh-psid a::/64", RuleInfo{}, " ! --srh-tag 7 --srh-psid a::/64", " srh tag:!7 psid  a::/64"},
		{"m", "eui64", "", RuleInfo{}, "", ""},
		{"t", "HL", "--hl-dec 2", RuleInfo{Table: "mangle"}, " --hl-dec 2", " HL decrement by 2"},
		{"t", "SNPT", "--src-pfx 2001:db8:1::/48 --dst-pfx 2001:db8:2::/48", RuleInfo{}, " --src-pfx 2001:db8:1::/48 --dst-pfx 2001:db8:2::/48", " SNPT src-pfx 2001:db8:1::/48 dst-pfx 2001:db8:2::/48"},
		{"t", "DNPT", "--src-pfx ::/0 --dst-pfx 2001:db8::/32", RuleInfo{}, " --dst-pfx 2001:db8::/32", " DNPT src-pfx ::/0 dst-pfx 2001:db8::/32"},
		{"t", "REJECT", "--reject-with adm", RuleInfo{}, " --reject-with icmp6-adm-prohibited", " reject-with icmp6-adm-prohibited"},
		{"t", "NETMAP", "--to 2001:db8::ff/120", RuleInfo{}, " --to 2001:db8::/120", " to:2001:db8::/120"},
		{"t", "TEE", "--gateway 2001:db8::1", RuleInfo{}, " --gateway 2001:db8::1", " TEE gw:2001:db8::1"},
		{"t", "TPROXY", "--on-port 1", RuleInfo{Proto: 6}, " --on-port 1 --on-ip :: --tproxy-mark 0x0/0x0", " TPROXY redirect :::1 mark 0x0/0x0"},
	} {
		save, list, err := ip6Parse(t, c.kind, c.name, strings.Fields(c.args), c.info)
		if err != nil {
			t.Errorf("%s %s: %v", c.name, c.args, err)
			continue
		}
		if save != c.save || list != c.list {
			t.Errorf("%s %s:\n save %q, want %q\n list %q, want %q", c.name, c.args, save, c.save, list, c.list)
		}
	}
	for _, c := range []struct {
		kind, name, args string
		info             RuleInfo
		msg              string
	}{
		{"m", "dst", "--dst-opts 0:2", RuleInfo{}, "PAD0"},
		{"m", "dst", "--dst-opts x", RuleInfo{}, "no valid digits"},
		{"m", "rt", "--rt-0-res", RuleInfo{}, "`--rt-type 0' required"},
		{"m", "rt", "--rt-type 0 --rt-0-addrs 1.2.3.4", RuleInfo{}, "bad address"},
		{"m", "mh", "--mh-type 4:3", RuleInfo{}, "min > max"},
		{"m", "ipv6header", "--header tcp", RuleInfo{}, "not an IPv6 extension header"},
		{"m", "hl", "", RuleInfo{}, "You must specify one of"},
		{"m", "frag", "--fragid 4:3", RuleInfo{}, ""},
		{"t", "SNPT", "--src-pfx 2001:db8::1 --dst-pfx 2001:db8::/64", RuleInfo{}, "up to /64"},
		{"t", "SNPT", "--src-pfx 2001:db8::1/64 --dst-pfx 2001:db8::/64", RuleInfo{}, "bits set past its length"},
		{"t", "REJECT", "--reject-with tcp-reset", RuleInfo{}, "needs -p tcp"},
		{"t", "TEE", "--gateway 192.0.2.1", RuleInfo{}, "IPv6 gateway"},
		{"t", "TCPMSS", "--set-mss 65500", RuleInfo{Proto: 6}, "at most 65495"},
	} {
		_, _, err := ip6Parse(t, c.kind, c.name, strings.Fields(c.args), c.info)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %s: %v, want an error with %q", c.name, c.args, err, c.msg)
		}
	}
	// The prefix translation targets compile to package npt's
	// translation (TestNPTActions runs them).
	for _, name := range []string{"SNPT", "DNPT"} {
		tg := &nptTarget{name: name, src: netip.MustParsePrefix("2001:db8:1::/48"), dst: netip.MustParsePrefix("2001:db8:2::/48")}
		if _, err := tg.Compile(nil); err != nil {
			t.Errorf("%s Compile: %v", name, err)
		}
	}
	if LookupMatch("frag", IPv4) != nil || LookupTarget("SNPT", IPv4) != nil {
		t.Error("ip6tables-only extensions visible to iptables")
	}
	if LookupMatch("icmpv6", IPv6) != LookupMatch("icmp6", IPv6) || LookupMatch("ah", IPv4) == LookupMatch("ah", IPv6) {
		t.Error("name lookup by family")
	}
}
