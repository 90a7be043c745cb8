package ipset

import (
	"encoding/binary"
	"math/bits"

	"github.com/ipsift/ipsift/internal/jhash"
)

// The kernel's hash sets (ip_set_hash_gen.h) keep their elements in an
// array of buckets indexed by jhash2(element, initval) masked to the
// table size; a bucket is a small array that grows two slots at a time
// up to bucketsize, and a full one doubles the table (resize). Where an
// element sits decides what the kernel lists first and which element
// forceadd evicts, so ipsift keeps the same buckets: the same hash over
// the same bytes (the kernel's element struct, see hashWords), the same
// slot reuse on add, compaction on delete and gc, and resize order.
// Bitmap types use the same store (their listing is sorted instead).

// ahashInit is AHASH_INIT_SIZE: a bucket grows by this many slots.
const ahashInit = 2

// ahashMaxTuned is AHASH_MAX_TUNED, the largest bucketsize
// hash:net,iface may tune itself to.
const ahashMaxTuned = 64

// regionBits is HTABLE_REGION_BITS: maxelem is enforced per region of
// 1024 buckets before the whole set is counted.
const regionBits = 10

// hbucket is one bucket: slot i holds the element idx[i].i of the set's
// arena when bit i of used is set. pos is the first never-used slot.
type hbucket struct {
	pos  uint8
	used uint64
	idx  []slot // len is the bucket's size
}

// slot is an element's arena index and its full jhash, which a lookup
// compares before the key itself.
type slot struct {
	i  int32
	hv uint32
}

func (b *hbucket) isUsed(i int) bool { return b.used&(1<<uint(i)) != 0 }

// htable is a set's buckets and element arena.
type htable struct {
	bits      uint8
	buckets   []hbucket
	regions   []uint32 // elements per region
	regionMax uint32   // t->maxelem: maxelem per region
	keys      []Key    // arena: the element of each index
	ents      []entry
	free      []int32 // free arena indices
	live      int     // elements stored (expired ones included)
}

func numRegions(b uint8) int {
	if b < regionBits {
		return 1
	}
	return 1 << (b - regionBits)
}

func (t *htable) init(b uint8, maxelem uint32) {
	t.bits = b
	t.buckets = make([]hbucket, 1<<b)
	t.regions = make([]uint32, numRegions(b))
	t.regionMax = maxelem / uint32(len(t.regions))
}

func (t *htable) region(h uint32) int { return int(h % uint32(len(t.regions))) }

// alloc stores an element in the arena and returns its index.
func (t *htable) alloc(k Key, e entry) int32 {
	t.live++
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		t.keys[i], t.ents[i] = k, e
		return i
	}
	t.keys = append(t.keys, k)
	t.ents = append(t.ents, e)
	return int32(len(t.keys) - 1)
}

func (t *htable) release(i int32) {
	t.live--
	t.keys[i], t.ents[i] = Key{}, entry{}
	t.free = append(t.free, i)
}

// table returns the set's table, created at the set's hashsize on first
// use (after create has read every option and drawn initval).
func (d *data) table() *htable {
	if d.t.buckets == nil {
		d.layout = layoutOf(d.typ)
		d.t.init(uint8(bits.TrailingZeros32(roundHashsize(d.hashsize))), d.maxelem)
	}
	return &d.t
}

// Element layouts of the kernel's hash types (their struct mtype_elem).
const (
	layIP = iota
	layMAC
	layIPMAC
	layNet
	layNetNet
	layIPPort
	layNetPort
	layIPPortIP
	layIPPortNet
	layIPMark
	layNetPortNet
	layNetIface
	layBitmap
)

var layouts = map[string]uint8{
	"hash:ip": layIP, "hash:mac": layMAC, "hash:ip,mac": layIPMAC, "hash:net": layNet,
	"hash:net,net": layNetNet, "hash:ip,port": layIPPort, "hash:net,port": layNetPort,
	"hash:ip,port,ip": layIPPortIP, "hash:ip,port,net": layIPPortNet, "hash:ip,mark": layIPMark,
	"hash:net,port,net": layNetPortNet, "hash:net,iface": layNetIface,
}

