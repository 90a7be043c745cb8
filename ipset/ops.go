package ipset

import (
	"strconv"
	"strings"
)

// parseElemOpts reads the options after an element: timeout, packets,
// bytes, comment, skbmark, skbprio, skbqueue, nomatch, and for list:set
// before/after NAME. Each needs the set to have the extension.
func (d *data) parseElemOpts(opts []string, cmd cmdKind) (*elemExt, error) {
	x := &elemExt{}
	for i := 0; i < len(opts); i++ {
		o := strings.TrimLeft(opts[i], "-")
		arg := ""
		switch o {
		case "nomatch":
			if !d.typ.nomatchOK() {
				return nil, &Error{Msg: "Unknown argument: `" + opts[i] + "'", Usage: true}
			}
			x.nomatch = true
			continue
		case "timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue", "before", "after":
			if i+1 >= len(opts) {
				return nil, &Error{Msg: "Syntax error: option " + o + " requires an argument", Usage: true}
			}
			i++
			arg = opts[i]
		default:
			return nil, &Error{Msg: "Unknown argument: `" + opts[i] + "'", Usage: true}
		}
		if cmd != cmdAdd && o != "before" && o != "after" {
			return nil, &Error{Msg: "Unknown argument: `" + opts[i-1] + "'", Usage: true}
		}
		switch o {
		case "timeout":
			if !d.withTO {
				return nil, errf("Timeout cannot be used: set was created without timeout support")
			}
			v, ok := parseUint(arg, 32)
			if !ok || v > maxTimeout {
				return nil, errSyntax("cannot parse '%s' as timeout value", arg)
			}
			x.timeout, x.hasTimeout = uint32(v), true
		case "packets", "bytes":
			if !d.counters {
				return nil, errf("Packet/byte counters cannot be used: set was created without counter support")
			}
			v, err := strconv.ParseUint(arg, 10, 64)
			if err != nil {
				return nil, errSyntax("cannot parse '%s' as a counter value", arg)
			}
			if o == "packets" {
				x.packets, x.hasPackets = v, true
			} else {
				x.bytes, x.hasBytes = v, true
			}
		case "comment":
			if !d.comment {
				return nil, errf("Comment cannot be used: set was created without comment support")
			}
			if len(arg) > 255 {
				return nil, errSyntax("Comment is longer than the maximum allowed 255 characters")
			}
			// ipset unescapes "\\," in comments
			x.comment, x.hasComment = strings.ReplaceAll(arg, "\\,", ","), true
		case "skbmark", "skbprio", "skbqueue":
			if !d.skbinfo {
				return nil, errf("Skbinfo mapping cannot be used: set was created without skbinfo support")
			}
			x.hasSkb = true
			if err := x.parseSkb(o, arg); err != nil {
				return nil, err
			}
		case "before", "after":
			if d.typ.store != listStore {
				return nil, &Error{Msg: "Unknown argument: `" + opts[i-1] + "'", Usage: true}
			}
			if o == "before" {
				x.before = arg
			} else {
				x.after = arg
			}
		}
	}
	return x, nil
}

func (x *elemExt) parseSkb(o, arg string) error {
	switch o {
	case "skbmark":
		m, mask := arg, "0xffffffff"
		if i := strings.IndexByte(arg, '/'); i >= 0 {
			m, mask = arg[:i], arg[i+1:]
		}
		v, ok1 := parseUint(m, 32)
		w, ok2 := parseUint(mask, 32)
		if !ok1 || !ok2 {
			return errSyntax("Invalid skbmark format")
		}
		x.skbmark, x.skbmask = uint32(v), uint32(w)
	case "skbprio":
		i := strings.IndexByte(arg, ':')
		if i < 0 {
			return errSyntax("Invalid skbprio format, it should be:MAJOR:MINOR (see manpage)")
		}
		ma, e1 := strconv.ParseUint(arg[:i], 16, 16)
		mi, e2 := strconv.ParseUint(arg[i+1:], 16, 16)
		if e1 != nil || e2 != nil {
			return errSyntax("Invalid skbprio format, it should be:MAJOR:MINOR (see manpage)")
		}
		x.skbprio = uint32(ma)<<16 | uint32(mi)
	case "skbqueue":
		v, ok := parseUint(arg, 16)
		if !ok {
			return errSyntax("Invalid skbqueue value %s", arg)
		}
		x.skbqueue = uint16(v)
	}
	return nil
}

