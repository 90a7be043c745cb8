package ext

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This test runs the iptables project's .t lines of the targets in this
// package through a small stand-in for the rule parser: it splits off
// what comes before "-j NAME" by hand (only -p is read from it), drives
// the target through the same steps the rules package does (getopt-style
// option lookup with abbreviations, the Option flags, Finish, table and
// hook checks) and compares Save with the expected iptables-save text.
// IPv4 only; where a line differs by backend, the iptables-nft result is
// used, as the project's conformance suite does.

// targetTFiles are the .t files of the targets (the libxt_ ones run with
// iptables, i.e. IPv4, here).
var targetTFiles = []string{
	"libipt_DNAT.t", "libipt_SNAT.t", "libipt_MASQUERADE.t", "libipt_NETMAP.t",
	"libxt_REDIRECT.t", "libipt_REJECT.t", "libipt_LOG.t", "libipt_TTL.t",
	"libipt_ECN.t", "libipt_TEE.t", "libipt_TPROXY.t", "libxt_TEE.t",
	"libxt_AUDIT.t", "libxt_CHECKSUM.t", "libxt_CLASSIFY.t", "libxt_CONNMARK.t",
	"libxt_CONNSECMARK.t", "libxt_CT.t", "libxt_DSCP.t", "libxt_HMARK.t",
	"libxt_IDLETIMER.t", "libxt_LED.t", "libxt_MARK.t", "libxt_NFLOG.t",
	"libxt_NFQUEUE.t", "libxt_NOTRACK.t", "libxt_RATEEST.t", "libxt_SECMARK.t",
	"libxt_SET.t", "libxt_SYNPROXY.t", "libxt_TCPMSS.t", "libxt_TCPOPTSTRIP.t",
	"libxt_TOS.t", "libxt_TRACE.t",
}

// knownTargetFailures are lines this stand-in cannot decide, with why.
var knownTargetFailures = map[string]string{}

// runTargetRule parses RULE (the words after -A CHAIN) for one chain and
// returns the saved form of the target part (" -j NAME ...").
func runTargetRule(rule, table, chain string) (string, error) {
	words := shellWords(rule)
	j := -1
	for i, w := range words {
		if w == "-j" {
			j = i
		}
	}
	if j < 0 || j+1 >= len(words) {
		return "", fmt.Errorf("no -j")
	}
	ri := &RuleInfo{Family: IPv4, Table: table, Chain: chain, Hooks: 1 << chainHooks[chain]}
	for i := 0; i < j; i++ {
		if words[i] == "-p" && i+1 < j {
			p, err := ParseProto(words[i+1])
			if err != nil {
				return "", err
			}
			ri.Proto = p
			ri.InvProto = i > 0 && words[i-1] == "!"
		}
	}
	saved, err := driveTarget(words[j+1], words[j+2:], ri)
	if err != nil {
		return "", err
	}
	// The .t runner loads no sets: a target naming one fails as the
	// kernel fails it ("Set foo doesn't exist."; the rules package
	// checks names against the sets loaded).
	if tt := LookupTarget(words[j+1], ri.Family); tt != nil {
		if _, ok := tt.New().(SetUser); ok {
			return "", fmt.Errorf("no sets are loaded: %s", saved)
		}
	}
	return saved, nil
}

