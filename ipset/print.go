package ipset

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// header is the set's "Header:" (and the create line's options) as
// ipset 7.17 prints them.
func (d *data) header() string {
	var b strings.Builder
	w := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	maskStr := func() string {
		if d.isBitmask {
			if d.family == Inet {
				return "bitmask " + netip.AddrFrom4([4]byte(d.mask[:4])).String()
			}
			return "bitmask " + netip.AddrFrom16(d.mask).String()
		}
		return "netmask " + strconv.Itoa(int(d.netmask))
	}
	switch d.typ.store {
	case bitmapStore:
		if d.typ.name == "bitmap:port" {
			w(fmt.Sprintf("range %d-%d", d.pfirst, d.plast))
		} else {
			w("range " + addrString(d.first, Inet) + "-" + addrString(d.last, Inet))
		}
		if d.hasMask {
			w(maskStr())
		}
	case listStore:
		w("size " + strconv.Itoa(int(d.size)))
	case hashStore:
		if d.family != FamilyNone {
			w("family " + d.family.String())
		}
		if d.typ.hasDim(dimMark) {
			w(fmt.Sprintf("markmask 0x%08x", d.markmask))
		}
		w("hashsize " + strconv.Itoa(int(d.hashsize)))
		w("maxelem " + strconv.Itoa(int(d.maxelem)))
		if d.hasMask && !d.typ.maskAfterInitval {
			w(maskStr())
		}
	}
	if d.withTO {
		w("timeout " + strconv.Itoa(int(d.timeout)))
	}
	if d.counters {
		w("counters")
	}
	if d.comment {
		w("comment")
	}
	if d.skbinfo {
		w("skbinfo")
	}
	if d.typ.store == hashStore {
		w("bucketsize " + strconv.Itoa(int(d.bucketsize)))
		w(fmt.Sprintf("initval 0x%08x", d.initval))
		if d.hasMask && d.typ.maskAfterInitval {
			w(maskStr())
		}
	}
	return b.String()
}

