package load

import (
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/rules"
)

// withoutComments drops "#" lines, which carry the tool and the date.
func withoutComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// tableBlocks splits a save output into its tables, keyed by name, so
// that outputs whose table order differs (the legacy backend) compare.
func tableBlocks(s string) map[string]string {
	out := map[string]string{}
	cur := ""
	for _, l := range strings.Split(withoutComments(s), "\n") {
		if strings.HasPrefix(l, "*") {
			cur = l
		}
		if cur != "" {
			out[cur] += l + "\n"
		}
	}
	return out
}

// TestKernelSaveGateway loads gateway.rules into the kernel and into
// ipsift and compares iptables-save: byte for byte for the nf_tables
// backend (comment lines aside), table by table for legacy.
func TestKernelSaveGateway(t *testing.T) {
	kernel.Require(t)
	data, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	res := Bytes("gateway.rules", data, Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	var b strings.Builder
	res.Rules.Save(&b, rules.SaveOptions{})
	ours := b.String()
	for _, be := range kernel.Backends {
		t.Run(string(be), func(t *testing.T) {
			fw := kernel.NewFirewall(t, be)
			if err := fw.Restore(string(data)); err != nil {
				t.Fatal(err)
			}
			theirs, err := fw.Save()
			if err != nil {
				t.Fatal(err)
			}
			if be == kernel.NFT {
				if withoutComments(theirs) != withoutComments(ours) {
					t.Errorf("kernel:\n%s\nipsift:\n%s", theirs, ours)
				}
				return
			}
			k, o := tableBlocks(theirs), tableBlocks(ours)
			for name, block := range k {
				if o[name] != block {
					t.Errorf("table %s: kernel:\n%s\nipsift:\n%s", name, block, o[name])
				}
			}
			if len(k) != len(o) {
				t.Errorf("kernel has %d tables, ipsift %d", len(k), len(o))
			}
		})
	}
}
