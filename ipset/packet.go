package ipset

import "net/netip"

// PacketInfo is what a set lookup reads from a packet (the kernel's
// kadt functions read the skb): -m set and -j SET fill it without
// allocating.
type PacketInfo struct {
	Family   Family
	Src, Dst netip.Addr
	Proto    uint8
	// SrcPort and DstPort are the ports of TCP, UDP, SCTP and UDP-Lite;
	// for ICMP and ICMPv6 both are type<<8|code. HasPorts is false for a
	// later fragment or a header too short to read: the *,port types
	// then do not match.
	SrcPort, DstPort uint16
	HasPorts         bool
	SrcMAC           [6]byte
	HasMAC           bool // an Ethernet source is known (packets that came in)
	Mark             uint32
	InIface          string
	OutIface         string
	Len              uint64 // bytes the counters count
}

// Flags of a lookup from a packet (the -m set options).
type PacketOpts struct {
	MatchOpts
	SkipSubcounters bool // ! --update-subcounters: list:set members keep their counters
}

// key builds the set's key from the packet: dims (1-based bit i of dirs
// set: dimension i is the source). ok is false when the packet cannot
// give a dimension (no ports, no MAC, no interface).
func (d *data) key(p *PacketInfo, dirs uint32) (k Key, ok bool) {
	ai := 0
	for i, x := range d.typ.dims {
		src := dirs&(1<<(i+1)) != 0
		switch x {
		case dimIP, dimNet:
			a := p.Dst
			if src {
				a = p.Src
			}
			var b [16]byte
			if p.Family == Inet {
				v := a.As4()
				copy(b[:], v[:])
			} else {
				b = a.As16()
			}
			if ai == 0 {
				k.A1, k.C1 = b, hostLen(p.Family)
			} else {
				k.A2, k.C2 = b, hostLen(p.Family)
			}
			ai++
		case dimPort:
			if !p.HasPorts {
				return k, false
			}
			port := p.DstPort
			if src {
				port = p.SrcPort
			}
			if d.typ.store == bitmapStore {
				k.Port = port
				continue
			}
			k.Proto = p.Proto
			if withPorts(p.Proto) || p.Proto == protoICMP || p.Proto == protoICMPv6 {
				k.Port = port
			}
		case dimMAC:
			if !src || !p.HasMAC {
				return k, false
			}
			k.MAC = p.SrcMAC
		case dimMark:
			k.Mark = p.Mark
		case dimIface:
			name := p.OutIface
			if src {
				name = p.InIface
			}
			if name == "" || len(name) > 15 {
				return k, false
			}
			k.Iface = ifaceKey(name)
		}
	}
	return k, true
}

// matchPacket tests the packet against the set as the kernel's
// ip_set_test does: a rule with fewer direction flags than the set has
// dimensions, or of the other family, never matches; the element's
// counters are raised by the packet unless o says not to; a list:set
// tries its members in order. Hit.Result is Matched, Nomatch (an
// element flagged nomatch decided) or NoMatch. It does not allocate.
func (s *Set) matchPacket(p *PacketInfo, dirs uint32, dim int, now int64, o *PacketOpts) Hit {
	d := s.d
	if dim < len(d.typ.dims) || d.family != FamilyNone && d.family != p.Family {
		return Hit{}
	}
	if d.typ.store == listStore {
		return d.listMatch(p, dirs, dim, now, o)
	}
	k, ok := d.key(p, dirs)
	if !ok {
		return Hit{}
	}
	var mo *MatchOpts
	if o != nil {
		mo = &o.MatchOpts
	}
	if d.typ.store == bitmapStore {
		if d.hasMask {
			k.A1 = andMask(k.A1, d.mask)
		}
		if !d.inRange(k) {
			return Hit{}
		}
		if d.typ.name == "bitmap:ip,mac" {
			return d.ipmacMatch(k, p, now, mo)
		}
	}
	return s.lookup(k, now, mo, p.Len)
}

