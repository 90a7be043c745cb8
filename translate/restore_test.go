package translate

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/ext"
)

// A restore file as iptables-restore-translate 1.8.11 prints it: tables,
// base chains with its priorities (security at 0, its get_hook_prio
// mistake), user chains, rules without the nft '...' wrapping, a rule
// with no translation as a comment, and connlimit's sets numbered across
// the whole file.
func TestRestore(t *testing.T) {
	in := `*security
:INPUT ACCEPT [0:0]
COMMIT
*filter
:INPUT DROP [3:120]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LOGDROP - [0:0]
[5:300] -A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -m connlimit --connlimit-above 2
-A INPUT -m connlimit --connlimit-above 3
-A INPUT -m recent --set
-A LOGDROP -j DROP
COMMIT
`
	want := `# Translated by iptables-restore-translate v1.8.11 on Mon Dec  7 03:50:45 2026
add table ip security
add chain ip security INPUT { type filter hook input priority 0; policy accept; }
add table ip filter
add chain ip filter INPUT { type filter hook input priority 0; policy drop; }
add chain ip filter FORWARD { type filter hook forward priority 0; policy accept; }
add chain ip filter OUTPUT { type filter hook output priority 0; policy accept; }
add chain ip filter LOGDROP
add rule ip filter INPUT tcp dport 22 counter accept
add set ip filter connlimit0 { type ipv4_addr; flags dynamic; }
add rule ip filter INPUT add @connlimit0 { ip saddr ct count over 2 } counter
add set ip filter connlimit1 { type ipv4_addr; flags dynamic; }
add rule ip filter INPUT add @connlimit1 { ip saddr ct count over 3 } counter
# -t filter -A INPUT -m recent --set 
add rule ip filter LOGDROP counter drop
# Completed on Mon Dec  7 03:50:45 2026
`
	var s Session
	got, err := s.Restore("iptables-restore-translate", ext.IPv4, "t", strings.NewReader(in), time.Date(2026, 12, 7, 3, 50, 45, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
