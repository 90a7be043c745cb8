package kerneldiff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

// TestRegressions runs every case in testdata/regress through the kernel
// and ipsift and expects no difference. A case is a restore file and a
// packets file with the same name: NAME.BACKEND.rules and
// NAME.BACKEND.jsonl run on that backend (nft or legacy), NAME.rules and
// NAME.jsonl on both. A difference TestKernelDiff reports (written with
// -kernel-diff.out=DIR) becomes a regression test by copying its two
// files here. IPSIFT_CASE=NAME runs one case alone.
func TestRegressions(t *testing.T) {
	kernel.Require(t)
	files, err := filepath.Glob(filepath.Join("testdata", "regress", "*.rules"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no regression cases in testdata/regress")
	}
	only := os.Getenv("IPSIFT_CASE")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rules")
		if only != "" && name != only && !strings.HasPrefix(name, only+".") {
			continue
		}
		backends := kernel.Backends
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			backends = []kernel.Backend{kernel.Backend(name[i+1:])}
			if b := backends[0]; b != kernel.NFT && b != kernel.Legacy {
				t.Fatalf("%s: backend %q: want nft or legacy", f, b)
			}
		}
		rules, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := os.Open(strings.TrimSuffix(f, ".rules") + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := packet.ReadDescs(pf)
		pf.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, b := range backends {
			t.Run(name+"/"+string(b), func(t *testing.T) {
				t.Parallel()
				for _, d := range Compare(t, b, string(rules), pkts) {
					t.Errorf("%s", d)
				}
			})
		}
	}
}
