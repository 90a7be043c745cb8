package load

import (
	"os"
	"regexp"
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

// TestKernelListGateway compares ipsift's iptables -L and -S output for
// gateway.rules with the kernel's, every table, with and without -v,
// -x and --line-numbers (always -n: ipsift resolves no names).
func TestKernelListGateway(t *testing.T) {
	kernel.Require(t)
	data, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	res := Bytes("gateway.rules", data, Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(string(data)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"filter", "nat"} {
		for _, flags := range [][]string{{"-n"}, {"-n", "-v"}, {"-n", "-v", "-x", "--line-numbers"}} {
			args := append([]string{"iptables-nft", "-t", table, "-L"}, flags...)
			theirs, err := fw.Run(args...)
			if err != nil {
				t.Fatal(err)
			}
			o := rules.ListOptions{Table: table, Numeric: true}
			for _, f := range flags {
				switch f {
				case "-v":
					o.Verbose = true
				case "-x":
					o.Exact = true
				case "--line-numbers":
					o.LineNumbers = true
				}
			}
			var b strings.Builder
			if err := res.Rules.List(&b, o); err != nil {
				t.Fatal(err)
			}
			theirs = protoNames111(theirs, o)
			if b.String() != theirs {
				t.Errorf("iptables -t %s -L %v:\nkernel:\n%s\nipsift:\n%s", table, flags, theirs, b.String())
			}
		}
		theirs, err := fw.Run("iptables-nft", "-t", table, "-S")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		res.Rules.ListRules(&b, table, "", false)
		if b.String() != theirs {
			t.Errorf("iptables -t %s -S:\nkernel:\n%s\nipsift:\n%s", table, theirs, b.String())
		}
	}
}

// protoNames111 rewrites the protocol column of iptables 1.8.9's -L -n
// output as iptables 1.8.11 prints it (names from its own list even
// with -n; 1.8.9 prints numbers), the version ipsift follows
// (DIFFERENCES.md).
func protoNames111(out string, _ rules.ListOptions) string {
	names := map[string]string{"0   ": "all ", "6   ": "tcp ", "17  ": "udp ", "1   ": "icmp"}
	re := regexp.MustCompile(`([ !])(0   |6   |17  |1   )( (?:--|-f|!f) )`)
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Chain ") {
			continue
		}
		if m := re.FindStringSubmatchIndex(l); m != nil {
			lines[i] = l[:m[4]] + names[l[m[4]:m[5]]] + l[m[5]:]
		}
	}
	return strings.Join(lines, "\n")
}