func layoutOf(t *setType) uint8 {
	if l, ok := layouts[t.name]; ok {
		return l
	}
	return layBitmap
}

// putIP writes an address as the kernel stores it: one word for IPv4,
// four for IPv6.
func putIP(w *[10]uint32, n int, a *[16]byte, v6 bool) int {
	w[n] = binary.LittleEndian.Uint32(a[0:4])
	if !v6 {
		return n + 1
	}
	w[n+1] = binary.LittleEndian.Uint32(a[4:8])
	w[n+2] = binary.LittleEndian.Uint32(a[8:12])
	w[n+3] = binary.LittleEndian.Uint32(a[12:16])
	return n + 4
}

func word(a, b, c, e byte) uint32 {
	return uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(e)<<24
}

// hashWords writes the kernel's element struct of k for the set's type
// and family as the u32 words jhash2 reads (little-endian memory, the
// addresses and ports in network order), with the flags the kernel
// clears before hashing (nomatch) at zero. It returns how many words.
func (d *data) hashWords(k *Key, w *[10]uint32) int {
	v6 := d.family == Inet6
	ph, pl := byte(k.Port>>8), byte(k.Port)
	n := 0
	switch d.layout {
	case layIP:
		n = putIP(w, 0, &k.A1, v6)
	case layMAC:
		w[0], w[1] = word(k.MAC[0], k.MAC[1], k.MAC[2], k.MAC[3]), word(k.MAC[4], k.MAC[5], 0, 0)
		n = 2
	case layIPMAC:
		n = putIP(w, 0, &k.A1, v6)
		w[n], w[n+1] = word(k.MAC[0], k.MAC[1], k.MAC[2], k.MAC[3]), word(k.MAC[4], k.MAC[5], 0, 0)
		n += 2
	case layNet: // ip; u16 padding0; u8 nomatch; u8 cidr
		n = putIP(w, 0, &k.A1, v6)
		w[n] = word(0, 0, 0, k.C1)
		n++
	case layNetNet: // ip[2]; u8 nomatch; u8 padding; u8 cidr[2]
		n = putIP(w, putIP(w, 0, &k.A1, v6), &k.A2, v6)
		w[n] = word(0, 0, k.C1, k.C2)
		n++
	case layIPPort: // ip; __be16 port; u8 proto; u8 padding
		n = putIP(w, 0, &k.A1, v6)
		w[n] = word(ph, pl, k.Proto, 0)
		n++
	case layNetPort: // ip; __be16 port; u8 proto; u8 cidr-1:7, nomatch:1
		n = putIP(w, 0, &k.A1, v6)
		w[n] = word(ph, pl, k.Proto, (k.C1-1)&0x7f)
		n++
	case layIPPortIP: // ip; ip2; __be16 port; u8 proto; u8 padding
		n = putIP(w, putIP(w, 0, &k.A1, v6), &k.A2, v6)
		w[n] = word(ph, pl, k.Proto, 0)
		n++
	case layIPPortNet: // ip; ip2; __be16 port; u8 cidr-1:7, nomatch:1; u8 proto
		n = putIP(w, putIP(w, 0, &k.A1, v6), &k.A2, v6)
		w[n] = word(ph, pl, (k.C2-1)&0x7f, k.Proto)
		n++
	case layIPMark: // ip; u32 mark
		n = putIP(w, 0, &k.A1, v6)
		w[n] = k.Mark
		n++
	case layNetPortNet: // ip[2]; __be16 port; u8 cidr[2]; u16 padding; u8 nomatch; u8 proto
		n = putIP(w, putIP(w, 0, &k.A1, v6), &k.A2, v6)
		w[n], w[n+1] = word(ph, pl, k.C1, k.C2), word(0, 0, 0, k.Proto)
		n += 2
	case layNetIface: // hashed part: ip; u8 physdev; u8 cidr; u8 nomatch; u8 elem (1)
		n = putIP(w, 0, &k.A1, v6)
		phys := byte(0)
		if k.Phys {
			phys = 1
		}
		w[n] = word(phys, k.C1, 0, 1)
		n++
	default: // bitmaps: any spread will do, nothing depends on it
		n = putIP(w, 0, &k.A1, v6)
		w[n] = word(ph, pl, k.MAC[4], k.MAC[5])
		n++
	}
	return n
}

