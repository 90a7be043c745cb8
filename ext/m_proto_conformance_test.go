package ext

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This test runs the iptables project's .t lines of the protocol and
// header matches through a small stand-in for the rule parser: -p, -m
// and -j are read by hand, the matches' options are looked up the way
// getopt_long does over the merged option tables (abbreviations, newest
// extension first, loading the -p protocol's match for an unknown
// option), and the Option flags, Finish and the kernel's placement
// checks are applied. The saved form (-p, then each -m with its Save,
// then -j) is compared with the expected iptables-save text. IPv4 only.

// protoTFiles are the .t files of the matches in this group.
var protoTFiles = []string{
	"libxt_tcp.t", "libxt_udp.t", "libipt_icmp.t", "libxt_multiport.t",
	"libxt_sctp.t", "libxt_dccp.t", "libxt_esp.t", "libipt_ah.t",
	"libxt_ipcomp.t", "libxt_length.t", "libipt_ttl.t", "libxt_tos.t",
	"libxt_dscp.t", "libxt_ecn.t", "libxt_tcpmss.t", "libipt_iprange.t",
	"libxt_iprange.t", "libxt_addrtype.t", "libxt_mac.t", "libxt_pkttype.t",
	"libxt_comment.t", "libipt_realm.t", "libipt_ipvs.t", "libxt_ipvs.t",
	"libxt_string.t", "libxt_u32.t",
}

// knownProtoFailures are lines this stand-in decides differently from
// iptables 1.8.11, with why.
var knownProtoFailures = map[string]string{}

// protoLoaded is one match loaded in a rule.
type protoLoaded struct {
	t    *MatchType
	m    Match
	seen map[string]bool
}

// protoRule parses RULE for one table and chain and returns the saved
// form and the loaded matches, or the first error.
func protoRule(rule, table, chain string) (string, []*protoLoaded, error) {
	return protoRuleWords(shellWords(rule), table, chain)
}

// protoRuleWords is protoRule for a rule already split into words.
func protoRuleWords(words []string, table, chain string) (string, []*protoLoaded, error) {
	ri := &RuleInfo{Family: IPv4, Table: table, Chain: chain, Hooks: 1 << chainHooks[chain]}
	var loaded []*protoLoaded
	protoSet, protoUsed := false, false
	target := ""
	load := func(t *MatchType) {
		loaded = append(loaded, &protoLoaded{t: t, m: t.New(), seen: map[string]bool{}})
	}
	for i := 0; i < len(words); {
		w := words[i]
		i++
		invert := false
		if w == "!" {
			if i >= len(words) {
				return "", nil, fmt.Errorf("! at end")
			}
			invert = true
			w = words[i]
			i++
		}
		switch w {
		case "-p", "--protocol":
			p, err := ParseProto(words[i])
			if err != nil {
				return "", nil, err
			}
			ri.Proto, ri.InvProto = p, invert
			protoSet = true
			i++
			continue
		case "-m", "--match":
			t := LookupMatch(words[i], IPv4)
			if t == nil {
				return "", nil, fmt.Errorf("no match %s", words[i])
			}
			load(t)
			i++
			continue
		case "-j":
			target = strings.Join(words[i:], " ")
			i = len(words)
			continue
		}
		if !strings.HasPrefix(w, "--") {
			return "", nil, fmt.Errorf("bad argument %q", w)
		}
		name, val, hasVal := strings.Cut(w[2:], "=")
		var inst *protoLoaded
		var opt *Option
		for {
			// Newest extension first, exact names before prefixes.
			ambiguous := false
			for k := len(loaded) - 1; k >= 0 && opt == nil; k-- {
				for j := range loaded[k].t.Options {
					if loaded[k].t.Options[j].Name == name {
						inst, opt = loaded[k], &loaded[k].t.Options[j]
						break
					}
				}
			}
			if opt == nil {
				for k := len(loaded) - 1; k >= 0; k-- {
					for j := range loaded[k].t.Options {
						o := &loaded[k].t.Options[j]
						if strings.HasPrefix(o.Name, name) {
							if opt != nil {
								ambiguous = true
							}
							inst, opt = loaded[k], o
						}
					}
				}
			}
			if ambiguous {
				return "", nil, fmt.Errorf("option --%s is ambiguous", name)
			}
			if opt != nil || !protoSet || protoUsed {
				break
			}
			protoUsed = true
			t := LookupMatch(ProtoName(ri.Proto), IPv4)
			if t == nil || !t.Implicit {
				break
			}
			load(t)
		}
		if opt == nil {
			return "", nil, fmt.Errorf("unknown option --%s", name)
		}
		if invert && !opt.Invert {
			return "", nil, fmt.Errorf("--%s cannot be inverted", opt.Name)
		}
		if inst.seen[opt.Name] && !opt.Multi {
			return "", nil, fmt.Errorf("--%s can only be used once", opt.Name)
		}
		for _, x := range opt.Excludes {
			if inst.seen[x] {
				return "", nil, fmt.Errorf("--%s cannot be used with --%s", opt.Name, x)
			}
		}
		inst.seen[opt.Name] = true
		arg := ""
		switch opt.Arg {
		case OneArg:
			if hasVal {
				arg = val
			} else {
				if i >= len(words) {
					return "", nil, fmt.Errorf("--%s requires an argument", opt.Name)
				}
				arg = words[i]
				i++
			}
		case NoArg:
			if hasVal {
				return "", nil, fmt.Errorf("--%s takes no argument", opt.Name)
			}
		case OptionalArg:
			arg = val
		}
		more := &Args{Words: words[i:]}
		if err := inst.m.Parse(opt.Name, arg, invert, more); err != nil {
			return "", nil, err
		}
		i += more.Next
	}
	for _, l := range loaded {
		for _, o := range l.t.Options {
			if o.Mandatory && !l.seen[o.Name] {
				return "", nil, fmt.Errorf("%s: --%s must be specified", l.t.Name, o.Name)
			}
			if l.seen[o.Name] {
				for _, a := range o.Also {
					if !l.seen[a] {
						return "", nil, fmt.Errorf("--%s needs --%s", o.Name, a)
					}
				}
			}
		}
		if err := l.m.Finish(ri); err != nil {
			return "", nil, err
		}
	}
	for _, l := range loaded {
		t := l.t
		if t.Proto != 0 && (ri.Proto != t.Proto || ri.InvProto) {
			return "", nil, fmt.Errorf("-m %s needs -p %s", t.Name, ProtoName(t.Proto))
		}
		if len(t.Tables) > 0 {
			ok := false
			for _, tb := range t.Tables {
				ok = ok || tb == table
			}
			if !ok {
				return "", nil, fmt.Errorf("-m %s not valid in table %s", t.Name, table)
			}
		}
		if t.Hooks != 0 && ri.Hooks&^t.Hooks != 0 {
			return "", nil, fmt.Errorf("-m %s not valid in %s", t.Name, chain)
		}
	}
	var b strings.Builder
	if ri.Proto != 0 {
		if ri.InvProto {
			b.WriteString(" !")
		}
		if n := ProtoName(ri.Proto); n != "" {
			b.WriteString(" -p " + n)
		} else {
			fmt.Fprintf(&b, " -p %d", ri.Proto)
		}
	}
	for _, l := range loaded {
		b.WriteString(" -m " + l.t.Name)
		l.m.Save(&b)
		var pb strings.Builder
		l.m.Print(&pb, true)
		l.m.Print(&pb, false)
	}
	if target != "" {
		b.WriteString(" -j " + target)
	}
	return strings.TrimPrefix(b.String(), " "), loaded, nil
}

