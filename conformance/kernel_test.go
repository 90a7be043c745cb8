package conformance

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/rules"
)

// knownDisagreements reads the lines the installed iptables (1.8.9) is
// known to get differently from the .t files (1.8.11), as "file:line".
func knownDisagreements(t *testing.T, dir string, b kernel.Backend) map[string]bool {
	name := "installed-iptables-1.8.9-" + string(b) + ".failures"
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("known disagreements: %v", err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^(\S+\.t): ERROR: line (\d+) `)
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]+":"+m[2]] = true
		}
	}
	return out
}

type tline struct {
	table, chain, rule string
	line               int
}

// okLines returns the OK lines of a .t file that ipsift passes, with
// their table and chains.
func okLines(t *testing.T, path string, passed map[int]bool) ([]tline, bool) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tline
	table, chains := "filter", []string{"INPUT"}
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '@' || l[0] == '%':
			return nil, false // set-up commands: compared in their own test
		case l[0] == ':':
			chains = strings.Split(l[1:], ",")
		case l[0] == '*':
			table = l[1:]
		default:
			if !passed[n] {
				continue
			}
			fs := strings.Split(l, ";")
			for _, c := range chains {
				out = append(out, tline{table: table, chain: c, rule: fs[0], line: n})
			}
		}
	}
	return out, true
}

func restoreText(lines []tline) string {
	var b strings.Builder
	byTable := map[string][]tline{}
	var order []string
	for _, l := range lines {
		if byTable[l.table] == nil {
			order = append(order, l.table)
		}
		byTable[l.table] = append(byTable[l.table], l)
	}
	for _, tb := range order {
		fmt.Fprintf(&b, "*%s\n", tb)
		for _, l := range byTable[tb] {
			fmt.Fprintf(&b, "-A %s %s\n", l.chain, l.rule)
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// ruleLines returns the rule lines of one table's section of a save
// output (earlier lines of a .t file may have left rules in others).
func ruleLines(save, table string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "*") {
			in = l == "*"+table
		}
		if in && strings.HasPrefix(l, "-A ") {
			out = append(out, l)
		}
	}
	return out
}

func ipsiftSaveFamily(text string, fam ext.Family) (string, error) {
	rs := rules.New()
	rs.Family = fam
	if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{}); err != nil {
		return "", err
	}
	var b strings.Builder
	rs.Save(&b, rules.SaveOptions{})
	return b.String(), nil
}

// TestKernelSave loads every conformance line ipsift passes into the
// kernel with the installed iptables (both backends) and compares the
// kernel's iptables-save line with ipsift's, except the lines on which
// the installed iptables 1.8.9 is known to disagree with 1.8.11.
func TestKernelSave(t *testing.T) { kernelSave(t, ext.IPv4) }

// TestKernelSave6 is TestKernelSave for ip6tables: every IPv6 line ipsift
// passes (libxt_* with ip6tables, libip6t_*) is loaded with
// ip6tables-restore and the kernel's ip6tables-save line must equal
// ipsift's.
func TestKernelSave6(t *testing.T) { kernelSave(t, ext.IPv6) }

func kernelSave(t *testing.T, fam ext.Family) {
	kernel.Require(t)
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	list, tool := IPv4Files, "iptables"
	if fam == ext.IPv6 {
		list, tool = IPv6Files, "ip6tables"
	}
	files, err := list(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			known := knownDisagreements(t, dir, b)
			compared, skipped, differ := 0, 0, 0
			for _, path := range files {
				name := filepath.Base(path)
				res, err := RunFileFamily(path, fam)
				if err != nil {
					t.Fatal(err)
				}
				passed := map[int]bool{}
				for _, r := range res {
					if r.Outcome == Pass && r.Want == "OK" && !known[name+":"+fmt.Sprint(r.Line)] {
						passed[r.Line] = true
					}
				}
				lines, ok := okLines(t, path, passed)
				if !ok || len(lines) == 0 {
					continue
				}
				fw := kernel.NewFirewall(t, b)
				restore, save := fw.Restore, fw.Save
				if fam == ext.IPv6 {
					restore, save = fw.Restore6, fw.Save6
				}
				// one compares a single line: a line the kernel here
				// cannot load (a module this machine lacks) is skipped,
				// not fatal.
				one := func(l tline) {
					text := restoreText([]tline{l})
					if err := restore(text); err != nil {
						skipped++
						t.Logf("%s:%d: the kernel here cannot load %q: %v", name, l.line, l.rule, firstLine(err.Error()))
						return
					}
					ks, err := save()
					if err != nil {
						t.Fatal(err)
					}
					is, err := ipsiftSaveFamily(text, fam)
					if err != nil {
						t.Errorf("%s:%d: ipsift refuses what the kernel loads: %q: %v", name, l.line, l.rule, err)
						differ++
						return
					}
					kl, il := ruleLines(ks, l.table), ruleLines(is, l.table)
					compared++
					if strings.Join(kl, "\n") != strings.Join(il, "\n") {
						differ++
						t.Errorf("%s:%d %s in %s:\n kernel: %s\n ipsift: %s", name, l.line, l.rule, l.chain, strings.Join(kl, " | "), strings.Join(il, " | "))
					}
				}
				// The lines go to the kernel a batch at a time (one
				// iptables-restore and one iptables-save for up to
				// kernelSaveBatch lines of one table instead of one of
				// each per line: the test's time is those processes).
				// iptables-save prints each rule on its own, so a batch
				// whose saved rules all equal ipsift's is each of its
				// lines compared and equal; a batch the kernel refuses
				// or that differs anywhere is compared again line by
				// line, for the skip or the difference to name its line.
				for len(lines) > 0 {
					n := 1
					for n < len(lines) && n < kernelSaveBatch && lines[n].table == lines[0].table {
						n++
					}
					batch := lines[:n]
					lines = lines[n:]
					if n > 1 && sameSave(restore, save, batch, fam) {
						compared += n
						continue
					}
					for _, l := range batch {
						one(l)
					}
				}
			}
			t.Logf("kernel save (%s, %s): %d lines compared, %d differ, %d the kernel here cannot load", tool, b, compared, differ, skipped)
			if compared == 0 {
				t.Fatal("nothing compared")
			}
		})
	}
}

// kernelSaveBatch is how many lines TestKernelSave gives the kernel at
// once.
const kernelSaveBatch = 64

// sameSave loads batch (lines of one table) into the kernel and reports
// whether the kernel loads it and saves the very rules ipsift saves.
func sameSave(restore func(string) error, save func() (string, error), batch []tline, fam ext.Family) bool {
	text := restoreText(batch)
	if restore(text) != nil {
		return false
	}
	ks, err := save()
	if err != nil {
		return false
	}
	is, err := ipsiftSaveFamily(text, fam)
	if err != nil {
		return false
	}
	kl, il := ruleLines(ks, batch[0].table), ruleLines(is, batch[0].table)
	return strings.Join(kl, "\n") == strings.Join(il, "\n")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