// jh is the jhash of k's element; masked to the table size (the
// kernel's HKEY) it is k's bucket.
func (d *data) jh(k *Key) uint32 {
	var w [10]uint32
	n := d.hashWords(k, &w)
	return jhash.Words(w[:n], d.initval)
}

func (d *data) hkey(k *Key) uint32 { return d.jh(k) & (1<<d.t.bits - 1) }

// sameNet is what the kernel counts as multi for hash:net,iface: the
// hashed part (network and physdev flag aside, the interface) agrees.
func (d *data) sameNet(a, b *Key) bool {
	return a.A1 == b.A1 && a.C1 == b.C1
}

// find returns the arena index of k, or -1.
func (d *data) find(k *Key) int32 {
	t := &d.t
	if t.buckets == nil {
		return -1
	}
	hv := d.jh(k)
	b := &t.buckets[hv&(1<<t.bits-1)]
	for u := b.used; u != 0; u &= u - 1 {
		s := b.idx[bits.TrailingZeros64(u)]
		if s.hv == hv && t.keys[s.i] == *k {
			return s.i
		}
	}
	return -1
}

// get returns the entry of k and whether it is stored.
func (d *data) get(k Key) (entry, bool) {
	if i := d.find(&k); i >= 0 {
		return d.t.ents[i], true
	}
	return entry{}, false
}

// put overwrites the entry of a stored element.
func (d *data) put(k Key, e entry) {
	if i := d.find(&k); i >= 0 {
		d.t.ents[i] = e
	}
}

// hashAdd adds k as the kernel's mtype_add does: an equal element is
// a clash unless exist (then only its extensions are rewritten) or it
// has expired (then it is reused in place); a new element takes the
// first deleted or expired slot of its bucket, else a new slot, the
// bucket growing by two up to bucketsize, beyond which the table
// doubles. maxelem is checked per region first, then for the whole set;
// at maxelem, forceadd overwrites the first reusable slot of the new
// element's bucket, or its first element, and fails when the bucket
// is empty.
func (d *data) hashAdd(k Key, x *elemExt, now int64, exist bool) error {
	t := d.table()
	for {
		hv := d.jh(&k)
		h := hv & (1<<t.bits - 1)
		r := t.region(h)
		elements, maxelem := t.regions[r], t.regionMax
		forceadd := false
		// the region's share first, as mtype_add; but the kernel here
		// never lets the whole set pass maxelem (a /15 added to a set
		// of 32 regions stops at 65536 exactly: TestKernelMaxelemRegions)
		if elements >= maxelem || uint32(t.live) >= d.maxelem {
			if d.withTO {
				d.gcRegion(r, now)
			}
			maxelem = d.maxelem
			elements = uint32(t.live)
			forceadd = elements >= maxelem && d.forceadd
		}
		b := &t.buckets[h]
		if b.idx == nil {
			if forceadd || elements >= maxelem {
				return errHashFull
			}
			b.idx = make([]slot, ahashInit)
			d.fill(b, int(b.pos), r, hv, k, x, now)
			b.pos++
			return nil
		}
		j, deleted, reuse, multi := -1, false, false, 0
		for i := 0; i < int(b.pos); i++ {
			if !b.isUsed(i) {
				if j == -1 {
					deleted, reuse, j = true, true, i
				}
				continue
			}
			o := b.idx[i].i
			if d.clash != nil && d.sameNet(&t.keys[o], &k) {
				multi++
			}
			if t.keys[o] == k {
				e := &t.ents[o]
				if exist || d.expired(e, now) {
					d.setExt(e, x, now)
					return nil
				}
				return errExist
			}
			if j == -1 && d.expired(&t.ents[o], now) {
				reuse, j = true, i
			}
		}
		if reuse || forceadd {
			if j == -1 {
				j = 0
			}
			if !deleted {
				d.drop(b, j, r)
			}
			d.fill(b, j, r, hv, k, x, now)
			return nil
		}
		if elements >= maxelem {
			return errHashFull
		}
		if int(b.pos) >= len(b.idx) {
			if d.clash != nil {
				if d.bucketsize >= ahashMaxTuned {
					return errHashFull
				} else if int(d.bucketsize) <= multi {
					d.bucketsize += ahashInit
				}
			}
			if len(b.idx) >= int(d.bucketsize) {
				d.resize(now)
				continue
			}
			b.idx = append(b.idx, make([]slot, ahashInit)...)
		}
		d.fill(b, int(b.pos), r, hv, k, x, now)
		b.pos++
		return nil
	}
}

