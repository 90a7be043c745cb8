package replay

// Interval is what one time bucket of the capture did (--interval):
// packets per verdict and the counters that moved, as differences.
type Interval struct {
	Start    int64            `json:"start_ns"` // the bucket's start, nanoseconds since the epoch
	Verdicts map[string]Count `json:"verdicts"`
	Counters []RuleCount      `json:"counters"` // rules and policies whose counters moved, by how much
}

// intervals cuts the replay into buckets of a fixed length.
type intervals struct {
	length   int64
	start    int64 // the current bucket's start; 0 before the first packet
	counters map[RuleRef]RuleCount
	verdicts map[string]Count
	done     []Interval
}

// advance closes the buckets that end at or before now.
func (iv *intervals) advance(r *Replayer, now int64) {
	if iv.length <= 0 {
		return
	}
	if iv.start == 0 {
		iv.start = now
		iv.snapshot(r)
		return
	}
	if now < iv.start+iv.length {
		return
	}
	iv.close(r)
	// Buckets without packets are left out; the next starts at the
	// bucket boundary the packet falls in.
	iv.start += (now - iv.start) / iv.length * iv.length
}

// close records the current bucket.
func (iv *intervals) close(r *Replayer) {
	cur := Interval{Start: iv.start, Verdicts: map[string]Count{}}
	for v, c := range r.rep.Verdicts {
		if d := (Count{c.Packets - iv.verdicts[v].Packets, c.Bytes - iv.verdicts[v].Bytes}); d.Packets > 0 {
			cur.Verdicts[v] = d
		}
	}
	for _, c := range r.counters() {
		p := iv.counters[c.RuleRef]
		if c.Packets != p.Packets {
			d := c
			d.Packets, d.Bytes = c.Packets-p.Packets, c.Bytes-p.Bytes
			cur.Counters = append(cur.Counters, d)
		}
	}
	if len(cur.Verdicts) > 0 {
		iv.done = append(iv.done, cur)
	}
	iv.snapshot(r)
}

func (iv *intervals) snapshot(r *Replayer) {
	iv.counters = map[RuleRef]RuleCount{}
	for _, c := range r.counters() {
		iv.counters[c.RuleRef] = c
	}
	iv.verdicts = map[string]Count{}
	for v, c := range r.rep.Verdicts {
		iv.verdicts[v] = *c
	}
}
