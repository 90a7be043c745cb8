package ipset

// Sets shared by concurrent users (the live datapath: the packet loop
// matches and adds while ipsift ctl edits and lists, as the kernel's
// packet path and ipset commands share its sets) lock the registry's
// mutex around every packet operation; commands run with the registry
// locked by their caller (Lock, Unlock). A registry that is not
// Concurrent (check, trace, the simulation: one goroutine) takes no
// lock.

// Concurrent makes the registry's sets lock on every packet operation,
// from now on.
func (r *Registry) Concurrent() {
	r.concurrent = true
	for _, s := range r.slots {
		if s != nil {
			s.mu = &r.mu
		}
	}
}

// Lock and Unlock hold the registry against packet operations while a
// command (Cmd.Run, Cmd.Restore, Merge, references) changes or reads it.
func (r *Registry) Lock()   { r.mu.Lock() }
func (r *Registry) Unlock() { r.mu.Unlock() }

func (s *Set) lock() {
	if s.mu != nil {
		s.mu.Lock()
	}
}

func (s *Set) unlock() {
	if s.mu != nil {
		s.mu.Unlock()
	}
}

// MatchPacket tests the packet against the set as the kernel's
// ip_set_test does: a rule with fewer direction flags than the set has
// dimensions, or of the other family, never matches; the element's
// counters are raised by the packet unless o says not to; a list:set
// tries its members in order. Hit.Result is Matched, Nomatch (an
// element flagged nomatch decided) or NoMatch. It does not allocate.
func (s *Set) MatchPacket(p *PacketInfo, dirs uint32, dim int, now int64, o *PacketOpts) Hit {
	s.lock()
	defer s.unlock()
	return s.matchPacket(p, dirs, dim, now, o)
}

// AddPacket adds the packet's element (-j SET --add-set): with the
// given timeout or the set's, refreshing an existing element only with
// exist. A list:set adds to its first member that takes it. It reports
// whether the set changed.
func (s *Set) AddPacket(p *PacketInfo, dirs uint32, dim int, now int64, timeout uint32, hasTimeout, exist bool) bool {
	s.lock()
	defer s.unlock()
	return s.addPacket(p, dirs, dim, now, timeout, hasTimeout, exist)
}

// DelPacket deletes the packet's element (-j SET --del-set); a list:set
// deletes from its first member that holds it.
func (s *Set) DelPacket(p *PacketInfo, dirs uint32, dim int, now int64) bool {
	s.lock()
	defer s.unlock()
	return s.delPacket(p, dirs, dim, now)
}

// Lookup tests a key built from a packet (network dimensions at full
// length, the ones the set masks not yet masked) as the kernel's kadt
// test does, raising the element's counters by one packet of pktLen
// bytes unless o says not to. It does not allocate.
func (s *Set) Lookup(k Key, now int64, o *MatchOpts, pktLen uint64) Hit {
	s.lock()
	defer s.unlock()
	return s.lookup(k, now, o, pktLen)
}

// ElemString prints the element a Hit found, as ipset prints it.
func (s *Set) ElemString(k Key) string {
	s.lock()
	defer s.unlock()
	return s.elemString(k)
}

// KeyString prints the key a packet gives for the set, for traces.
func (s *Set) KeyString(p *PacketInfo, dirs uint32) string {
	s.lock()
	defer s.unlock()
	return s.keyString(p, dirs)
}

// Merge moves into r the sets of from whose names r does not have, as
// a reload of a file brings new sets and leaves the ones that exist as
// they are (the kernel's sets live apart from the rules: reloading
// rules does not touch them). A moved list:set's members are r's sets
// of the same names. It returns the names moved; the caller holds r's
// lock when r is Concurrent.
func (r *Registry) Merge(from *Registry) []string {
	var moved []string
	for _, s := range from.Sets() {
		if r.Get(s.name) != nil {
			continue
		}
		ns := &Set{name: s.name, d: s.d}
		if r.concurrent {
			ns.mu = &r.mu
		}
		r.insert(ns)
		moved = append(moved, s.name)
	}
	for _, name := range moved {
		d := r.Get(name).d
		for i := range d.list {
			m := r.Get(d.list[i].set.name)
			d.list[i].set = m
			m.refs++
		}
	}
	return moved
}

// Remove destroys the named sets whatever their references (undoing a
// Merge whose rules were refused).
func (r *Registry) Remove(names []string) {
	for _, name := range names {
		for i, s := range r.slots {
			if s != nil && s.name == name {
				for _, m := range s.d.list {
					m.set.refs--
				}
				r.slots[i] = nil
			}
		}
	}
}
