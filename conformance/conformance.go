// Package conformance runs the iptables project's own extension test
// vectors (the .t files of iptables' extensions/ directory, kept in
// ../shared/conformance/iptables-t) against ipsift's rule parser,
// validator and canonical printer, as iptables-test.py runs them against
// iptables.
package conformance

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// Outcome of one test line.
type Outcome uint8

// Outcomes.
const (
	Pass Outcome = iota
	Fail
	Skip
)

// LineResult is the outcome of one test line (all its chains).
type LineResult struct {
	File    string
	Line    int
	Rule    string
	Want    string // OK, FAIL or NOMATCH (after the variant for nft)
	Outcome Outcome
	Why     string // for failures and skips
}

// Dir finds the iptables-t directory: $IPSIFT_SHARED/conformance/iptables-t,
// or ../shared/conformance/iptables-t beside the repository.
func Dir() (string, error) {
	var cands []string
	if s := os.Getenv("IPSIFT_SHARED"); s != "" {
		cands = append(cands, filepath.Join(s, "conformance", "iptables-t"))
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		cands = append(cands, filepath.Join(d, "..", "shared", "conformance", "iptables-t"), filepath.Join(d, "shared", "conformance", "iptables-t"))
		if filepath.Dir(d) == d {
			break
		}
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("no shared/conformance/iptables-t beside the repository (set IPSIFT_SHARED)")
}

// IPv4Files lists the files that apply to iptables (IPv4): libxt_*.t,
// libipt_*.t and iptables.t, sorted.
func IPv4Files(dir string) ([]string, error) {
	return globFiles(dir, "libxt_*.t", "libipt_*.t", "iptables.t")
}

// IPv6Files lists the files that apply to ip6tables (IPv6): libxt_*.t
// (run with ip6tables) and libip6t_*.t, sorted.
func IPv6Files(dir string) ([]string, error) {
	return globFiles(dir, "libxt_*.t", "libip6t_*.t")
}

func globFiles(dir string, pats ...string) ([]string, error) {
	var out []string
	for _, pat := range pats {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}

// ShellSplit splits a test rule into words as iptables-test.py does
// (shlex): blanks separate, single and double quotes group.
func ShellSplit(s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// Runner runs .t files against a fresh ipsift ruleset per file.
type Runner struct {
	// Exec is called for @/% command lines; nil runs them with ipsift's
	// own iptables front end on the file's ruleset.
}

// RunFile runs one .t file with iptables (IPv4) and returns a result per
// test line.
func RunFile(path string) ([]LineResult, error) { return RunFileFamily(path, ext.IPv4) }

// RunFileFamily runs one .t file with iptables (IPv4) or ip6tables
// (IPv6), as iptables-test.py does in its two passes over libxt_* files.
func RunFileFamily(path string, fam ext.Family) ([]LineResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := filepath.Base(path)
	rs := rules.New()
	rs.Family = fam
	tool := "iptables"
	if fam == ext.IPv6 {
		tool = "ip6tables"
	}
	table := "filter"
	var chains []string
	var out []LineResult
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch line[0] {
		case ':':
			chains = strings.Split(line[1:], ",")
			continue
		case '*':
			table = line[1:]
			continue
		case '@', '%':
			words := ShellSplit(line[1:])
			if len(words) > 0 && (words[0] == "iptables" || words[0] == "ip6tables") {
				// iptables-test.py runs a set-up command with the tool
				// it names, whichever pass it is in: an "iptables"
				// command in the ip6tables pass changes IPv4 rules only.
				if words[0] == tool {
					runCommand(rs, words[1:], "filter")
				}
			}
			continue
		}
		f := strings.Split(line, ";")
		if len(f) < 3 {
			continue
		}
		res := LineResult{File: name, Line: n, Rule: f[0], Want: f[2]}
		if len(f) >= 4 && f[3] != "" {
			// Variant lines: RESULT holds for that backend only; the
			// reference here is nf_tables.
			if f[3] != "NFT" {
				switch {
				case len(f) >= 5 && f[4] != "":
					res.Want = f[4]
					if res.Want == "=" {
						res.Want = "NOMATCH"
					}
				case res.Want == "OK":
					res.Want = "FAIL"
				case res.Want == "FAIL":
					res.Want = "OK"
				case res.Want == "NOMATCH":
					res.Want = "OK"
				}
			}
		}
		saved := f[1]
		if saved == "=" {
			saved = f[0]
		}
		res.Outcome, res.Why = runLine(rs, table, chains, f[0], saved, res.Want)
		out = append(out, res)
	}
	return out, sc.Err()
}

func runCommand(rs *rules.Ruleset, words []string, table string) error {
	cmd, err := rules.ParseCommand(rules.Words(words), rules.ParseOptions{Table: table, Family: rs.Family})
	if err != nil {
		return err
	}
	// iptables-test.py loads no ipsets: a rule naming one fails as the
	// kernel's xt_set checkentry fails it ("Set foo doesn't exist.").
	for _, r := range cmd.Rules {
		if u, ok := r.Target.(ext.SetUser); ok && len(u.SetNames()) > 0 {
			return fmt.Errorf("set %s doesn't exist: iptables-test.py loads no ipsets", u.SetNames()[0])
		}
		for _, m := range r.Matches {
			if u, ok := m.M.(ext.SetUser); ok && len(u.SetNames()) > 0 {
				return fmt.Errorf("set %s doesn't exist: iptables-test.py loads no ipsets", u.SetNames()[0])
			}
		}
	}
	return rs.Apply(cmd)
}

func runLine(rs *rules.Ruleset, table string, chains []string, rule, saved, want string) (Outcome, string) {
	if len(chains) == 0 {
		chains = []string{"INPUT"}
	}
	for _, chain := range chains {
		args := append([]string{"-t", table, "-A", chain}, ShellSplit(rule)...)
		err := runCommand(rs, args, table)
		switch want {
		case "FAIL":
			if err == nil {
				// Undo, so the evolving ruleset stays as iptables' would.
				runCommand(rs, append([]string{"-t", table, "-D", chain}, ShellSplit(rule)...), table)
				return Fail, fmt.Sprintf("should fail in %s, but ipsift accepted it", chain)
			}
			continue
		case "OK", "NOMATCH":
			if err != nil {
				return Fail, fmt.Sprintf("%s: %v", chain, err)
			}
		default:
			return Skip, "unknown expectation " + want
		}
		var b strings.Builder
		rs.Save(&b, rules.SaveOptions{Table: table})
		wantLine := "-A " + chain + " " + saved
		found := false
		for _, l := range strings.Split(b.String(), "\n") {
			if l == wantLine {
				found = true
			}
		}
		if want == "OK" {
			if !found {
				return Fail, fmt.Sprintf("saved as %q, want %q", lastRuleLine(b.String(), chain), wantLine)
			}
			runCommand(rs, append([]string{"-t", table, "-D", chain}, ShellSplit(rule)...), table)
		} else if found {
			return Fail, fmt.Sprintf("NOMATCH expected, but saved as %q", wantLine)
		}
	}
	return Pass, ""
}

func lastRuleLine(save, chain string) string {
	last := ""
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "-A "+chain+" ") {
			last = l
		}
	}
	return last
}
