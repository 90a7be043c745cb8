package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// This file knows the extensions that how-tos still print but that no
// current system loads: those Linux removed (ULOG, CLUSTERIP, MIRROR,
// SAME, -m random, -m iplimit, -m unclean, owner's process options, the
// old time match's --days) and those that were never in Linux at all
// (xtables-addons: geoip, psd, TARPIT, ...). For each, ipsift says what
// happened and which part refuses the rule (the iptables tool or the
// kernel), and where the replacement is mechanical it writes the rule to
// use instead (Diag.FixLine). It never applies a replacement itself: the
// rule is an error, as it is on a real system.

// removedTarget describes a target iptables or the kernel no longer takes.
type removedTarget struct {
	// what happened and what to use, completing "-j NAME: ..."
	msg string
	// opts are the target's option names, so that the replacement can
	// take their values and "unknown option" is not reported for them.
	opts map[string]bool
	// replace returns the words of the replacement target (or nil), given
	// the options written and the rule's chain.
	replace func(opt map[string]string, chain string) []string
}

var removedTargets = map[string]*removedTarget{
	"ULOG": {
		msg:  "the ULOG target was removed from Linux in 3.17 (2014): iptables still parses it, and the kernel refuses the rule (iptables-legacy: No chain/target/match by that name; iptables-nft: RULE_APPEND failed). Use NFLOG, with ulogd2's NFLOG input plugin reading the same group",
		opts: map[string]bool{"ulog-nlgroup": true, "ulog-prefix": true, "ulog-cprange": true, "ulog-qthreshold": true},
		replace: func(o map[string]string, _ string) []string {
			// ULOG logged to netlink group 1 unless told otherwise; the
			// same number keeps a ulogd set up for that group working.
			group := "1"
			if g, ok := o["ulog-nlgroup"]; ok {
				group = g
			}
			w := []string{"-j", "NFLOG", "--nflog-group", group}
			if p, ok := o["ulog-prefix"]; ok {
				w = append(w, "--nflog-prefix", p)
			}
			if r, ok := o["ulog-cprange"]; ok {
				w = append(w, "--nflog-size", r)
			}
			if q, ok := o["ulog-qthreshold"]; ok {
				w = append(w, "--nflog-threshold", q)
			}
			return w
		},
	},
	"CLUSTERIP": {
		msg:  "the CLUSTERIP target was removed from Linux in 6.7 (2023): iptables still parses it, and the kernel refuses the rule (iptables-legacy: No chain/target/match by that name; iptables-nft: RULE_APPEND failed). Use the cluster match: it drops what another node serves, and the shared multicast MAC address is then set up with `ip maddr add` and arptables (CLUSTERIP did that itself)",
		opts: map[string]bool{"new": true, "hashmode": true, "clustermac": true, "total-nodes": true, "local-node": true, "hash-init": true},
		replace: func(o map[string]string, _ string) []string {
			total, local := o["total-nodes"], o["local-node"]
			if total == "" || local == "" {
				return nil
			}
			seed := "0"
			if s, ok := o["hash-init"]; ok {
				seed = s
			}
			return []string{"-m", "cluster", "--cluster-total-nodes", total, "!", "--cluster-local-node", local, "--cluster-hash-seed", seed, "-j", "DROP"}
		},
	},
	"MIRROR": {
		msg: "the MIRROR target (send the packet back with source and destination swapped) was a Linux 2.4 experiment, long gone from the kernel and from iptables, with no replacement: to refuse a connection use REJECT, to ignore it DROP",
	},
	"SAME": {
		msg:  "the SAME target was removed from Linux in 2.6.25 (2008) and from iptables: SNAT and DNAT with an address range do its job, and --persistent keeps giving a client the same address",
		opts: map[string]bool{"to": true, "nodst": true, "random": true},
		replace: func(o map[string]string, chain string) []string {
			to, ok := o["to"]
			if !ok {
				return nil
			}
			w := []string{"-j", "SNAT", "--to-source", to}
			if chain == "PREROUTING" || chain == "OUTPUT" {
				w = []string{"-j", "DNAT", "--to-destination", to}
			}
			if _, ok := o["random"]; ok {
				w = append(w, "--random")
			}
			return append(w, "--persistent")
		},
	},
}

// removedMatch describes a match iptables or the kernel no longer takes.
type removedMatch struct {
	msg     string
	opts    map[string]bool
	replace func(opt map[string]string, inv map[string]bool) []string
}

