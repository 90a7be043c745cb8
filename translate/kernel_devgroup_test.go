package translate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/translate"
)

// devgroupRestore uses -m devgroup in every form iptables-translate
// writes, among them the one 1.8.11 gets wrong (an inverted
// --src-group before a --dst-group that is not).
const devgroupRestore = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m devgroup --src-group 0x5
-A INPUT -m devgroup ! --src-group 0x4/0x4
-A INPUT -m devgroup --src-group default
-A FORWARD -m devgroup ! --src-group 0x5 --dst-group 0x5
-A FORWARD -m devgroup ! --src-group 0x1c ! --dst-group 0x1c
-A FORWARD -m devgroup --src-group 0x4/0x4 --dst-group 0x1c -j ACCEPT
-A FORWARD -m devgroup ! --src-group 0x5 -j ACCEPT
-A OUTPUT -m devgroup --dst-group 0x5
-A OUTPUT -m devgroup ! --dst-group 0x1c
COMMIT
`

// TestKernelTranslationDevgroup loads devgroupRestore with iptables in
// one namespace and its exact translation with nft in another, both with
// eth0 in device group 5 and wlan0 in 0x1c, sends the same packets
// through both and requires every rule's counter to agree.
func TestKernelTranslationDevgroup(t *testing.T) {
	kernel.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		kernel.Lacking(t, "nft is not installed")
	}
	lr := load.Bytes("devgroup.rules", []byte(devgroupRestore), load.Options{})
	if lr.Diags.HasErrors() {
		t.Fatal(lr.Err())
	}
	s := translate.Ruleset(lr.Rules)
	if s.Untranslatable() > 0 {
		t.Fatalf("untranslated: %v", s.Diags)
	}
	var pkts []kerneldiff.Packet
	for _, l := range []string{
		"eth0 icmp 203.0.113.7 > 198.51.100.1 type 0",
		"eth0 icmp 203.0.113.7 > 192.0.2.10 type 0",
		"wlan0 icmp 192.0.2.10 > 192.0.2.1 type 0",
		"wlan0 icmp 192.0.2.10 > 203.0.113.7 type 0",
		"wlan0 udp 192.0.2.10:5000 > 198.51.100.9:53",
		"local icmp 198.51.100.1 > 203.0.113.7 type 0",
		"local icmp 192.0.2.1 > 192.0.2.10 type 0",
	} {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, kerneldiff.Packet{Desc: d, Of: -1})
	}
	ipt := kernel.NewFirewall(t, kernel.NFT)
	nf := kernel.NewFirewall(t, kernel.NFT)
	for _, fw := range []*kernel.Firewall{ipt, nf} {
		for dev, g := range map[string]string{"eth0": "5", "wlan0": "28"} {
			if _, err := fw.Run("ip", "link", "set", "dev", dev, "group", g); err != nil {
				t.Fatal(err)
			}
		}
		if err := kerneldiff.PrepareHost(fw, devgroupRestore, pkts); err != nil {
			t.Fatal(err)
		}
	}
	if err := ipt.Restore(devgroupRestore); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(script, []byte(s.Text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := nf.Run("nft", "-f", script); err != nil {
		t.Fatalf("nft refuses the translation: %v\n%s", err, s.Text)
	}
	for k, p := range pkts {
		data, err := p.Desc.Build(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, fw := range []*kernel.Firewall{ipt, nf} {
			if p.Desc.Local {
				_ = fw.SendLocal(data)
			} else if err := fw.Inject(p.Desc.In, data); err != nil {
				t.Fatal(err)
			}
			fw.CaptureAll()
		}
	}
	ic, err := ipt.Counters()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nftCounters(nf)
	if err != nil {
		t.Fatal(err)
	}
	total := uint64(0)
	for _, ref := range s.Rules {
		want := ic[kernel.RuleKey{Table: ref.Table, Chain: ref.Chain, Rule: ref.Index + 1}].Packets
		got := nc[fmt.Sprintf("ip %s %s %d", ref.Table, ref.Chain, ref.NftIndex)]
		total += want
		if want != got {
			t.Errorf("%s %s rule %d: iptables counted %d, nft %d", ref.Table, ref.Chain, ref.Index+1, want, got)
		}
	}
	if total == 0 || t.Failed() {
		t.Errorf("%d packets counted in all\ntranslation:\n%s", total, s.Text)
	}
}
