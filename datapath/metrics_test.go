package datapath

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/load"
)

func TestMetricsFormat(t *testing.T) {
	r := traceTestRunner(t)
	traceFeed(t, r, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S", 0)
	// IPv6 rules beside: their counters carry family="ipv6".
	res := load.Bytes("six.rules", []byte("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"), load.Options{Family: ext.IPv6})
	if err := r.E.LoadPair(nil, res.Rules6); err != nil {
		t.Fatal(err)
	}
	traceFeed(t, r, "eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S", 1)
	r.Stats.Packets.Add(1)
	r.Stats.Accepted.Add(1)
	r.Stats.EngineRuns.Add(1)
	r.Stats.EngineNanos.Add(1500)
	r.Stats.ReloadsFailed.Add(1)

	srv := httptest.NewServer(r.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	text := string(body)

	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$`)
	help := map[string]bool{}
	typ := map[string]string{}
	samples := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if f := strings.SplitN(line, " ", 4); strings.HasPrefix(line, "# ") {
			if len(f) < 4 || (f[1] != "HELP" && f[1] != "TYPE") {
				t.Errorf("line %d: bad comment %q", i+1, line)
				continue
			}
			if f[1] == "HELP" {
				help[f[2]] = true
			} else {
				if typ[f[2]] != "" {
					t.Errorf("line %d: second TYPE for %s", i+1, f[2])
				}
				typ[f[2]] = f[3]
			}
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d does not parse: %q", i+1, line)
			continue
		}
		name := m[1]
		if typ[name] == "" {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "_sum"), "_count")
		}
		if typ[name] == "" || !help[name] {
			t.Errorf("line %d: %s has no HELP and TYPE before it", i+1, m[1])
		}
		samples[name]++
	}
	for name, tp := range typ {
		if tp != "counter" && tp != "gauge" && tp != "summary" {
			t.Errorf("%s: type %q", name, tp)
		}
		if tp == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
	for _, want := range []string{
		"ipsift_packets_total 1\n",
		`ipsift_verdicts_total{verdict="accept"} 1` + "\n",
		"ipsift_conntrack_entries 1\n",
		"ipsift_engine_seconds_sum 1.5e-06\n",
		"ipsift_engine_seconds_count 1\n",
		`ipsift_reloads_total{result="failed"} 1` + "\n",
		`ipsift_rule_packets_total{table="nat",chain="PREROUTING",rule="`,
		`ipsift_policy_packets_total{table="filter",chain="INPUT",family="ipv4"}`,
		`ipsift_rule_packets_total{table="filter",chain="INPUT",rule="1",family="ipv6"} 1` + "\n",
		`ipsift_policy_packets_total{table="filter",chain="INPUT",family="ipv6"} 0` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if samples["ipsift_rule_packets_total"] == 0 || samples["ipsift_rule_packets_total"] != samples["ipsift_rule_bytes_total"] {
		t.Errorf("rule samples: %v", samples)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

func TestParseQueueStats(t *testing.T) {
	in := "    0  12345     3 2 65531     7     2      100  1\n    5  999     1 2 65531     4     0      0  1\n    6  998     2 2 65531     0     1      0  1\n"
	qs, ok := parseQueueStats(strings.NewReader(in), 0, 1)
	if !ok || qs != (QueueStats{Waiting: 3, Dropped: 7, UserDropped: 2}) {
		t.Errorf("queue 0: %+v %v", qs, ok)
	}
	if _, ok := parseQueueStats(strings.NewReader(in), 1, 4); ok {
		t.Error("queues 1-4 found")
	}
	// Several queues: summed.
	if qs, ok := parseQueueStats(strings.NewReader(in), 4, 3); !ok || qs != (QueueStats{Waiting: 3, Dropped: 4, UserDropped: 1}) {
		t.Errorf("queues 4-6: %+v %v", qs, ok)
	}
}

func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Errorf("got %s", got)
	}
}
