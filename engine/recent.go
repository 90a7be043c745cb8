package engine

import "github.com/ipsift/ipsift/ext"

// LoadRecent fills the recent list name, which a rule of the loaded
// rules uses, with entries of a /proc/net/xt_recent listing written
// when the kernel's jiffies were dumpJiffies; now is the engine-clock
// time that moment stands for (a replay's first packet). It returns how
// many addresses the list holds (ext.LoadRecent).
func (e *Engine) LoadRecent(name string, entries []ext.RecentEntry, dumpJiffies uint64, now int64) (int, error) {
	hz := e.cfg.HZ
	if hz == 0 {
		hz = 250
	}
	return ext.LoadRecent(e.store, name, entries, ext.Jiffies(now, hz)-dumpJiffies)
}
