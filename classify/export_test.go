package classify

func BucketSizes(c *Classifier) []int {
	var out []int
	for _, t := range c.tables {
		for _, s := range t.slots {
			if s.end != 0 {
				out = append(out, int(s.end-s.start))
			}
		}
	}
	return out
}
