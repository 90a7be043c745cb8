package ext

import (
	"testing"
	"time"
)

func TestTimeSavePrint(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m time --timestart 01:00 --timestop 02:00",
			" --timestart 01:00:00 --timestop 02:00:00 --datestop 2038-01-19T03:14:07", " TIME from 01:00:00 to 02:00:00 UTC"},
		{"-m time ! --monthdays 31,1",
			" --monthdays 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30 --datestop 2038-01-19T03:14:07",
			" TIME on 2nd,3rd,4th,5th,6th,7th,8th,9th,10th,11st,12nd,13rd,14th,15th,16th,17th,18th,19th,20th,21st,22nd,23rd,24th,25th,26th,27th,28th,29th,30th UTC"},
		{"-m time --datestart 1970 --datestop 2038-01-19T03:14:08", " --datestop 2038-01-19T03:14:08", " TIME until date 2038-01-19 03:14:08 UTC"},
		{"-m time --timestart 4:5 --timestop 1:2:3 --contiguous --utc --weekdays Sa,7,1",
			" --timestart 04:05:00 --timestop 01:02:03 --weekdays Mon,Sat,Sun --datestop 2038-01-19T03:14:07 --contiguous",
			" TIME from 04:05:00 to 01:02:03 on Mon,Sat,Sun UTC contiguous"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s:\n %q\n %q\nwant\n %q\n %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	for _, rule := range []string{
		"-m time --weekdays 0", "-m time --weekdays Xy", "-m time --monthdays 32", "-m time --timestart 24:00",
		"-m time --datestart 1969", "-m time --timestart 1:00 --timestop 2:00 --contiguous", "-m time --utc --kerneltz",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed", rule)
		}
	}
}

func TestTimeMatch(t *testing.T) {
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	at := func(s string) *Ctx {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return sfCtx(p, LocalIn, tm.UnixNano())
	}
	for _, tc := range []struct {
		rule, when string
		want       bool
	}{
		{"-m time --timestart 08:00 --timestop 17:00 --weekdays Mon,Tue,Wed,Thu,Fri", "2025-06-02T09:30:00Z", true},  // a Monday
		{"-m time --timestart 08:00 --timestop 17:00 --weekdays Mon,Tue,Wed,Thu,Fri", "2025-06-01T09:30:00Z", false}, // Sunday
		{"-m time --timestart 08:00 --timestop 17:00", "2025-06-02T17:00:01Z", false},
		{"-m time --timestart 23:00 --timestop 01:00 --weekdays Mon", "2025-06-03T00:30:00Z", false},
		{"-m time --timestart 23:00 --timestop 01:00 --weekdays Mon --contiguous", "2025-06-03T00:30:00Z", true},
		{"-m time --monthdays 1,15", "2025-06-15T12:00:00Z", true},
		{"-m time --monthdays 1,15", "2025-06-16T12:00:00Z", false},
		{"-m time --datestart 2025-06-01 --datestop 2025-06-30", "2025-07-01T00:00:01Z", false},
	} {
		_, mt := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		c := at(tc.when)
		if got := mt.Match(c); got != tc.want {
			t.Errorf("%s at %s: %v (%s)", tc.rule, tc.when, got, mt.(Explainer).Explain(c, got))
		}
	}
	_, mt := sfMatch(t, "-m time --timestart 08:00 --timestop 17:00 --monthdays 1,2", IPv4, "filter", "INPUT", nil)
	c := at("2025-06-02T09:30:00Z")
	sfNoAlloc(t, "time", func() { mt.Match(c) })
}
