package kernel

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// RuleKey names one counter in a ruleset: rule Rule (counted from 1 in
// chain order, as --line-numbers does) of Chain in Table, or the chain's
// policy when Rule is 0.
type RuleKey struct {
	Table string
	Chain string
	Rule  int
}

// String gives "filter INPUT 3", or "filter INPUT policy".
func (k RuleKey) String() string {
	if k.Rule == 0 {
		return k.Table + " " + k.Chain + " policy"
	}
	return k.Table + " " + k.Chain + " " + strconv.Itoa(k.Rule)
}

// Compare orders keys by table, chain and rule, for stable output.
func (k RuleKey) Compare(o RuleKey) int {
	return cmp.Or(cmp.Compare(k.Table, o.Table), cmp.Compare(k.Chain, o.Chain), cmp.Compare(k.Rule, o.Rule))
}

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// ParseSaveCounters reads iptables-save -c output (either backend) into
// its counters: one per rule, from `[p:b] -A CHAIN ...` lines, and one per
// built-in chain policy, from `:CHAIN POLICY [p:b]` lines. User chains
// (policy "-") have no policy counter and give no entry. Lines it does not
// recognise (comments, COMMIT, rules without a counter) are skipped, so a
// plain iptables-save gives no rule entries.
func ParseSaveCounters(save string) map[RuleKey]Counter {
	out := make(map[RuleKey]Counter)
	table := ""
	ruleNo := make(map[[2]string]int) // (table, chain) → rules seen
	for line := range strings.Lines(save) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			// :CHAIN POLICY [p:b]
			fields := strings.Fields(line[1:])
			if len(fields) != 3 || fields[1] == "-" {
				continue
			}
			if c, ok := parseCounter(fields[2]); ok {
				out[RuleKey{table, fields[0], 0}] = c
			}
		case strings.HasPrefix(line, "["):
			// [p:b] -A CHAIN ...
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[1] != "-A" {
				continue
			}
			c, ok := parseCounter(fields[0])
			if !ok {
				continue
			}
			k := [2]string{table, fields[2]}
			ruleNo[k]++
			out[RuleKey{table, fields[2], ruleNo[k]}] = c
		}
	}
	return out
}

// parseCounter reads "[packets:bytes]".
func parseCounter(s string) (Counter, bool) {
	inner, ok := strings.CutPrefix(s, "[")
	if !ok {
		return Counter{}, false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	if !ok {
		return Counter{}, false
	}
	ps, bs, ok := strings.Cut(inner, ":")
	if !ok {
		return Counter{}, false
	}
	p, err1 := strconv.ParseUint(ps, 10, 64)
	b, err2 := strconv.ParseUint(bs, 10, 64)
	if err1 != nil || err2 != nil {
		return Counter{}, false
	}
	return Counter{p, b}, true
}

// Diff returns the counters that rose from before to after, each with the
// amount it rose by. A counter only in after counts from zero; one that
// fell (the ruleset was reloaded, say) or stayed is left out.
func Diff(before, after map[RuleKey]Counter) map[RuleKey]Counter {
	out := make(map[RuleKey]Counter)
	for k, a := range after {
		b := before[k]
		if a.Packets > b.Packets {
			d := Counter{Packets: a.Packets - b.Packets}
			if a.Bytes > b.Bytes {
				d.Bytes = a.Bytes - b.Bytes
			}
			out[k] = d
		}
	}
	return out
}

// SortedKeys returns the keys of m in RuleKey.Compare order.
func SortedKeys(m map[RuleKey]Counter) []RuleKey {
	keys := make([]RuleKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, RuleKey.Compare)
	return keys
}

// FormatCounters prints m one "key +packets/+bytes" per line in key order,
// for test failure messages.
func FormatCounters(m map[RuleKey]Counter) string {
	var b strings.Builder
	for _, k := range SortedKeys(m) {
		fmt.Fprintf(&b, "%s: %d packets, %d bytes\n", k, m[k].Packets, m[k].Bytes)
	}
	return b.String()
}
