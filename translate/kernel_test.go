package translate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/translate"
)

// nftCounters reads the rule counters of the nft ruleset in a namespace
// (nft -j list ruleset), keyed "table chain N" with N counting the
// chain's rules from 0 in order.
func nftCounters(fw *kernel.Firewall) (map[string]uint64, error) {
	out, err := fw.Run("nft", "-j", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, err
	}
	counts := map[string]uint64{}
	seen := map[string]int{}
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r struct {
			Family, Table, Chain string
			Handle               int
			Expr                 []map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		chain := r.Family + " " + r.Table + " " + r.Chain
		n := seen[chain]
		seen[chain]++
		for _, e := range r.Expr {
			if c, ok := e["counter"]; ok {
				var v struct{ Packets uint64 }
				if err := json.Unmarshal(c, &v); err != nil {
					return nil, err
				}
				counts[fmt.Sprintf("%s %d", chain, n)] = v.Packets
			}
		}
	}
	return counts, nil
}

// framesText are the packets that left, per interface, with the IPv4
// identification and header checksum blanked: each namespace picks its
// own ids for the packets it makes (REJECT's answers).
func framesText(m map[string][][]byte) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, f := range m[n] {
			f = append([]byte(nil), f...)
			if len(f) >= 20 && f[0]>>4 == 4 {
				f[4], f[5], f[10], f[11] = 0, 0, 0, 0
			}
			fmt.Fprintf(&b, "%s %x\n", n, f)
		}
	}
	return b.String()
}

// TestKernelTranslation loads generated rulesets into one namespace with
// iptables-restore and their translation into another with nft -f, sends
// the same packets through both, and compares what left, what the host
// took and every rule's packet counter.
func TestKernelTranslation(t *testing.T) {
	kernel.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nft is not installed")
		}
		t.Skip("nft is not installed")
	}
	const seed, rulesets, perRuleset = 13, 30, 40
	var n, pkts, diffs, untrans, refused, lacks, leftOut int
	for i := 0; i < rulesets; i++ {
		generated, packets := kerneldiff.Generate(seed, i, perRuleset)
		restore := generated
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			lr := load.Bytes("generated.rules", []byte(generated), load.Options{})
			if lr.Diags.HasErrors() {
				t.Skipf("ipsift refuses the generated ruleset: %v", lr.Err())
			}
			s := translate.Ruleset(lr.Rules)
			if s.Untranslatable() > 0 {
				// Compare the rest: both sides get the ruleset without
				// the rules nft cannot say.
				left := map[rules.Pos]bool{}
				for _, d := range s.Diags {
					if d.Severity == rules.SevError {
						left[d.Pos] = true
					}
				}
				rs := lr.Rules.Clone()
				kept := 0
				for _, tb := range rs.Tables {
					for _, c := range tb.Chains {
						var keep []*rules.Rule
						for _, r := range c.Rules {
							if !left[r.Pos] {
								keep = append(keep, r)
							}
						}
						c.Rules = keep
						kept += len(keep)
					}
				}
				leftOut += len(left)
				if kept == 0 {
					untrans++
					return
				}
				var b strings.Builder
				rs.Save(&b, rules.SaveOptions{})
				restore = b.String()
				s = translate.Ruleset(rs)
			}
			ipt := kernel.NewFirewall(t, kernel.NFT)
			if err := ipt.Restore(restore); err != nil {
				t.Skipf("the kernel refuses the generated ruleset: %v", err)
			}
			nf := kernel.NewFirewall(t, kernel.NFT)
			script := filepath.Join(t.TempDir(), "rules.nft")
			if err := os.WriteFile(script, []byte(s.Text), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := nf.Run("nft", "-f", script); err != nil {
				if strings.Contains(err.Error(), "No such file or directory") {
					lacks++
				} else {
					refused++
				}
				t.Logf("nft refuses the translation: %v\n%s", err, s.Text)
				return
			}
			for _, fw := range []*kernel.Firewall{ipt, nf} {
				fw.CaptureWait = 200e3
				if err := kerneldiff.PrepareHost(fw, restore, packets); err != nil {
					t.Fatal(err)
				}
			}
			n++
			// Answers (replies, ICMP errors) are addressed to what the
			// iptables side made of the packet they answer.
			answers := kerneldiff.NewAnswerer(packets)
			// Both firewalls see each packet in turn: spacing the turns
			// spaces each firewall's packets (connlimit's jiffies).
			gap := kerneldiff.PacketGap(restore, false)
			var last time.Time
			for k := range packets {
				d, ok := answers.Desc(k)
				if !ok {
					continue // answers something that never left
				}
				if wait := gap - time.Since(last); !last.IsZero() && wait > 0 {
					time.Sleep(wait)
				}
				last = time.Now()
				data, err := d.Build(k)
				if err != nil {
					t.Fatal(err)
				}
				var outs [2]string
				for j, fw := range []*kernel.Firewall{ipt, nf} {
					before, _ := fw.Delivered()
					if d.Local {
						_ = fw.SendLocal(data) // a refused send is the verdict
					} else if d.SrcMAC.IsZero() {
						err = fw.Inject(d.In, data)
					} else {
						err = fw.InjectFrom(d.In, d.SrcMAC[:], data)
					}
					if err != nil && !d.Local {
						t.Fatal(err)
					}
					m, err := fw.CaptureAll()
					if err != nil {
						t.Fatal(err)
					}
					if j == 0 {
						answers.Left(k, m)
					}
					after, _ := fw.Delivered()
					outs[j] = fmt.Sprintf("%sdelivered %d", framesText(m), after.InDelivers-before.InDelivers)
				}
				pkts++
				ic, err := ipt.Counters()
				if err != nil {
					t.Fatal(err)
				}
				nc, err := nftCounters(nf)
				if err != nil {
					t.Fatal(err)
				}
				var bad []string
				if outs[0] != outs[1] {
					bad = append(bad, fmt.Sprintf("iptables:\n%s\nnft:\n%s", outs[0], outs[1]))
				}
				for _, ref := range s.Rules {
					want := ic[kernel.RuleKey{Table: ref.Table, Chain: ref.Chain, Rule: ref.Index + 1}].Packets
					got := nc[fmt.Sprintf("ip %s %s %d", ref.Table, ref.Chain, ref.NftIndex)]
					if want != got {
						bad = append(bad, fmt.Sprintf("%s %s rule %d: iptables counted %d, nft %d", ref.Table, ref.Chain, ref.Index+1, want, got))
					}
				}
				if len(bad) > 0 {
					diffs++
					t.Errorf("packet %d %s:\n%s\nruleset:\n%s\ntranslation:\n%s", k, d.String(), strings.Join(bad, "\n"), restore, s.Text)
					return
				}
			}
		})
	}
	line := fmt.Sprintf("translate-diff: %d rulesets, %d packets, %d differences, %d skipped (untranslatable %d, refused by the installed nft %d, kernel lacks a module %d); %d rules with no exact nft form left out of both sides\n",
		n, pkts, diffs, untrans+refused+lacks, untrans, refused, lacks, leftOut)
	fmt.Print(line)
	if err := kerneldiff.AppendSummary(line); err != nil {
		t.Error(err)
	}
}