// ipmacMatch: the element's MAC must be the packet's source MAC; an
// element added without one takes the first packet's (and its timeout
// starts), as the kernel completes it.
func (d *data) ipmacMatch(k Key, p *PacketInfo, now int64, o *MatchOpts) Hit {
	i := d.find(&k)
	if i < 0 || d.expired(&d.t.ents[i], now) {
		return Hit{}
	}
	e := &d.t.ents[i]
	if e.unfilled {
		e.unfilled, e.mac = false, p.SrcMAC
		if e.pending != 0 {
			e.expires = now + int64(e.pending)*1e9
		}
	} else if e.mac != p.SrcMAC {
		return Hit{}
	}
	var h Hit
	h.Result = d.matchEntry(i, now, o, p.Len, 1, &h)
	return h
}

func (d *data) listMatch(p *PacketInfo, dirs uint32, dim int, now int64, o *PacketOpts) Hit {
	// the members' lookups get the rule's flags (list_set_ktest passes
	// its opt on): ! --update-counters skips their counters too, as
	// does ! --update-subcounters; their counters are never compared
	sub := PacketOpts{}
	if o != nil && (o.SkipCounterUpdate || o.SkipSubcounters) {
		sub.SkipCounterUpdate = true
	}
	for i := range d.list {
		m := &d.list[i]
		if d.expired(&m.e, now) {
			continue
		}
		h := m.set.matchPacket(p, dirs, dim, now, &sub)
		if h.Result != Matched {
			continue
		}
		if d.counters && (o == nil || !o.SkipCounterUpdate) {
			m.e.packets++
			m.e.bytes += p.Len
		}
		if o != nil && d.counters && !(cmpCounter(o.PacketsOp, m.e.packets, o.Packets) && cmpCounter(o.BytesOp, m.e.bytes, o.Bytes)) {
			continue
		}
		h.Member = m.set
		return h
	}
	return Hit{}
}

// elemString prints the element a Hit found, as ipset prints it.
func (s *Set) elemString(k Key) string {
	e, _ := s.d.get(k)
	return s.d.keyString(k, &e)
}

// keyString prints the key a packet gives for the set, for traces.
func (s *Set) keyString(p *PacketInfo, dirs uint32) string {
	if s.d.typ.store == listStore {
		return ""
	}
	k, ok := s.d.key(p, dirs)
	if !ok {
		return ""
	}
	return s.d.keyString(k, nil)
}

// HasNomatch reports whether the set's type has nomatch elements
// (--return-nomatch acts only on those).
func (s *Set) HasNomatch() bool { return s.d.typ.nomatchOK() }

// kadtKey is the key an -j SET adds or deletes: network dimensions take
// the longest prefix length the set holds (host length when it is
// empty), as the kernel's kadt functions do (INIT_CIDR).
func (d *data) kadtKey(p *PacketInfo, dirs uint32) (Key, bool) {
	k, ok := d.key(p, dirs)
	if !ok {
		return k, false
	}
	if d.typ.store == bitmapStore {
		if d.hasMask {
			k.A1 = andMask(k.A1, d.mask)
		}
		return k, d.inRange(k)
	}
	if d.hasMask && (d.typ.dims[0] == dimIP || d.typ.dims[0] == dimNet) {
		k.A1 = andMask(k.A1, d.mask)
	}
	for i := 0; i < 2; i++ {
		if !d.netAt[i] || len(d.nets[i].list) == 0 {
			continue
		}
		c := d.nets[i].list[0]
		if i == 0 {
			k.A1, k.C1 = andMask(k.A1, masks[c]), c
		} else {
			k.A2, k.C2 = andMask(k.A2, masks[c]), c
		}
	}
	return k, true
}

