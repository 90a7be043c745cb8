package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/translate"
)

func init() {
	fs := newFlags("translate")
	lf := addLoadFlags(fs)
	register(&command{
		name: "translate",
		args: "FILE [--noflush] [--legacy] [-- ARG...]",
		summary: "Translate a ruleset or script into an nft script that means the same, IPv4 and IPv6 rules alike.\n" +
			"A rule with no exact nft form is named at its line and left out, and the exit status is then 1.",
		example: "  ipsift translate fw.rules > fw.nft && nft -c -f fw.nft\n" +
			"  ipsift translate firewall.sh -- start > fw.nft   # a script, with its arguments\n" +
			"  ipsift iptables-translate -A INPUT -p tcp --dport 22 -j ACCEPT   # one command, as iptables-translate 1.8.11 prints it",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) != 1 {
				if err != nil {
					fmt.Fprintf(stderr, "ipsift translate: %v\n", err)
				}
				fmt.Fprintln(stderr, "usage: ipsift translate [--noflush] [--legacy] FILE [-- SCRIPT-ARGS...]")
				return exitUsage
			}
			res, code := loadResult(pos[0], lf, stderr)
			if res == nil {
				return code
			}
			s := translate.Ruleset(res.Rules, res.Rules6)
			fmt.Fprintf(stdout, "#!/usr/sbin/nft -f\n# %s, translated by ipsift translate\n", pos[0])
			io.WriteString(stdout, s.Text)
			printDiags(stderr, s.Diags, false)
			if n := s.Untranslatable(); n > 0 {
				fmt.Fprintf(stderr, "ipsift translate: %d rule(s) have no exact nft translation and are left out\n", n)
				return exitProblems
			}
			return exitOK
		},
	})
}

// translateCommand is iptables-translate and ip6tables-translate (called
// by those names or as ipsift iptables-translate): the nft command
// iptables 1.8.11's translator prints for one iptables command line,
// its mistakes included (ipsift translate writes what is right).
func translateCommand(tool string, args []string, stdout, stderr io.Writer) int {
	fam := ext.IPv4
	if tool == "ip6tables-translate" {
		fam = ext.IPv6
	}
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprintf(stdout, "Usage: ipsift %s IPTABLES-ARGS...\n\nPrints the nft command that %s of iptables 1.8.11 prints for an %s command line, its known mistakes included.\nFor a whole ruleset that means the same in nft, use ipsift translate FILE.\n\nExample:\n  ipsift %s -A INPUT -p tcp --dport 22 -j ACCEPT\n  # prints: nft 'add rule ip filter INPUT tcp dport 22 counter accept'\n", tool, tool, tool[:len(tool)-len("-translate")], tool)
			return exitOK
		}
	}
	cmd, err := rules.ParseCommand(rules.Words(args), rules.ParseOptions{Family: fam, Userspace: true})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nTry `%s -h' or '%s --help' for more information.\n", tool, err, tool, tool)
		return exitUsage
	}
	var s translate.Session
	out, ok := s.Command(fam, cmd, args)
	io.WriteString(stdout, out)
	if !ok {
		fmt.Fprintln(stderr, "Translation not implemented")
		return exitProblems
	}
	return exitOK
}

// restoreTranslateCommand is iptables-restore-translate and
// ip6tables-restore-translate: a restore file (-f FILE, else standard
// input) as 1.8.11's translator prints it.
func restoreTranslateCommand(tool string, args []string, stdout, stderr io.Writer) int {
	fam := ext.IPv4
	if tool == "ip6tables-restore-translate" {
		fam = ext.IPv6
	}
	var in io.Reader = os.Stdin
	name := "stdin"
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			fmt.Fprintf(stdout, "Usage: ipsift %s [-f FILE]\n\nPrints what %s of iptables 1.8.11 prints for a restore file (standard input without -f), its mistakes included.\nFor an nft script that means the same, use ipsift translate FILE.\n\nExample:\n  iptables-save | ipsift %s\n  ipsift %s -f fw.rules\n", tool, tool, tool, tool)
			return exitOK
		case (a == "-f" || a == "--file") && i+1 < len(args):
			i++
			f, err := os.Open(args[i])
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", tool, err)
				return exitUsage
			}
			defer f.Close()
			in, name = f, args[i]
		default:
			fmt.Fprintf(stderr, "%s: unknown argument %q\nUsage: %s [-f FILE]\n", tool, a, tool)
			return exitUsage
		}
	}
	var s translate.Session
	out, err := s.Restore(tool, fam, name, in, time.Now())
	io.WriteString(stdout, out)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", tool, err)
		return exitProblems
	}
	return exitOK
}