var removedMatches = map[string]*removedMatch{
	"random": {
		msg:  "the random match was replaced by the statistic match (Linux 2.6.18, 2006) and iptables no longer has it (Couldn't load match `random')",
		opts: map[string]bool{"average": true},
		replace: func(o map[string]string, inv map[string]bool) []string {
			avg, err := strconv.ParseFloat(o["average"], 64)
			if _, ok := o["average"]; !ok {
				avg, err = 50, nil // the old match's default
			}
			if err != nil || avg < 0 || avg > 100 {
				return nil
			}
			w := []string{"-m", "statistic", "--mode", "random"}
			if inv["average"] {
				w = append(w, "!")
			}
			return append(w, "--probability", strconv.FormatFloat(avg/100, 'f', -1, 64))
		},
	},
	"iplimit": {
		msg:  "the iplimit match was renamed connlimit (Linux 2.6.23, 2007) and iptables no longer knows the old name (Couldn't load match `iplimit')",
		opts: map[string]bool{"iplimit-above": true, "iplimit-mask": true},
		replace: func(o map[string]string, inv map[string]bool) []string {
			w := []string{"-m", "connlimit"}
			if a, ok := o["iplimit-above"]; ok {
				if inv["iplimit-above"] {
					w = append(w, "!")
				}
				w = append(w, "--connlimit-above", a)
			}
			if m, ok := o["iplimit-mask"]; ok {
				w = append(w, "--connlimit-mask", m)
			}
			return w
		},
	},
	"unclean": {
		msg: "the unclean match (an experimental packet sanity check) was removed from Linux in 2.6.11 (2005) and from iptables, with no direct replacement: `-m conntrack --ctstate INVALID -j DROP` drops what connection tracking cannot place",
	},
}

// removedOptions are options of current matches that Linux or iptables
// dropped, keyed by match then option.
var removedOptions = map[string]map[string]struct {
	msg, fix string // fix: the option that replaces it, same argument
}{
	"owner": {
		"pid-owner": {msg: "--pid-owner was removed from the owner match in Linux 2.6.14 (2005): a socket has no single owning process. Put the program in a cgroup and match it with -m cgroup --path, or run it as its own user and match --uid-owner"},
		"sid-owner": {msg: "--sid-owner was removed from the owner match in Linux 2.6.14 (2005). Put the session's programs in a cgroup and match it with -m cgroup --path, or match their user with --uid-owner"},
		"cmd-owner": {msg: "--cmd-owner was removed from the owner match in Linux 2.6.14 (2005). Put the program in a cgroup and match it with -m cgroup --path, or run it as its own user and match --uid-owner"},
	},
	"time": {
		"days": {msg: "--days is the option of the old time match; since Linux 2.6.22 (2007) the time match calls it --weekdays (same list: Mon,Tue,... or 1-7)", fix: "--weekdays"},
	},
}

// xtablesAddons are extensions from the xtables-addons package, which
// were never part of Linux: they need that package's kernel modules and
// iptables plugins.
var xtablesAddons = map[string]bool{
	// matches
	"geoip": true, "psd": true, "condition": true, "ipp2p": true, "fuzzy": true, "iface": true,
	"ipv4options": true, "length2": true, "lscan": true, "pknock": true, "quota2": true,
	"dhcpmac": true, "gradm": true, "asn": true, "account": true,
	// targets
	"TARPIT": true, "DELUDE": true, "CHAOS": true, "ECHO": true, "IPMARK": true, "LOGMARK": true,
	"SYSRQ": true, "STEAL": true, "DNETMAP": true, "ACCOUNT": true, "DHCPMAC": true,
	"RAWDNAT": true, "RAWSNAT": true, "PROTO": true,
}

// addonsMsg explains "-m NAME" (kind "match") or "-j NAME" ("target")
// of an xtables-addons extension.
func addonsMsg(kind, name string) string {
	opt := "-m"
	if kind == "target" {
		opt = "-j"
	}
	return fmt.Sprintf("%s %s: the %s %s is from xtables-addons, never part of Linux: iptables refuses it (Couldn't load %s) unless the xtables-addons modules and plugins are installed, and ipsift does not simulate it", opt, name, name, kind, kind)
}

// removedMatchError is the error for -m NAME of a removed or out-of-tree
// match, or nil when NAME is neither (p.i is just after NAME).
func (p *parser) removedMatchError(w Word, name string) error {
	if xtablesAddons[name] {
		return &Diag{Pos: w.Pos, Word: name, Msg: addonsMsg("match", name)}
	}
	rm := removedMatches[name]
	if rm == nil {
		return nil
	}
	d := &Diag{Pos: w.Pos, Word: name, Msg: "-m " + name + ": " + rm.msg}
	if rm.replace == nil {
		return d
	}
	// The match's options follow it: take them (and a "!" before one).
	opts, inv := map[string]string{}, map[string]bool{}
	end := p.i
	for end < len(p.words) {
		k := end
		bang := p.words[k].Text == "!"
		if bang {
			k++
		}
		if k >= len(p.words) {
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(p.words[k].Text, "--"), "=")
		if !strings.HasPrefix(p.words[k].Text, "--") || !rm.opts[name] {
			break
		}
		val := ""
		if _, v, ok := strings.Cut(p.words[k].Text, "="); ok {
			val, end = v, k+1
		} else if k+1 < len(p.words) {
			val, end = p.words[k+1].Text, k+2
		} else {
			return d
		}
		opts[name], inv[name] = val, bang
	}
	if repl := rm.replace(opts, inv); repl != nil {
		d.FixLine = p.replacementLine(p.optStart(w, name), end, repl)
	}
	return d
}

// removedTargetError is the error for -j NAME of a target iptables or the
// kernel refuses whatever the chains are (ULOG, CLUSTERIP: iptables has
// them, so no chain can be called that), or nil.
func (p *parser) removedTargetError(w Word, name string) error {
	if name != "ULOG" && name != "CLUSTERIP" {
		return nil
	}
	return p.removedTargetDiag(w, name)
}