// inRange checks a bitmap's key against its range.
func (d *data) inRange(k Key) bool {
	switch d.typ.name {
	case "bitmap:port":
		return k.Port >= d.pfirst && k.Port <= d.plast
	case "bitmap:ip", "bitmap:ip,mac":
		return cmp16(k.A1, d.first) >= 0 && cmp16(k.A1, d.last) <= 0
	}
	return true
}

// Add adds an element (ipset add SET ELEM [options]).
func (r *Registry) Add(name, elem string, opts []string, exist bool, now int64) error {
	s, err := r.set(name)
	if err != nil {
		return err
	}
	d := s.d
	x, err := d.parseElemOpts(opts, cmdAdd)
	if err != nil {
		return err
	}
	if d.typ.store == listStore {
		return r.listAdd(s, splitListElem(elem, x), x, exist, now)
	}
	specs, err := d.parseElem(elem, cmdAdd, x)
	if err != nil {
		return err
	}
	if err := d.checkRange(specs); err != nil {
		return err
	}
	return d.forEach(specs, cmdAdd, func(k Key) error {
		return d.addKey(k, x, now, exist)
	})
}

// checkRange refuses, before anything is added, an element of a bitmap
// that reaches beyond the set's range.
func (d *data) checkRange(specs []dimSpec) error {
	if d.typ.store != bitmapStore {
		return nil
	}
	var lo, hi Key
	if d.typ.name == "bitmap:port" {
		lo.Port, hi.Port = specs[0].port.from, specs[0].port.to
	} else {
		lo.A1, hi.A1 = specs[0].ip.from, specs[0].ip.to
		if d.hasMask {
			lo.A1 = andMask(lo.A1, d.mask)
		}
	}
	if !d.inRange(lo) || !d.inRange(hi) {
		return errOutRange
	}
	return nil
}

// Del deletes an element.
func (r *Registry) Del(name, elem string, opts []string, exist bool, now int64) error {
	s, err := r.set(name)
	if err != nil {
		return err
	}
	d := s.d
	x, err := d.parseElemOpts(opts, cmdDel)
	if err != nil {
		return err
	}
	if d.typ.store == listStore {
		return r.listDel(s, splitListElem(elem, x), x, exist, now)
	}
	specs, err := d.parseElem(elem, cmdDel, x)
	if err != nil {
		return err
	}
	if err := d.checkRange(specs); err != nil {
		return err
	}
	return d.forEach(specs, cmdDel, func(k Key) error {
		if d.typ.name == "bitmap:ip,mac" && x.hasMAC {
			if e, ok := d.get(k); ok && !e.unfilled && e.mac != x.mac {
				if exist {
					return nil
				}
				return errNotAdded
			}
		}
		return d.delKey(k, now, exist)
	})
}

// Test reports whether an element is in a set (ipset test): nil if it
// is, an error saying why not otherwise. Testing with nomatch asks
// whether the element is in the set as a nomatch element.
func (r *Registry) Test(name, elem string, opts []string, now int64) (bool, error) {
	s, err := r.set(name)
	if err != nil {
		return false, err
	}
	d := s.d
	wantNomatch := false
	var rest []string
	for _, o := range opts {
		if strings.TrimLeft(o, "-") == "nomatch" && d.typ.nomatchOK() {
			wantNomatch = true
			continue
		}
		rest = append(rest, o)
	}
	x, err := d.parseElemOpts(rest, cmdTest)
	if err != nil {
		return false, err
	}
	if d.typ.store == listStore {
		return r.listTest(s, splitListElem(elem, x), x, now)
	}
	specs, err := d.parseElem(elem, cmdTest, x)
	if err != nil {
		return false, err
	}
	if err := d.checkRange(specs); err != nil {
		return false, err
	}
	var res int
	err = d.forEach(specs, cmdTest, func(k Key) error {
		if d.typ.name == "bitmap:ip,mac" {
			e, ok := d.get(k)
			switch {
			case !ok || d.expired(&e, now):
				res = NoMatch
			case e.unfilled || !x.hasMAC || e.mac == x.mac:
				res = Matched
			}
			return nil
		}
		if err := d.zeroElem(k); err != nil {
			return err
		}
		res = d.lookup(k, now, nil, 0, 0).Result
		return nil
	})
	if err != nil {
		return false, err
	}
	if wantNomatch {
		return res == Nomatch, nil
	}
	return res == Matched || res == needFill, nil
}