// addPacket adds the packet's element (-j SET --add-set): with the
// given timeout or the set's, refreshing an existing element only with
// exist. A list:set adds to its first member that takes it. It reports
// whether the set changed.
func (s *Set) addPacket(p *PacketInfo, dirs uint32, dim int, now int64, timeout uint32, hasTimeout, exist bool) bool {
	d := s.d
	s.last = lastChange{}
	if dim < len(d.typ.dims) || d.family != FamilyNone && d.family != p.Family {
		return false
	}
	if d.typ.store == listStore {
		for i := range d.list {
			m := d.list[i].set
			if !d.expired(&d.list[i].e, now) && m.addPacket(p, dirs, dim, now, timeout, hasTimeout, exist) {
				s.last, s.last.member = m.last, m
				return true
			}
		}
		return false
	}
	k, ok := d.kadtKey(p, dirs)
	if !ok {
		return false
	}
	s.last.key = k
	// the kernel's add from a packet (IP_SET_INIT_KEXT) gives the
	// element's counters that packet: a new element, and one an
	// --exist add overwrites, start at 1 packet of its length
	x := elemExt{timeout: timeout, hasTimeout: hasTimeout && d.withTO,
		packets: 1, hasPackets: true, bytes: p.Len, hasBytes: true}
	if d.typ.name == "bitmap:ip,mac" {
		if !p.HasMAC {
			return false
		}
		x.mac, x.hasMAC = p.SrcMAC, true
	}
	old, there := d.get(k)
	err := d.addKey(k, &x, now, exist)
	switch {
	case err == nil && there && !d.expired(&old, now):
		s.last.res = Refreshed
	case err == nil:
		s.last.res = Added
	case err == errExist:
		s.last.res = AlreadyThere
	case err == errHashFull:
		s.last.res = SetFull
	default:
		s.last.res = Refused
	}
	return err == nil
}

// delPacket deletes the packet's element (-j SET --del-set); a list:set
// deletes from its first member that holds it.
func (s *Set) delPacket(p *PacketInfo, dirs uint32, dim int, now int64) bool {
	d := s.d
	s.last = lastChange{}
	if dim < len(d.typ.dims) || d.family != FamilyNone && d.family != p.Family {
		return false
	}
	if d.typ.store == listStore {
		for i := range d.list {
			m := d.list[i].set
			if !d.expired(&d.list[i].e, now) && m.delPacket(p, dirs, dim, now) {
				s.last, s.last.member = m.last, m
				return true
			}
		}
		return false
	}
	k, ok := d.kadtKey(p, dirs)
	if !ok {
		return false
	}
	s.last.key = k
	if err := d.delKey(k, now, false); err != nil {
		s.last.res = NotThere
		return false
	}
	s.last.res = Deleted
	return true
}

// Change is what the last -j SET on a set did, for traces.
type Change uint8

// The changes.
const (
	NoElement    Change = iota // the packet gives no element of the set
	Added                      // a new element
	Refreshed                  // --exist: an element there got its timeout and counters anew
	AlreadyThere               // without --exist: the element is there, unchanged
	SetFull                    // maxelem reached (or its bucket, with forceadd)
	Refused                    // the set refused the element (zero valued, out of range)
	Deleted                    // the element was deleted
	NotThere                   // nothing to delete
)

// lastChange is the last -j SET's outcome on a set: kept without
// allocating, read by traces after the target ran (LastChange).
type lastChange struct {
	key    Key
	res    Change
	member *Set // for a list:set, the member that took the change
}

// LastChange says in words what the last AddPacket or DelPacket on the
// set did: which element it added or deleted, or why nothing changed.
func (s *Set) LastChange() string {
	s.lock()
	defer s.unlock()
	l, t := s.last, s
	pre := ""
	if l.member != nil {
		t, pre = l.member, "member "+l.member.name+": "
	}
	e := ""
	if l.res != NoElement {
		e = t.d.keyString(l.key, nil)
	}
	switch l.res {
	case Added:
		return pre + "added " + e + " to " + t.name
	case Refreshed:
		return pre + e + " was in " + t.name + ": its timeout and counters set anew (--exist)"
	case AlreadyThere:
		return pre + e + " is in " + t.name + " already: unchanged (no --exist)"
	case SetFull:
		return pre + t.name + " is full: " + e + " not added"
	case Refused:
		return pre + e + ": " + t.name + " cannot hold it, not added"
	case Deleted:
		return pre + "deleted " + e + " from " + t.name
	case NotThere:
		return pre + e + " is not in " + t.name + ": nothing deleted"
	}
	if s.d.typ.store == listStore {
		return "no member of " + s.name + " took the packet's element"
	}
	return "the packet gives no element of " + s.name + " (fewer directions than its dimensions, the other family, or no ports, MAC or interface)"
}