// keyString prints an element's dimensions.
func (d *data) keyString(k Key, e *entry) string {
	var parts []string
	ai := 0
	for _, x := range d.typ.dims {
		switch x {
		case dimIP, dimNet:
			a, c := k.A1, k.C1
			if ai == 1 {
				a, c = k.A2, k.C2
			}
			ai++
			s := addrString(a, d.family)
			if x == dimNet && c != hostLen(d.family) {
				s += "/" + strconv.Itoa(int(c))
			}
			parts = append(parts, s)
		case dimPort:
			if d.typ.store == bitmapStore {
				parts = append(parts, strconv.Itoa(int(k.Port)))
			} else {
				parts = append(parts, portString(k.Proto, k.Port))
			}
		case dimMAC:
			if d.typ.store == bitmapStore {
				if e != nil && !e.unfilled {
					parts = append(parts, macString(e.mac))
				}
			} else {
				parts = append(parts, macString(k.MAC))
			}
		case dimMark:
			parts = append(parts, fmt.Sprintf("0x%08x", k.Mark))
		case dimIface:
			s := ifaceString(k.Iface)
			if k.Phys {
				s = "physdev:" + s
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// remaining is the seconds left of a timeout as the kernel reports them:
// rounded down, and at least 1 while the element lives.
func remaining(e *entry, now int64) int64 {
	if e.unfilled {
		return int64(e.pending)
	}
	if e.expires == 0 {
		return 0
	}
	t := (e.expires - now) / 1e9
	if t < 1 {
		t = 1
	}
	return t
}

// extString prints an element's extensions in ipset's order.
func (d *data) extString(e *entry, now int64, xml bool) string {
	var b strings.Builder
	put := func(name, val string) {
		if xml {
			if val == "" {
				fmt.Fprintf(&b, "<%s/>", name)
			} else {
				fmt.Fprintf(&b, "<%s>%s</%s>", name, val, name)
			}
			return
		}
		b.WriteString(" " + name)
		if val != "" {
			b.WriteString(" " + val)
		}
	}
	if d.withTO {
		put("timeout", strconv.FormatInt(remaining(e, now), 10))
	}
	if e.nomatch {
		put("nomatch", "")
	}
	if d.counters {
		put("packets", strconv.FormatUint(e.packets, 10))
		put("bytes", strconv.FormatUint(e.bytes, 10))
	}
	if d.comment && e.comment != "" {
		if xml {
			put("comment", "\""+xmlEscape(e.comment)+"\"")
		} else {
			put("comment", "\""+e.comment+"\"")
		}
	}
	if d.skbinfo {
		if e.skbmark != 0 || e.skbmask != 0 {
			if e.skbmask == 0xffffffff {
				put("skbmark", fmt.Sprintf("0x%x", e.skbmark))
			} else {
				put("skbmark", fmt.Sprintf("0x%x/0x%x", e.skbmark, e.skbmask))
			}
		}
		if e.skbprio != 0 {
			put("skbprio", fmt.Sprintf("%x:%x", e.skbprio>>16, e.skbprio&0xffff))
		}
		if e.skbqueue != 0 {
			put("skbqueue", strconv.Itoa(int(e.skbqueue)))
		}
	}
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// members lists the element strings (element, then extensions) in
// listing order: sorted for hash and bitmap sets, in list order for
// list:set.
func (d *data) members(now int64, xml bool) []string {
	var out []string
	if d.typ.store == listStore {
		for i := range d.list {
			m := &d.list[i]
			if d.expired(&m.e, now) {
				continue
			}
			if xml {
				out = append(out, "<member><elem>"+xmlEscape(m.set.name)+"</elem>"+d.extString(&m.e, now, true)+"</member>")
			} else {
				out = append(out, m.set.name+d.extString(&m.e, now, false))
			}
		}
		return out
	}
	for _, i := range d.listed(now) {
		k, e := d.t.keys[i], d.t.ents[i]
		if xml {
			out = append(out, "<member><elem>"+xmlEscape(d.keyString(k, &e))+"</elem>"+d.extString(&e, now, true)+"</member>")
		} else {
			out = append(out, d.keyString(k, &e)+d.extString(&e, now, false))
		}
	}
	return out
}

// memSize is the "Size in memory" ipsift reports: an estimate of its own
// memory for the set (the kernel's figure is of its own structures).
func (d *data) memSize() int {
	const perElem = 120
	return 200 + d.t.live*perElem + len(d.list)*40
}

// Output formats of ipset list.
const (
	OutPlain = iota
	OutSave
	OutXML
)

// ListOpts are ipset list's options.
type ListOpts struct {
	Format int
	Terse  bool
	Names  bool
}

// List writes sets as ipset list does; name "" lists every set.
func (r *Registry) List(w io.Writer, name string, o ListOpts, now int64) error {
	var sets []*Set
	if name != "" {
		s, err := r.set(name)
		if err != nil {
			return err
		}
		sets = []*Set{s}
	} else {
		// the kernel dumps list:set sets after all others
		// (IPSET_DUMP_LAST), so that a restore creates their members first
		all := r.Sets()
		for _, last := range []bool{false, true} {
			for _, s := range all {
				if (s.d.typ.store == listStore) == last {
					sets = append(sets, s)
				}
			}
		}
	}
	if o.Names {
		for _, s := range sets {
			fmt.Fprintln(w, s.name)
		}
		return nil
	}
	switch o.Format {
	case OutSave:
		for _, s := range sets {
			r.saveSet(w, s, now, o.Terse)
		}
	case OutXML:
		fmt.Fprintln(w, "<ipsets>")
		for _, s := range sets {
			s.d.gc(now)
			d := s.d
			fmt.Fprintf(w, "<ipset name=\"%s\">\n<type>%s</type>\n<revision>%d</revision>\n<header>%s\n<memsize>%d</memsize>\n<references>%d</references>\n<numentries>%d</numentries>\n</header>\n",
				xmlEscape(s.name), d.typ.name, d.typ.rev, d.xmlHeader(), d.memSize(), s.refs, d.count(now))
			if !o.Terse {
				fmt.Fprintln(w, "<members>")
				for _, m := range d.members(now, true) {
					fmt.Fprintln(w, m)
				}
				fmt.Fprintln(w, "</members>")
			}
			fmt.Fprintln(w, "</ipset>")
		}
		fmt.Fprintln(w, "</ipsets>")
	default:
		for i, s := range sets {
			s.d.gc(now)
			d := s.d
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Name: %s\nType: %s\nRevision: %d\nHeader: %s\nSize in memory: %d\nReferences: %d\nNumber of entries: %d",
				s.name, d.typ.name, d.typ.rev, d.header(), d.memSize(), s.refs, d.count(now))
			if o.Terse {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprint(w, "\nMembers:\n")
			for _, m := range d.members(now, false) {
				fmt.Fprintln(w, m)
			}
		}
	}
	return nil
}

// xmlHeader is the header as ipset's XML output has it: each option an
// element.
func (d *data) xmlHeader() string {
	f := strings.Fields(d.header())
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		name := f[i]
		switch name {
		case "counters", "comment", "skbinfo", "forceadd":
			fmt.Fprintf(&b, "<%s/>", name)
		default:
			if i+1 < len(f) {
				fmt.Fprintf(&b, "<%s>%s</%s>", name, f[i+1], name)
				i++
			}
		}
	}
	return b.String()
}

func (r *Registry) saveSet(w io.Writer, s *Set, now int64, terse bool) {
	s.d.gc(now)
	fmt.Fprintf(w, "create %s %s %s\n", s.name, s.d.typ.name, s.d.header())
	if terse {
		return
	}
	for _, m := range s.d.members(now, false) {
		fmt.Fprintf(w, "add %s %s\n", s.name, m)
	}
}

// Save writes sets as ipset save does; name "" saves every set.
func (r *Registry) Save(w io.Writer, name string, now int64) error {
	return r.List(w, name, ListOpts{Format: OutSave}, now)
}