// list:set

// splitListElem reads list:set's NAME,before|after,NAME spelling.
func splitListElem(elem string, x *elemExt) string {
	parts := strings.Split(elem, ",")
	if len(parts) == 3 {
		switch parts[1] {
		case "before":
			x.before = parts[2]
			return parts[0]
		case "after":
			x.after = parts[2]
			return parts[0]
		}
	}
	return elem
}

func (r *Registry) memberIndex(d *data, name string, now int64) int {
	for i, m := range d.list {
		if m.set.name == name && !d.expired(&m.e, now) {
			return i
		}
	}
	return -1
}

func (r *Registry) listAdd(s *Set, elem string, x *elemExt, exist bool, now int64) error {
	d := s.d
	d.gc(now)
	m := r.Get(elem)
	if m == nil {
		return errf("Set to be added/deleted/tested as element does not exist.")
	}
	if m.d.typ.store == listStore {
		return errf("Sets with list:set type cannot be added to the set.")
	}
	pos := len(d.list)
	if x.before != "" || x.after != "" {
		ref := x.before + x.after
		j := r.memberIndex(d, ref, now)
		if j < 0 {
			if r.Get(ref) == nil {
				return errf("Set to be added/deleted/tested as element does not exist.")
			}
			return errf("Reference set does not exist in the list")
		}
		pos = j
		if x.after != "" {
			pos = j + 1
		}
	}
	if i := r.memberIndex(d, elem, now); i >= 0 {
		if !exist {
			return errExist
		}
		d.setExt(&d.list[i].e, x, now)
		return nil
	}
	// The size is not enforced: this kernel's list:set takes members
	// beyond it (probed), its size only printed.
	var e entry
	d.setExt(&e, x, now)
	d.list = append(d.list, member{})
	copy(d.list[pos+1:], d.list[pos:])
	d.list[pos] = member{set: m, e: e}
	m.refs++
	return nil
}

func (r *Registry) listDel(s *Set, elem string, x *elemExt, exist bool, now int64) error {
	d := s.d
	d.gc(now)
	if r.Get(elem) == nil {
		return errf("Set to be added/deleted/tested as element does not exist.")
	}
	i := r.memberIndex(d, elem, now)
	if i >= 0 && (x.before != "" || x.after != "") {
		if ok, _ := r.positionOK(d, i, x, now); !ok {
			i = -1
		}
	}
	if i < 0 {
		if exist {
			return nil
		}
		return errNotAdded
	}
	d.list[i].set.refs--
	d.list = append(d.list[:i], d.list[i+1:]...)
	return nil
}

func (r *Registry) positionOK(d *data, i int, x *elemExt, now int64) (bool, error) {
	if x.before != "" {
		if r.Get(x.before) == nil {
			return false, errf("Set to be added/deleted/tested as element does not exist.")
		}
		return i+1 < len(d.list) && d.list[i+1].set.name == x.before, nil
	}
	if r.Get(x.after) == nil {
		return false, errf("Set to be added/deleted/tested as element does not exist.")
	}
	return i > 0 && d.list[i-1].set.name == x.after, nil
}

func (r *Registry) listTest(s *Set, elem string, x *elemExt, now int64) (bool, error) {
	d := s.d
	if r.Get(elem) == nil {
		return false, errf("Set to be added/deleted/tested as element does not exist.")
	}
	i := r.memberIndex(d, elem, now)
	if i < 0 {
		return false, nil
	}
	if x.before != "" || x.after != "" {
		return r.positionOK(d, i, x, now)
	}
	return true, nil
}
