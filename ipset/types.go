// Package ipset is the kernel's ip_set (net/netfilter/ipset) with the
// ipset 7.x command language: sets of addresses, networks, ports, MACs,
// marks and interfaces, every set type of ipset 7.x, their create and
// element options, the save/list/restore formats, and constant-time
// lookups for packets.
//
// Time is a parameter: every operation that can see a timeout takes the
// caller's clock (nanoseconds, the engine clock), never the wall clock.
package ipset

import "strings"

// Family is a set's address family, as ipset names it.
type Family uint8

// The families: a set of bitmap:port, hash:mac or list:set has none.
const (
	FamilyNone Family = 0
	Inet       Family = 2
	Inet6      Family = 10
)

func (f Family) String() string {
	switch f {
	case Inet:
		return "inet"
	case Inet6:
		return "inet6"
	}
	return "unspec"
}

// dim is what one dimension of an element holds.
type dim uint8

const (
	dimIP    dim = iota // one address (ranges and CIDRs expand to addresses)
	dimNet              // a network: address and prefix length
	dimPort             // protocol and port (or ICMP type and code)
	dimMAC              // an Ethernet address
	dimMark             // a packet mark
	dimIface            // an interface name
	dimSet              // a set's name (list:set)
)

type storage uint8

const (
	bitmapStore storage = iota
	hashStore
	listStore
)

// create options a type accepts
const (
	cFamily = 1 << iota
	cHashsize
	cMaxelem
	cNetmask
	cBitmask
	cTimeout
	cCounters
	cComment
	cSkbinfo
	cForceadd
	cBucketsize
	cInitval
	cRange
	cMarkmask
	cSize
)

const (
	cExt    = cTimeout | cCounters | cComment | cSkbinfo
	cHash   = cFamily | cHashsize | cMaxelem | cExt | cForceadd | cBucketsize | cInitval
	cHashNF = cHash &^ cFamily
)

// setType is one ipset type. rev is the revision the kernel here reports
// (ipset list prints it); missing marks the five types this kernel lacks
// ("set type not supported"): ipsift has them, checked against ipset's
// own vectors only.
type setType struct {
	name    string
	store   storage
	dims    []dim
	rev     int
	opts    int
	missing bool
	// maskAfterInitval: the revisions that got netmask/bitmask late print
	// them after initval (hash:ip,port, hash:net,net), hash:ip before
	// the timeout.
	maskAfterInitval bool
}

var types = []*setType{
	{name: "bitmap:ip", store: bitmapStore, dims: []dim{dimIP}, rev: 3, opts: cRange | cNetmask | cExt},
	{name: "bitmap:ip,mac", store: bitmapStore, dims: []dim{dimIP, dimMAC}, rev: 3, opts: cRange | cExt},
	{name: "bitmap:port", store: bitmapStore, dims: []dim{dimPort}, rev: 3, opts: cRange | cExt},
	{name: "hash:ip", store: hashStore, dims: []dim{dimIP}, rev: 6, opts: cHash | cNetmask | cBitmask},
	{name: "hash:mac", store: hashStore, dims: []dim{dimMAC}, rev: 0, opts: cHashNF, missing: true},
	{name: "hash:ip,mac", store: hashStore, dims: []dim{dimIP, dimMAC}, rev: 0, opts: cHash, missing: true},
	{name: "hash:net", store: hashStore, dims: []dim{dimNet}, rev: 7, opts: cHash},
	{name: "hash:net,net", store: hashStore, dims: []dim{dimNet, dimNet}, rev: 3, opts: cHash | cBitmask | cNetmask, missing: true, maskAfterInitval: true},
	{name: "hash:ip,port", store: hashStore, dims: []dim{dimIP, dimPort}, rev: 7, opts: cHash | cNetmask | cBitmask, maskAfterInitval: true},
	{name: "hash:net,port", store: hashStore, dims: []dim{dimNet, dimPort}, rev: 8, opts: cHash},
	{name: "hash:ip,port,ip", store: hashStore, dims: []dim{dimIP, dimPort, dimIP}, rev: 6, opts: cHash},
	{name: "hash:ip,port,net", store: hashStore, dims: []dim{dimIP, dimPort, dimNet}, rev: 8, opts: cHash},
	{name: "hash:ip,mark", store: hashStore, dims: []dim{dimIP, dimMark}, rev: 3, opts: cHash | cMarkmask, missing: true},
	{name: "hash:net,port,net", store: hashStore, dims: []dim{dimNet, dimPort, dimNet}, rev: 3, opts: cHash, missing: true},
	{name: "hash:net,iface", store: hashStore, dims: []dim{dimNet, dimIface}, rev: 8, opts: cHash},
	{name: "list:set", store: listStore, dims: []dim{dimSet}, rev: 3, opts: cSize | cExt},
}

// aliases are the type names of ipset 4.x, which ipset 7 still accepts.
var aliases = map[string]string{
	"iphash":         "hash:ip",
	"iptree":         "hash:ip",
	"iptreemap":      "hash:ip",
	"machash":        "hash:mac",
	"nethash":        "hash:net",
	"ipporthash":     "hash:ip,port",
	"ipportiphash":   "hash:ip,port,ip",
	"ipportnethash":  "hash:ip,port,net",
	"netportnethash": "hash:net,port,net",
	"ipmarkhash":     "hash:ip,mark",
	"ipmap":          "bitmap:ip",
	"macipmap":       "bitmap:ip,mac",
	"portmap":        "bitmap:port",
	"setlist":        "list:set",
}

// lookupType finds a type by its name or an old alias.
func lookupType(name string) *setType {
	if a, ok := aliases[name]; ok {
		name = a
	}
	for _, t := range types {
		if t.name == name {
			return t
		}
	}
	return nil
}

// TypeMissingHere reports whether the running kernel of this project's
// test machine lacks the type (see the package comment of types).
func TypeMissingHere(name string) bool {
	t := lookupType(name)
	return t != nil && t.missing
}

func (t *setType) hasFamily() bool { return t.opts&cFamily != 0 }

// hasDim reports whether an element has a dimension of kind d.
func (t *setType) hasDim(d dim) bool {
	for _, x := range t.dims {
		if x == d {
			return true
		}
	}
	return false
}

// nomatchOK: the types whose elements may carry nomatch (those with a
// network dimension).
func (t *setType) nomatchOK() bool { return t.store == hashStore && t.hasDim(dimNet) }

func (t *setType) String() string { return t.name }

// validName: ipset's set names are at most 31 bytes.
func validName(s string) bool { return s != "" && len(s) < 32 && !strings.ContainsRune(s, 0) }
