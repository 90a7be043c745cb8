package classify

// Cost replays Next(k, from) and reports what it did: the tables it
// probed and the rule entries it compared. For benchmarks and tuning;
// it must follow Next step by step.
func (c *Classifier) Cost(k *Key, from int) (tables, entries int) {
	best := c.n
	f := int32(from)
	for ti := range c.tables {
		t := &c.tables[ti]
		if t.minIdx >= best {
			break
		}
		if t.maxIdx < f {
			continue
		}
		tables++
		k1, k2 := t.keys(k)
		h := hash(k1, k2)
		if fb := h >> t.fshift; t.filter[fb>>6]&(1<<(fb&63)) == 0 {
			continue
		}
		m := uint64(len(t.slots) - 1)
		for i := h >> t.shift; ; i = (i + 1) & m {
			s := &t.slots[i]
			if s.end == 0 {
				break
			}
			if s.k1 != k1 || s.k2 != k2 {
				continue
			}
			es := t.entries[s.start:s.end]
			for j := range es {
				e := &es[j]
				if e.idx >= best {
					break
				}
				entries++
				if e.idx >= f && e.match(k) {
					best = e.idx
					break
				}
			}
			break
		}
	}
	return
}
