package translate

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// restorePriority is 1.8.11's get_hook_prio, whose test for the security
// table compares the chain's name, so security chains get priority 0.
func restorePriority(table, chain string) int {
	switch table {
	case "nat":
		switch chain {
		case "PREROUTING", "OUTPUT":
			return -100
		case "INPUT", "POSTROUTING":
			return 100
		}
		return 0
	case "mangle":
		return -150
	case "raw":
		return -300
	}
	return 0
}

// Restore returns what iptables-restore-translate (ip6tables-restore-
// translate) of iptables 1.8.11 prints for a restore file: "add table",
// "add chain" with hook and policy for the built-in chains, "add rule"
// for each rule, without the "nft '...'" of the single-command tool,
// between two comment lines dated now. tool is the program's name for
// the first line. The error names the first line the tool would stop at.
func (s *Session) Restore(tool string, fam ext.Family, name string, r io.Reader, now time.Time) (string, error) {
	var b strings.Builder
	stamp := now.UTC().Format("Mon Jan _2 15:04:05 2006")
	fmt.Fprintf(&b, "# Translated by %s v1.8.11 on %s\n", tool, stamp)
	fn := familyName(fam)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	table := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			fmt.Fprintf(&b, "add table %s %s\n", fn, table)
		case line == "COMMIT":
			table = ""
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if table == "" || len(f) < 2 {
				return b.String(), fmt.Errorf("%s:%d: a chain line outside a table", name, n)
			}
			chain, policy := f[0], f[1]
			if _, builtin := rules.HookOf(chain); !builtin || policy == "-" {
				fmt.Fprintf(&b, "add chain %s %s %s\n", fn, table, chain)
				continue
			}
			typ := "filter"
			if table == "nat" {
				typ = "nat"
			} else if table == "mangle" && chain == "OUTPUT" {
				typ = "route"
			}
			fmt.Fprintf(&b, "add chain %s %s %s { type %s hook %s priority %d; ", fn, table, chain, typ, strings.ToLower(chain), restorePriority(table, chain))
			switch policy {
			case "ACCEPT", "DROP":
				fmt.Fprintf(&b, "policy %s; ", strings.ToLower(policy))
			}
			b.WriteString("}\n")
		default:
			if table == "" {
				return b.String(), fmt.Errorf("%s:%d: a rule outside a table", name, n)
			}
			if strings.HasPrefix(line, "[") {
				// a rule's "[packets:bytes]" (restore -c): not translated
				if i := strings.IndexByte(line, ']'); i >= 0 {
					line = strings.TrimSpace(line[i+1:])
				}
			}
			words := rules.SplitLine(name, n, line)
			cmd, err := rules.ParseCommand(words, rules.ParseOptions{Family: fam, Table: table, Restore: true, Userspace: true})
			if err != nil {
				return b.String(), err
			}
			switch cmd.Kind {
			case rules.CmdAppend, rules.CmdInsert:
				if !s.rules(&b, fam, cmd, true) {
					// print_ipt_cmd of the argv iptables-restore built
					b.WriteString("# -t " + table + " ")
					for _, w := range words {
						b.WriteString(w.Text + " ")
					}
					b.WriteString("\n")
				}
			default:
				out, ok := s.Command(fam, cmd, nil)
				if !ok {
					return b.String(), fmt.Errorf("%s:%d: %s: translation not implemented", name, n, line)
				}
				b.WriteString(strings.TrimPrefix(out, "nft "))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return b.String(), err
	}
	fmt.Fprintf(&b, "# Completed on %s\n", stamp)
	return b.String(), nil
}
