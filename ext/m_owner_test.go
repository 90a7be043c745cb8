package ext

import "testing"

func TestOwner(t *testing.T) {
	for _, tc := range []struct{ rule, save, print, printN string }{
		{"-m owner --uid-owner root", " --uid-owner 0", " owner UID match root", " owner UID match 0"},
		{"-m owner ! --uid-owner 1000-1999 --gid-owner users --suppl-groups", " ! --uid-owner 1000-1999 --gid-owner 100 --suppl-groups",
			" ! owner UID match 1000-1999 owner GID match users incl. suppl. groups", " ! owner UID match 1000-1999 owner GID match 100 incl. suppl. groups"},
		{"-m owner ! --socket-exists", " ! --socket-exists", " ! owner socket exists", " ! owner socket exists"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "OUTPUT", nil)
		save, print, printN := sfSavePrint(m)
		if save != tc.save || print != tc.print || printN != tc.printN {
			t.Errorf("%s: %q %q %q, want %q %q %q", tc.rule, save, print, printN, tc.save, tc.print, tc.printN)
		}
	}
	for _, rule := range []string{"-m owner --uid-owner alice", "-m owner --uid-owner 4294967295", "-m owner --uid-owner 5-", "-m owner"} {
		if err := sfParseErr(rule, IPv4, "filter", "OUTPUT"); err == nil {
			t.Errorf("%s: parsed", rule)
		}
	}
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	for _, tc := range []struct {
		rule     string
		uid, gid int
		want     bool
	}{
		{"-m owner --uid-owner 1000", 1000, 1000, true},
		{"-m owner --uid-owner 1000", 0, 0, false},
		{"-m owner --uid-owner 1000", -1, -1, false},
		{"-m owner ! --uid-owner 1000", -1, -1, true},
		{"-m owner ! --socket-exists", -1, -1, true},
		{"-m owner ! --socket-exists", 5, 5, false},
		{"-m owner --socket-exists ! --uid-owner 0", -1, -1, false},
		{"-m owner --gid-owner 100-200", 0, 150, true},
	} {
		_, mt := sfMatch(t, tc.rule, IPv4, "filter", "OUTPUT", nil)
		c := sfCtx(p, LocalOut, 0)
		c.UID, c.GID = tc.uid, tc.gid
		if got := mt.Match(c); got != tc.want {
			t.Errorf("%s uid %d: %v, want %v", tc.rule, tc.uid, got, tc.want)
		}
	}
}
