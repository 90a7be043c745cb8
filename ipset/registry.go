package ipset

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Registry holds the sets of one network namespace, in the kernel's
// index order (a new set takes the lowest free index; ipset list shows
// sets in that order).
type Registry struct {
	mu         sync.Mutex
	concurrent bool
	slots      []*Set
	// Initval, when set, gives every hash set created without an initval
	// option its initval (the kernel draws a random one): for tests that
	// compare listings byte for byte.
	Initval func() uint32
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Get finds a set by name.
func (r *Registry) Get(name string) *Set {
	for _, s := range r.slots {
		if s != nil && s.name == name {
			return s
		}
	}
	return nil
}

// Sets lists the sets in index order.
func (r *Registry) Sets() []*Set {
	var out []*Set
	for _, s := range r.slots {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func randomInitval() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// Create creates a set: create NAME TYPE [options]. With exist, creating
// a set that exists with the same type and options is no error.
func (r *Registry) Create(name, typeName string, opts []string, exist bool) error {
	if !validName(name) {
		return errSyntax("setname '%s' is longer than 31 characters", name)
	}
	t := lookupType(typeName)
	if t == nil {
		return errSyntax("unknown settype %s", typeName)
	}
	d, err := parseCreate(t, opts)
	if err != nil {
		return err
	}
	if d.typ.store == hashStore && d.initval == 0 {
		if r.Initval != nil {
			d.initval = r.Initval()
		} else {
			d.initval = randomInitval()
		}
	}
	if old := r.Get(name); old != nil {
		if exist && sameCreate(old.d, d) {
			return nil
		}
		return errf("Set cannot be created: set with the same name already exists")
	}
	s := &Set{name: name, d: d}
	if r.concurrent {
		s.mu = &r.mu
	}
	r.insert(s)
	return nil
}

// insert puts a new set at the lowest free index, as the kernel does.
func (r *Registry) insert(s *Set) {
	for i, x := range r.slots {
		if x == nil {
			r.slots[i] = s
			return
		}
	}
	r.slots = append(r.slots, s)
}

// sameCreate is the kernel's check for create -exist: same type, family
// and the options that shape the set.
func sameCreate(a, b *data) bool {
	return a.typ == b.typ && a.family == b.family && a.withTO == b.withTO && a.timeout == b.timeout &&
		a.counters == b.counters && a.comment == b.comment && a.skbinfo == b.skbinfo &&
		a.first == b.first && a.last == b.last && a.pfirst == b.pfirst && a.plast == b.plast &&
		a.mask == b.mask && a.maxelem == b.maxelem && a.markmask == b.markmask
}

func parseUint(s string, bitSize int) (uint64, bool) {
	v, err := strconv.ParseUint(s, 0, bitSize)
	return v, err == nil
}

// optUint reads the numeric value of the create option name, or gives
// ipset's error for it.
func optUint(arg, name string, bitSize int) (uint64, error) {
	v, ok := parseUint(arg, bitSize)
	if !ok {
		return 0, errSyntax("cannot parse '%s' as %s", arg, name)
	}
	return v, nil
}

// parseCreate reads the create options of a type.
func parseCreate(t *setType, opts []string) (*data, error) {
	fam := FamilyNone
	if t.hasFamily() || t.store == bitmapStore && t.name != "bitmap:port" {
		fam = Inet
	}
	d := newData(t, fam)
	var rangeSet, haveFrom, haveTo bool
	var from, to string
	need := func(i int, o string) (string, error) {
		if i+1 >= len(opts) {
			return "", &Error{Msg: "Syntax error: option " + o + " requires an argument", Usage: true}
		}
		return opts[i+1], nil
	}
	for i := 0; i < len(opts); i++ {
		o := strings.TrimLeft(opts[i], "-")
		allowed := map[string]int{
			"family": cFamily, "4": cFamily, "6": cFamily, "hashsize": cHashsize, "maxelem": cMaxelem,
			"netmask": cNetmask, "bitmask": cBitmask, "timeout": cTimeout, "counters": cCounters,
			"comment": cComment, "skbinfo": cSkbinfo, "forceadd": cForceadd, "bucketsize": cBucketsize,
			"initval": cInitval, "range": cRange, "from": cRange, "to": cRange, "network": cRange,
			"markmask": cMarkmask, "size": cSize, "probes": cHashsize, "resize": cHashsize, "gc": cTimeout,
		}[o]
		// ipset 4's range options are accepted and ignored by hash types
		if allowed == cRange && t.store == hashStore {
			allowed = t.opts
		}
		if allowed == 0 || t.opts&allowed == 0 {
			return nil, &Error{Msg: "Unknown argument: `" + opts[i] + "'", Usage: true}
		}
		var arg string
		var err error
		switch o {
		case "counters", "comment", "skbinfo", "forceadd", "4", "6":
		default:
			if arg, err = need(i, o); err != nil {
				return nil, err
			}
			i++
		}
		switch o {
		case "family":
			switch arg {
			case "inet", "ipv4":
				d.family = Inet
			case "inet6", "ipv6":
				d.family = Inet6
			default:
				return nil, errSyntax("unknown family %s", arg)
			}
		case "4":
			d.family = Inet
		case "6":
			d.family = Inet6
		case "hashsize":
			v, err := optUint(arg, "hashsize", 32)
			if err != nil {
				return nil, err
			}
			d.hashsize = uint32(v)
		case "probes", "resize", "gc":
			// options of ipset 4.x, accepted and ignored by ipset 7
		case "maxelem":
			v, err := optUint(arg, "maxelem", 32)
			if err != nil {
				return nil, err
			}
			d.maxelem = uint32(v)
		case "netmask":
			v, err := optUint(arg, "netmask", 8)
			if err != nil {
				return nil, err
			}
			d.netmask = uint8(v)
			d.hasMask = true
		case "bitmask":
			a, e := netip.ParseAddr(arg)
			if e != nil {
				return nil, errSyntax("cannot parse '%s' as bitmask", arg)
			}
			var m [16]byte
			if a.Is4() {
				b := a.As4()
				copy(m[:], b[:])
			} else {
				m = a.As16()
			}
			d.mask, d.hasMask, d.isBitmask = m, true, true
		case "timeout":
			v, ok := parseUint(arg, 32)
			if !ok || v > maxTimeout {
				return nil, errSyntax("cannot parse '%s' as timeout value", arg)
			}
			d.timeout, d.withTO = uint32(v), true
		case "counters":
			d.counters = true
		case "comment":
			d.comment = true
		case "skbinfo":
			d.skbinfo = true
		case "forceadd":
			d.forceadd = true
		case "bucketsize":
			v, err := optUint(arg, "bucketsize", 8)
			if err != nil {
				return nil, err
			}
			b := uint8(v)
			switch {
			case b < 2:
				b = 2
			case b > 12:
				b = 12
			case b%2 == 1:
				b++
			}
			d.bucketsize = b
		case "initval":
			v, err := optUint(arg, "initval", 32)
			if err != nil {
				return nil, err
			}
			d.initval = uint32(v)
		case "range", "network", "from", "to":
			if t.store == hashStore {
				continue
			}
		}
		switch o {
		case "range", "network":
			from, rangeSet = arg, true
		case "from":
			from, haveFrom = arg, true
		case "to":
			to, haveTo = arg, true
		case "markmask":
			v, ok := parseUint(arg, 32)
			if !ok || v == 0 {
				return nil, errSyntax("cannot parse '%s' as markmask", arg)
			}
			d.markmask = uint32(v)
		case "size":
			v, err := optUint(arg, "size", 32)
			if err != nil {
				return nil, err
			}
			d.size = uint32(v)
			if d.size < 4 {
				d.size = 4
			}
		}
	}
	d.hashsize = roundHashsize(d.hashsize)
	if d.isBitmask && d.netmask != 0 {
		return nil, errSyntax("Either netmask or bitmask is allowed, not both")
	}
	if haveFrom || haveTo {
		if !(haveFrom && haveTo) || rangeSet {
			return nil, &Error{Msg: "Syntax error: Missing mandatory argument: range", Usage: true}
		}
		from, rangeSet = from+"-"+to, true
	}
	if t.store == bitmapStore {
		if !rangeSet {
			return nil, &Error{Msg: "Syntax error: Missing mandatory argument: range", Usage: true}
		}
		if err := d.setRange(from); err != nil {
			return nil, err
		}
	}
	if d.hasMask && !d.isBitmask {
		hl := hostLen(d.family)
		if d.netmask == 0 || d.netmask > hl {
			return nil, errf("The value of the netmask parameter is invalid")
		}
		d.mask = masks[d.netmask]
		if d.netmask == hl {
			d.hasMask = false
		}
	}
	if d.hasMask && d.isBitmask && d.family == Inet && (d.mask[4] != 0 || d.typ.store != hashStore) {
		return nil, errf("The value of the bitmask parameter is invalid")
	}
	if d.typ.store == bitmapStore && d.typ.name == "bitmap:ip" && d.hasMask {
		// the range is aligned to the netmask, and holds at most 65536 blocks
		d.first = andMask(d.first, d.mask)
		d.last = orMask(d.last, d.mask)
		if (uint64(v4(d.last))-uint64(v4(d.first))+1)>>(32-d.netmask) > 65536 {
			return nil, errf("Range too big: the set can hold at most 65536 elements")
		}
	}
	return d, nil
}

// maxTimeout is the kernel's IPSET_MAX_TIMEOUT, in seconds.
const maxTimeout = (1<<31 - 1) / 1000

// setRange reads a bitmap's range: FROM-TO or IP/CIDR, or ports.
func (d *data) setRange(s string) error {
	if d.typ.name == "bitmap:port" {
		var from, to uint16
		if err := parsePortRange(s, &from, &to, true); err != nil {
			return err
		}
		d.pfirst, d.plast = from, to
		return nil
	}
	r, err := parseIPSpec(s, Inet, true)
	if err != nil {
		return err
	}
	if !r.isRange && r.cidr == 32 && !strings.Contains(s, "/") {
		return errSyntax("range must be FROM-TO or IP/CIDR: %s", s)
	}
	d.first, d.last = r.from, r.to
	n := uint64(v4(r.to)) - uint64(v4(r.from)) + 1
	if d.typ.name == "bitmap:ip" && d.hasMask && d.netmask < 32 {
		return nil // checked once the netmask is known
	}
	if n > 65536 {
		return errf("Range too big: the set can hold at most 65536 elements")
	}
	return nil
}

// set finds a set or says it does not exist.
func (r *Registry) set(name string) (*Set, error) {
	if s := r.Get(name); s != nil {
		return s, nil
	}
	return nil, errNoSet
}

// Destroy destroys a set, or with name "" every set (none if any is in
// use).
func (r *Registry) Destroy(name string) error {
	if name == "" {
		for _, s := range r.slots {
			if s != nil && s.refs > 0 {
				return errf("Set cannot be destroyed: it is in use by a kernel component")
			}
		}
		for _, s := range r.slots {
			if s != nil {
				s.d.flush()
			}
		}
		r.slots = nil
		return nil
	}
	s, err := r.set(name)
	if err != nil {
		return err
	}
	if s.refs > 0 {
		return errf("Set cannot be destroyed: it is in use by a kernel component")
	}
	s.d.flush()
	for i, x := range r.slots {
		if x == s {
			r.slots[i] = nil
		}
	}
	for len(r.slots) > 0 && r.slots[len(r.slots)-1] == nil {
		r.slots = r.slots[:len(r.slots)-1]
	}
	return nil
}

// Flush empties a set, or with name "" every set.
func (r *Registry) Flush(name string) error {
	if name == "" {
		for _, s := range r.slots {
			if s != nil {
				s.d.flush()
			}
		}
		return nil
	}
	s, err := r.set(name)
	if err != nil {
		return err
	}
	s.d.flush()
	return nil
}

// Rename renames a set not in use.
func (r *Registry) Rename(from, to string) error {
	s, err := r.set(from)
	if err != nil {
		return err
	}
	if !validName(to) {
		return errSyntax("setname '%s' is longer than 31 characters", to)
	}
	if r.Get(to) != nil {
		return errf("Set cannot be created: set with the same name already exists")
	}
	if s.refs > 0 {
		return errf("Set cannot be renamed: it is in use by a kernel component")
	}
	s.name = to
	return nil
}

// features is what the kernel compares for swap: the kinds of the
// dimensions and whether elements can be nomatch.
func (t *setType) features() string {
	var b strings.Builder
	ai := 0
	for _, x := range t.dims {
		switch x {
		case dimIP, dimNet:
			if ai == 0 {
				b.WriteString("ip,")
			} else {
				b.WriteString("ip2,")
			}
			ai++
		default:
			b.WriteString(strconv.Itoa(int(x)) + ",")
		}
	}
	if t.nomatchOK() {
		b.WriteString("nomatch")
	}
	return b.String()
}

// Swap exchanges the contents of two sets of the same features and
// family; names and references stay.
func (r *Registry) Swap(a, b string) error {
	sa, err := r.set(a)
	if err != nil {
		return err
	}
	sb, err := r.set(b)
	if err != nil {
		return &Error{Msg: "The second set with the given name does not exist", Code: errCodeNoSet}
	}
	if sa.d.typ.features() != sb.d.typ.features() || sa.d.family != sb.d.family {
		return errf("The sets cannot be swapped: their type does not match")
	}
	sa.d, sb.d = sb.d, sa.d
	return nil
}

// Shift moves every running timeout by delta nanoseconds: sets read at
// one clock (a file is read at 0) start running on another (the
// engine's).
func (r *Registry) Shift(delta int64) {
	for _, s := range r.slots {
		if s == nil {
			continue
		}
		d := s.d
		d.t.each(func(i int32) {
			if e := &d.t.ents[i]; e.expires != 0 {
				e.expires += delta
			}
		})
		for i := range d.list {
			if d.list[i].e.expires != 0 {
				d.list[i].e.expires += delta
			}
		}
	}
}
