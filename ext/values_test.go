package ext

import "testing"

func TestParseUintIsStrtoul(t *testing.T) {
	for s, want := range map[string]uint64{"10": 10, "0x10": 16, "010": 8, "0": 0} {
		if v, err := ParseUint(s, 0, 100); err != nil || v != want {
			t.Errorf("ParseUint(%q) = %d, %v; want %d", s, v, err, want)
		}
	}
	for _, s := range []string{"0b11", "0o7", "1_000", "-1", "+1", "", "12a", "101"} {
		if _, err := ParseUint(s, 0, 100); err == nil {
			t.Errorf("ParseUint(%q) accepted", s)
		}
	}
}

func TestServiceNames(t *testing.T) {
	if n := ServiceName(80, 6); n != "http" {
		t.Errorf("tcp 80 = %q, want http (not the alias www)", n)
	}
	if n := ServiceName(22, 17); n != "" {
		t.Errorf("udp 22 = %q, want none", n)
	}
	if p, err := ParsePort("www"); err != nil || p != 80 {
		t.Errorf("ParsePort(www) = %d, %v", p, err)
	}
	if p, err := ParsePort("bootps"); err != nil || p != 67 {
		t.Errorf("ParsePort(bootps) = %d, %v", p, err)
	}
}
