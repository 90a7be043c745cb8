package datapath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ipsift/ipsift/load"
)

// TestLoadRulesNoFlush: run --noflush reads a repeated table section as
// iptables-restore --noflush does, adding to the first.
func TestLoadRulesNoFlush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "two.rules")
	src := "*filter\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		noflush bool
		want    int
	}{{false, 1}, {true, 2}} {
		rs, err := loadRules(p, load.Options{NoFlush: c.noflush})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(rs.Table("filter").Chain("INPUT").Rules); n != c.want {
			t.Errorf("noflush %v: %d rules, want %d", c.noflush, n, c.want)
		}
	}
}