func TestProtoConformance(t *testing.T) {
	dir := conformanceDir(t)
	pass, fail, known := 0, 0, 0
	for _, file := range protoTFiles {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		table := "filter"
		var chains []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' || line[0] == '@' || line[0] == '%' {
				continue
			}
			if line[0] == ':' {
				chains = strings.Split(line[1:], ",")
				continue
			}
			if line[0] == '*' {
				table = line[1:]
				continue
			}
			fields := strings.Split(line, ";")
			if len(fields) < 3 {
				t.Errorf("%s: bad line %q", file, line)
				continue
			}
			rule, saved, result := fields[0], fields[1], fields[2]
			if saved == "=" {
				saved = rule
			}
			ok := true
			var why string
			for _, ch := range chains {
				got, loaded, err := protoRule(rule, table, ch)
				if err == nil {
					for _, l := range loaded {
						// Compile must not panic; its error is not a
						// parse failure (iptables would accept).
						_, _ = l.m.Compile(NewCompiler(nil))
					}
				}
				switch result {
				case "OK":
					if err != nil {
						ok, why = false, fmt.Sprintf("%s: unexpected error: %v", ch, err)
					} else if got != saved {
						ok, why = false, fmt.Sprintf("%s: saved %q, want %q", ch, got, saved)
					}
				case "FAIL":
					if err == nil {
						ok, why = false, fmt.Sprintf("%s: accepted (saved %q), want failure", ch, got)
					}
				case "NOMATCH":
					if err != nil {
						ok, why = false, fmt.Sprintf("%s: unexpected error: %v", ch, err)
					} else if got == saved {
						ok, why = false, fmt.Sprintf("%s: saved %q, want something else", ch, got)
					}
				}
				if !ok {
					break
				}
			}
			key := file + ":" + rule
			switch {
			case ok:
				pass++
			case knownProtoFailures[key] != "":
				known++
				t.Logf("known failure %s: %s (%s)", key, why, knownProtoFailures[key])
			default:
				fail++
				t.Errorf("%s: %q: %s", file, line, why)
			}
		}
		f.Close()
	}
	t.Logf("match conformance: %d pass, %d known failures, %d fail", pass, known, fail)
}