// driveTarget is the stand-in for the rules package's handling of a
// target: it returns " -j NAME" plus Save, or the first error.
func driveTarget(name string, words []string, ri *RuleInfo) (string, error) {
	tt := LookupTarget(name, ri.Family)
	if tt == nil {
		return "", fmt.Errorf("no target %s", name)
	}
	if len(tt.Tables) > 0 {
		ok := false
		for _, tb := range tt.Tables {
			ok = ok || tb == ri.Table
		}
		if !ok {
			return "", fmt.Errorf("%s: only valid in table %v", name, tt.Tables)
		}
	}
	if tt.Hooks != 0 && ri.Hooks&^tt.Hooks != 0 {
		return "", fmt.Errorf("%s: not valid in %s", name, ri.Chain)
	}
	if tt.Proto != 0 && (ri.Proto != tt.Proto || ri.InvProto) {
		return "", fmt.Errorf("%s needs -p %d", name, tt.Proto)
	}
	inst := tt.New()
	seen := map[string]bool{}
	args := &Args{Words: words}
	for args.Next < len(words) {
		w := words[args.Next]
		args.Next++
		invert := false
		if w == "!" {
			invert = true
			if args.Next >= len(words) {
				return "", fmt.Errorf("! at end")
			}
			w = words[args.Next]
			args.Next++
		}
		if !strings.HasPrefix(w, "--") {
			return "", fmt.Errorf("bad argument %q", w)
		}
		optName, val, hasVal := strings.Cut(w[2:], "=")
		// getopt_long: an exact name wins, else a unique prefix.
		var opt *Option
		for i := range tt.Options {
			if tt.Options[i].Name == optName {
				opt = &tt.Options[i]
			}
		}
		for i := range tt.Options {
			o := &tt.Options[i]
			if opt != nil && opt.Name == optName {
				break
			}
			if strings.HasPrefix(o.Name, optName) {
				if opt != nil {
					return "", fmt.Errorf("option --%s is ambiguous", optName)
				}
				opt = o
			}
		}
		if opt == nil {
			return "", fmt.Errorf("unknown option --%s", optName)
		}
		if invert && !opt.Invert {
			return "", fmt.Errorf("--%s cannot be inverted", opt.Name)
		}
		if seen[opt.Name] && !opt.Multi {
			return "", fmt.Errorf("--%s can only be used once", opt.Name)
		}
		seen[opt.Name] = true
		arg := ""
		switch opt.Arg {
		case OneArg:
			if hasVal {
				arg = val
			} else {
				if args.Next >= len(words) {
					return "", fmt.Errorf("--%s requires an argument", opt.Name)
				}
				arg = words[args.Next]
				args.Next++
			}
		case NoArg:
			if hasVal {
				return "", fmt.Errorf("--%s takes no argument", opt.Name)
			}
		case OptionalArg:
			arg = val
		}
		if err := inst.Parse(opt.Name, arg, invert, args); err != nil {
			return "", err
		}
	}
	for _, o := range tt.Options {
		if o.Mandatory && !seen[o.Name] {
			return "", fmt.Errorf("--%s must be specified", o.Name)
		}
		if !seen[o.Name] {
			continue
		}
		for _, x := range o.Excludes {
			if seen[x] {
				return "", fmt.Errorf("--%s and --%s cannot be combined", o.Name, x)
			}
		}
		for _, a := range o.Also {
			if !seen[a] {
				return "", fmt.Errorf("--%s needs --%s", o.Name, a)
			}
		}
	}
	if err := inst.Finish(ri); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(" -j " + name)
	inst.Save(&b)
	if _, err := inst.Compile(NewCompiler(nil)); err != nil {
		// Compile errors are not parse failures; iptables would accept.
		_ = err
	}
	return b.String(), nil
}

func TestTargetConformance(t *testing.T) {
	dir := conformanceDir(t)
	pass, fail, known := 0, 0, 0
	for _, file := range targetTFiles {
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
			if len(fields) >= 4 && fields[3] == "LEGACY" {
				// RESULT holds for legacy; nft gets ALT_RESULT or
				// the opposite ("=" as ALT_RESULT means NOMATCH).
				switch {
				case len(fields) >= 5 && fields[4] == "=":
					result = "NOMATCH"
				case len(fields) >= 5:
					result = fields[4]
				case result == "OK":
					result = "FAIL"
				case result == "FAIL":
					result = "OK"
				default:
					result = "OK"
				}
			}
			if saved == "=" {
				saved = rule
			}
			ok := true
			var why string
			for _, ch := range chains {
				got, err := runTargetRule(rule, table, ch)
				switch result {
				case "OK":
					if err != nil {
						ok, why = false, fmt.Sprintf("%s: unexpected error: %v", ch, err)
					} else if want := (" " + saved)[strings.LastIndex(" "+saved, " -j "):]; got != want {
						ok, why = false, fmt.Sprintf("%s: saved %q, want %q", ch, got, want)
					}
				case "FAIL":
					if err == nil {
						ok, why = false, fmt.Sprintf("%s: accepted (saved %q), want failure", ch, got)
					}
				case "NOMATCH":
					if err != nil {
						ok, why = false, fmt.Sprintf("%s: unexpected error: %v", ch, err)
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
			case knownTargetFailures[key] != "":
				known++
				t.Logf("known failure %s: %s (%s)", key, why, knownTargetFailures[key])
			default:
				fail++
				t.Errorf("%s: %q: %s", file, line, why)
			}
		}
		f.Close()
	}
	t.Logf("target conformance: %d pass, %d known failures, %d fail", pass, known, fail)
}
