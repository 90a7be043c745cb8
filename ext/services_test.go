package ext

import (
	"strings"
	"testing"
)

// TestServicesTable checks the generated table against what netbase 6.4
// lists: 218 tcp, 95 udp and 1 sctp lines.
func TestServicesTable(t *testing.T) {
	lines := map[string]int{}
	for _, s := range services {
		if !s.alias {
			lines[s.proto]++
		}
	}
	if lines["tcp"] != 218 || lines["udp"] != 95 || lines["sctp"] != 1 {
		t.Errorf("lines per protocol %v, want tcp 218, udp 95, sctp 1", lines)
	}
}

func TestServiceLookups(t *testing.T) {
	for _, c := range []struct {
		name  string
		proto uint8
		port  int // -1: not found
	}{
		{"mdns", 17, 5353}, {"mdns", 6, -1}, {"git", 6, 9418}, {"git", 17, -1},
		{"www", 6, 80}, {"www", 17, -1}, {"WWW", 6, -1}, {"Http", 6, -1},
		{"amqp", 132, 5672}, {"http", 132, -1}, {"ssh", 33, -1}, {"webcache", 6, 8080},
	} {
		p, err := parseXtPort(c.name, c.proto)
		got := int(p)
		if err != nil {
			got = -1
		}
		if got != c.port {
			t.Errorf("parseXtPort(%q, %d) = %d (%v), want %d", c.name, c.proto, got, err, c.port)
		}
	}
	for _, c := range []struct {
		word string
		port int
	}{
		{"mdns", 5353}, {"git", 9418}, {"www", 80}, {"053", 53}, {"+53", 53}, {" 53", 53},
		{"65536", 0}, {"70000", 4464}, {"0x35", -1}, {"SSH", -1}, {"rtmp", -1},
		{"-1", -1}, {" -1", -1}, {"+-1", -1}, {"-65536", -1}, {"4294967295", -1}, {"4294967296", 0},
		{"18446744073709551615", -1}, {"99999999999999999999", -1},
	} {
		p, err := ParsePort(c.word)
		got := int(p)
		if err != nil {
			got = -1
		}
		if got != c.port {
			t.Errorf("ParsePort(%q) = %d (%v), want %d", c.word, got, err, c.port)
		}
	}
	if p, ok := parseAnyServicePort("rtmp"); !ok || p != 1 {
		t.Errorf("getservbyname(rtmp, NULL) = %d %v, want the ddp line's 1", p, ok)
	}
	if n := ServiceName(80, 6); n != "http" {
		t.Errorf("ServiceName(80, tcp) = %q, want http (never the alias www)", n)
	}
	if n := ServiceName(5353, 17); n != "mdns" {
		t.Errorf("ServiceName(5353, udp) = %q", n)
	}
}

func TestPortErrors(t *testing.T) {
	for word, want := range map[string]string{
		"SSH":  "case-sensitive: write ssh",
		"mdns": "not a tcp service (/etc/services has it as udp/5353 only)",
		"nope": "a port is a number 0-65535 or a service name",
	} {
		if _, err := parseXtPort(word, 6); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseXtPort(%q, tcp): %v, want %q", word, err, want)
		}
	}
}