// fill stores a new element in slot j of bucket b.
func (d *data) fill(b *hbucket, j, r int, hv uint32, k Key, x *elemExt, now int64) {
	var e entry
	d.setExt(&e, x, now)
	b.idx[j] = slot{d.t.alloc(k, e), hv}
	b.used |= 1 << uint(j)
	d.t.regions[r]++
	d.countNets(&k, true)
}

// drop removes the element in slot j of bucket b (its prefix lengths
// uncounted), leaving the slot unused.
func (d *data) drop(b *hbucket, j, r int) {
	o := b.idx[j].i
	d.countNets(&d.t.keys[o], false)
	d.t.release(o)
	b.used &^= 1 << uint(j)
	d.t.regions[r]--
}

// countNets keeps the prefix lengths of the network dimensions (and
// hash:net,iface's count of interfaces per network) as elements come
// and go.
func (d *data) countNets(k *Key, add bool) {
	if d.clash != nil {
		ik := ifaceless(*k)
		if add {
			d.clash[ik]++
		} else if d.clash[ik]--; d.clash[ik] == 0 {
			delete(d.clash, ik)
		}
	}
	for i, at := range d.netAt {
		if !at {
			continue
		}
		c := k.C1
		if i == 1 {
			c = k.C2
		}
		if add {
			d.nets[i].add(c)
		} else {
			d.nets[i].del(c)
		}
	}
}

// resize doubles the table as mtype_resize does: the live elements in
// bucket order, each appended to its new bucket; expired ones are
// dropped (without uncounting their prefix lengths, as the kernel
// does); a new bucket that fills up doubles again.
func (d *data) resize(now int64) {
	old := d.t
	nb := old.bits
retry:
	nb++
	var t htable
	t.init(nb, d.maxelem)
	t.keys, t.ents, t.free, t.live = old.keys, old.ents, old.free, old.live
	d.t = t
	for i := range old.buckets {
		ob := &old.buckets[i]
		for j := 0; j < int(ob.pos); j++ {
			if !ob.isUsed(j) {
				continue
			}
			o := ob.idx[j]
			if d.expired(&old.ents[o.i], now) {
				continue
			}
			h := o.hv & (1<<nb - 1)
			m := &d.t.buckets[h]
			if m.idx == nil {
				m.idx = make([]slot, ahashInit)
			} else if int(m.pos) >= len(m.idx) {
				if len(m.idx) >= int(d.bucketsize) {
					goto retry
				}
				m.idx = append(m.idx, make([]slot, ahashInit)...)
			}
			m.idx[m.pos] = o
			m.used |= 1 << uint(m.pos)
			m.pos++
			d.t.regions[d.t.region(h)]++
		}
	}
	// the expired elements left behind free their arena slots
	for i := range old.buckets {
		ob := &old.buckets[i]
		for j := 0; j < int(ob.pos); j++ {
			if ob.isUsed(j) && d.expired(&old.ents[ob.idx[j].i], now) {
				d.t.release(ob.idx[j].i)
			}
		}
	}
	d.hashsize = 1 << nb
}