// removedTargetDiag explains -j NAME for a removed target (p.i is just
// after NAME), with the replacement rule when there is one: the target's
// options are taken from wherever they stand after it.
func (p *parser) removedTargetDiag(w Word, name string) *Diag {
	rt := removedTargets[name]
	d := &Diag{Pos: w.Pos, Word: name, Msg: "-j " + name + ": " + rt.msg}
	if rt.replace == nil {
		return d
	}
	start := p.optStart(w, name)
	opts := map[string]string{}
	var rest []string // the words after the target that are not its own
	for k := p.i; k < len(p.words); k++ {
		t := p.words[k].Text
		opt, val, hasVal := strings.Cut(strings.TrimPrefix(t, "--"), "=")
		if !strings.HasPrefix(t, "--") || !rt.opts[opt] {
			rest = append(rest, t)
			continue
		}
		if !hasVal && !flagOptions[opt] && k+1 < len(p.words) {
			k++
			val = p.words[k].Text
		}
		opts[opt] = val
	}
	repl := rt.replace(opts, p.cmd.Chain)
	if repl == nil {
		return d
	}
	all := append(append(wordTexts(p.words[:start]), rest...), repl...)
	d.FixLine = p.fixLine(all)
	return d
}

// flagOptions are the removed targets' options that take no value.
var flagOptions = map[string]bool{"new": true, "nodst": true, "random": true}

// optStart returns the index of the word that holds the option whose
// argument arg was just read (p.i is after it): the word before the
// argument, or the argument's own word when it was glued on ("-mrandom",
// "--match=random").
func (p *parser) optStart(w Word, arg string) int {
	k := p.i - 1
	if k > 0 && p.words[k].Text == arg && p.words[k-1].Text == w.Text && w.Text != arg {
		return k - 1
	}
	return k
}

// replacementLine is the command with words [from, to) replaced.
func (p *parser) replacementLine(from, to int, repl []string) string {
	return p.fixLine(append(append(wordTexts(p.words[:from]), repl...), wordTexts(p.words[to:])...))
}

// fixLine writes a replacement command: a restore line as it is (double
// quotes where needed), a command line after "iptables " with shell
// quoting (a script's loader puts the script's own command word there).
func (p *parser) fixLine(words []string) string {
	var b strings.Builder
	if !p.opts.Restore {
		b.WriteString("iptables")
	}
	for _, t := range words {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		switch {
		case t != "" && !strings.ContainsAny(t, " \t\"'$`\\;&|<>()*?[]#~"):
		case p.opts.Restore:
			t = "\"" + strings.NewReplacer("\\", "\\\\", "\"", "\\\"").Replace(t) + "\""
		default:
			t = "'" + strings.ReplaceAll(t, "'", `'\''`) + "'"
		}
		b.WriteString(t)
	}
	return b.String()
}

func wordTexts(ws []Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}

// removedOption explains an option iptables does not know because the
// extension it belonged to lost it (owner's --pid-owner, time's --days)
// or because the rule's target is a removed or out-of-tree one (SAME
// --to, TARPIT --tarpit); nil otherwise.
func (p *parser) removedOption(w Word, opt string) *Diag {
	name, _, _ := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
	for k := len(p.exts) - 1; k >= 0; k-- {
		ro, ok := removedOptions[p.exts[k].name][name]
		if !ok {
			continue
		}
		d := &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("-m %s: %s", p.exts[k].name, ro.msg)}
		if ro.fix != "" {
			// The same option under its new name: certain.
			d.Fix = strings.Replace(w.Text, "--"+name, ro.fix, 1)
		}
		return d
	}
	if p.tgt != nil || p.r.Verdict == "" {
		return nil
	}
	v := p.r.Verdict
	if xtablesAddons[v] {
		return &Diag{Pos: w.Pos, Word: w.Text, Msg: addonsMsg("target", v) + fmt.Sprintf(" (%s is an option of it)", opt)}
	}
	if removedTargets[v] != nil {
		// p.i is past the option word; find the target's word.
		for k := 0; k < p.i && k < len(p.words); k++ {
			if t := p.words[k].Text; (t == "-j" || t == "--jump") && k+1 < len(p.words) && p.words[k+1].Text == v {
				save := p.i
				p.i = k + 2
				d := p.removedTargetDiag(p.words[k], v)
				p.i = save
				return d
			}
		}
		return &Diag{Pos: w.Pos, Word: w.Text, Msg: "-j " + v + ": " + removedTargets[v].msg}
	}
	return nil
}

// removedTargetMessage explains a -j NAME that names no chain when NAME is
// a target Linux removed (MIRROR, SAME) or one from xtables-addons
// (TARPIT ...), for Apply's "no such target" error; "" otherwise.
func removedTargetMessage(name string) string {
	if xtablesAddons[name] {
		return addonsMsg("target", name)
	}
	if rt := removedTargets[name]; rt != nil {
		return "-j " + name + ": " + rt.msg
	}
	return ""
}
