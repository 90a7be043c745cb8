package conntrack

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
)

// stateRules count forwarded packets by their conntrack state and
// direction, so that the counters say what state the kernel gave each.
const stateRules = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate INVALID -j ACCEPT
-A FORWARD -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED --ctdir ORIGINAL -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED --ctdir REPLY -j ACCEPT
-A FORWARD -m conntrack --ctstate UNTRACKED -j ACCEPT
COMMIT
`

var ruleStates = map[int]string{1: "INVALID", 2: "NEW", 3: "ESTABLISHED", 4: "ESTABLISHED/REPLY", 5: "RELATED", 6: "RELATED/REPLY", 7: "UNTRACKED"}

// kernelState injects pkt on interface in and returns the state the
// counting rules saw ("DROP" when no rule counted it).
func kernelState(t *testing.T, fw *kernel.Firewall, in string, pkt []byte) string {
	t.Helper()
	save := fw.SaveCounters
	if len(pkt) > 0 && pkt[0]>>4 == 6 {
		save = fw.SaveCounters6
	}
	before, err := save()
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Inject(in, pkt); err != nil {
		t.Fatal(err)
	}
	after, err := save()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range kernel.Diff(kernel.ParseSaveCounters(before), kernel.ParseSaveCounters(after)) {
		if k.Table == "filter" && k.Chain == "FORWARD" && k.Rule > 0 {
			got = append(got, ruleStates[k.Rule])
		}
	}
	switch len(got) {
	case 0:
		return "DROP"
	case 1:
		return got[0]
	}
	return strings.Join(got, ",")
}

// kernelListing returns conntrack -L (of the family given, if any),
// sorted as sortStrings does.
func kernelListing(t *testing.T, fw *kernel.Firewall, family ...string) []string {
	t.Helper()
	args := []string{"conntrack", "-L"}
	if len(family) > 0 {
		args = append(args, "-f", family[0])
	}
	out, err := fw.Run(args...)
	if err != nil {
		t.Fatalf("conntrack -L: %v", err)
	}
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) != "" {
			l = append(l, line)
		}
	}
	sortStrings(l)
	return l
}

// scenarioSlack is how far the time left of a kernel entry may fall
// below ipsift's after a scenario that started at start: ipsift's clock
// moves only by the steps' waits, the kernel's timers (jiffies) by the
// wall clock, so every second the run took beyond its waits (sending,
// reading counters, a loaded machine's scheduling: a run of 4.5 s for
// a scenario with no wait left the kernel's entry at 431995 s against
// ipsift's 432000) is a second the kernel's entry is nearer its end;
// plus sameListing's usual 2 (conntrack -L truncates to whole seconds).
func scenarioSlack(start time.Time, steps []step) int {
	extra := time.Since(start)
	for _, s := range steps {
		extra -= time.Duration(s.wait * float64(time.Second))
	}
	return int(max(extra, 0).Seconds()) + 2
}

// TestKernelScenarios sends every scenario through the kernel and
// checks that the kernel gives each packet the state the scenario
// expects, and leaves the same table, and that ipsift agrees.
func TestKernelScenarios(t *testing.T) {
	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(stateRules); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if err := fw.FlushConntrack(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var kstates []string
			for _, s := range sc.steps {
				if s.wait > 0 {
					time.Sleep(time.Duration(s.wait * float64(time.Second)))
				}
				kstates = append(kstates, kernelState(t, fw, s.in, s.pkt))
			}
			klist := kernelListing(t, fw)
			istates, ilist, _ := simulate(t, DefaultConfig(), sc.steps)
			for i, s := range sc.steps {
				if kstates[i] != istates[i] || (s.want != "" && kstates[i] != s.want) {
					t.Errorf("packet %d: kernel %s, ipsift %s, scenario says %s", i, kstates[i], istates[i], s.want)
				}
			}
			if !sameListing(klist, ilist, scenarioSlack(start, sc.steps)) {
				t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
			}
			if sc.table != nil {
				want := append([]string(nil), sc.table...)
				sortStrings(want)
				if !sameListing(klist, want, scenarioSlack(start, sc.steps)) {
					t.Errorf("kernel table:\n%sscenario says:\n%s", join2(klist), join2(want))
				}
			}
		})
	}
}

// TestKernelScenarios6 checks the IPv6 scenarios (the IPv4 ones with
// IPv6 twins, and the IPv6-only ones) against the kernel, as
// TestKernelScenarios does for IPv4.
func TestKernelScenarios6(t *testing.T) {
	fw := kernel.NewFirewallWith(t, kernel.NFT, kernel.Options{IPv6: true})
	if err := fw.Restore6(stateRules); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddNeighbour("wlan0", server6); err != nil {
		t.Fatal(err)
	}
	for _, sc := range append(scenarios6(), ipv6Scenarios...) {
		if sc.unitOnly {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			if err := fw.FlushConntrack(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var kstates []string
			for _, s := range sc.steps {
				if s.wait > 0 {
					time.Sleep(time.Duration(s.wait * float64(time.Second)))
				}
				kstates = append(kstates, kernelState(t, fw, s.in, s.pkt))
			}
			klist := kernelListing(t, fw, "ipv6")
			istates, ilist, _ := simulate(t, DefaultConfig(), sc.steps)
			for i, s := range sc.steps {
				if kstates[i] != istates[i] || (s.want != "" && kstates[i] != s.want) {
					t.Errorf("packet %d: kernel %s, ipsift %s, scenario says %s", i, kstates[i], istates[i], s.want)
				}
			}
			if !sameListing(klist, ilist, scenarioSlack(start, sc.steps)) {
				t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
			}
		})
	}
}