// hashDel deletes k as mtype_del does: an expired element is not
// there (unless expiry is false: removing it regardless); the slot is freed (pos moves back only from the last slot),
// an emptied bucket goes, and one with two or more unused slots is
// compacted and shrunk by two.
func (d *data) hashDel(k Key, now int64, expiry bool) error {
	t := &d.t
	if t.buckets == nil {
		return errNotAdded
	}
	h := d.hkey(&k)
	b := &t.buckets[h]
	holes := 0
	for i := 0; i < int(b.pos); i++ {
		if !b.isUsed(i) {
			holes++
			continue
		}
		if t.keys[b.idx[i].i] != k {
			continue
		}
		if expiry && d.expired(&t.ents[b.idx[i].i], now) {
			return errNotAdded
		}
		d.drop(b, i, t.region(h))
		if i+1 == int(b.pos) {
			b.pos--
		}
		for ; i < int(b.pos); i++ {
			if !b.isUsed(i) {
				holes++
			}
		}
		if b.pos == 0 && holes == 0 {
			*b = hbucket{}
		} else if holes >= ahashInit {
			b.compact(len(b.idx) - ahashInit)
		}
		return nil
	}
	return errNotAdded
}

// unlink removes k whether or not it has expired.
func (d *data) unlink(k Key) { d.hashDel(k, 0, false) }

// plainInsert stores a new element in a new slot of its bucket, with no
// limit but the bucket's size (the bitmap types, whose kernel store is
// an array; here only their listing order, sorted, is seen).
func (d *data) plainInsert(k Key, e entry, now int64) {
	t := d.table()
	for {
		hv := d.jh(&k)
		h := hv & (1<<t.bits - 1)
		b := &t.buckets[h]
		if b.idx == nil {
			b.idx = make([]slot, ahashInit)
		} else if int(b.pos) >= len(b.idx) {
			if len(b.idx) >= int(d.bucketsize) {
				d.resize(now)
				continue
			}
			b.idx = append(b.idx, make([]slot, ahashInit)...)
		}
		b.idx[b.pos] = slot{t.alloc(k, e), hv}
		b.used |= 1 << uint(b.pos)
		b.pos++
		t.regions[t.region(h)]++
		d.countNets(&k, true)
		return
	}
}

// compact moves the used slots to the front of a bucket of size n.
func (b *hbucket) compact(n int) {
	idx := make([]slot, n)
	k := 0
	for j := 0; j < int(b.pos); j++ {
		if b.isUsed(j) {
			idx[k] = b.idx[j]
			k++
		}
	}
	b.idx, b.pos, b.used = idx, uint8(k), 1<<uint(k)-1
}

// gcRegion removes the expired elements of one region as mtype_gc_do
// does: a bucket with two or more unused slots afterwards is freed if
// nothing is left of it, else compacted and shrunk by two.
func (d *data) gcRegion(r int, now int64) {
	t := &d.t
	first, last := 0, len(t.buckets)
	if t.bits >= regionBits {
		first = r << regionBits
		last = first + 1<<regionBits
	}
	for i := first; i < last; i++ {
		b := &t.buckets[i]
		if b.idx == nil {
			continue
		}
		holes := 0
		for j := 0; j < int(b.pos); j++ {
			if !b.isUsed(j) {
				holes++
				continue
			}
			if !d.expired(&t.ents[b.idx[j].i], now) {
				continue
			}
			d.drop(b, j, r)
			holes++
		}
		if holes >= ahashInit {
			if holes >= len(b.idx) {
				*b = hbucket{}
				continue
			}
			b.compact(len(b.idx) - ahashInit)
		}
	}
}

// each calls f with the arena index of every stored element in the
// kernel's listing order: bucket by bucket, slot by slot.
func (t *htable) each(f func(i int32)) {
	for bi := range t.buckets {
		b := &t.buckets[bi]
		for j := 0; j < int(b.pos); j++ {
			if b.isUsed(j) {
				f(b.idx[j].i)
			}
		}
	}
}
