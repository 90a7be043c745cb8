package ipset

import (
	"strconv"
	"strings"
)

type cmdKind uint8

const (
	cmdAdd cmdKind = iota
	cmdDel
	cmdTest
)

// dimSpec is one parsed dimension of an element as written.
type dimSpec struct {
	ip    ipRange
	port  portSpec
	mac   [6]byte
	mark  uint32
	iface string
	phys  bool
}

// parseElem splits an element into its dimensions and parses each; for
// bitmap:ip,mac the MAC is optional and goes to the extensions.
func (d *data) parseElem(s string, cmd cmdKind, x *elemExt) ([]dimSpec, error) {
	t := d.typ
	parts := strings.SplitN(s, ",", len(t.dims))
	if t.name == "bitmap:ip,mac" {
		if len(parts) == 2 {
			m, err := parseMAC(parts[1])
			if err != nil {
				return nil, err
			}
			x.mac, x.hasMAC = m, true
		}
		parts = parts[:1]
	} else if len(parts) != len(t.dims) {
		return nil, errSyntax("cannot parse %s: the element has %d of %d dimensions", s, len(parts), len(t.dims))
	}
	specs := make([]dimSpec, len(parts))
	ipIndex := 0
	for i, p := range parts {
		sp := &specs[i]
		var err error
		switch t.dims[i] {
		case dimIP:
			// ranges and CIDRs only in the first address of a type
			// (hash:ip,port,ip's second is a plain address) and in IPv4
			allow := ipIndex == 0 && d.family == Inet
			if d.family == Inet6 && strings.Contains(p, "/") {
				return nil, errSyntax("plain IP address must be supplied: %s", p)
			}
			if !allow && d.family == Inet && strings.ContainsAny(p, "/-") {
				return nil, errSyntax("plain IP address must be supplied: %s", p)
			}
			sp.ip, err = parseIPSpec(p, d.family, allow)
			ipIndex++
		case dimNet:
			sp.ip, err = parseIPSpec(p, d.family, d.family == Inet)
			// hash:net,iface and hash:net,port,net take /0
			if err == nil && sp.ip.cidr == 0 && !t.hasDim(dimIface) && t.name != "hash:net,port,net" {
				err = &Error{Msg: "The value of the CIDR parameter of the IP address is invalid", Code: errInvalidCIDR}
			}
			ipIndex++
		case dimPort:
			if t.store == bitmapStore {
				if j := strings.IndexByte(p, ':'); j >= 0 {
					if _, ok := protoNames[p[:j]]; !ok {
						return nil, errSyntax("cannot parse '%s' as a protocol", p[:j])
					}
					p = p[j+1:]
				}
				sp.port.proto = protoTCP
				err = parsePortRange(p, &sp.port.from, &sp.port.to, true)
			} else {
				sp.port, err = parsePortSpec(p, d.family, true)
			}
		case dimMAC:
			sp.mac, err = parseMAC(p)
		case dimMark:
			var v uint64
			v, err = strconv.ParseUint(p, 0, 32)
			if err != nil {
				err = errSyntax("cannot parse '%s' as a mark", p)
			}
			sp.mark = uint32(v) & d.markmask
		case dimIface:
			name := p
			if strings.HasPrefix(p, "physdev:") {
				name, sp.phys = p[len("physdev:"):], true
			}
			if name == "" || len(name) > 15 {
				return nil, errSyntax("interface name '%s' is longer than 15 characters or empty", name)
			}
			sp.iface = name
		}
		if err != nil {
			return nil, err
		}
	}
	return specs, nil
}

// forEach calls fn with every key the element stands for, in the kernel's
// order: ranges of addresses expand to addresses (stepping by the set's
// netmask) or, in network dimensions, to the CIDRs covering them; port
// ranges to ports. A test uses only the first key.
func (d *data) forEach(specs []dimSpec, cmd cmdKind, fn func(Key) error) error {
	var k Key
	var rec func(i, ai int) error
	rec = func(i, ai int) error {
		if i == len(specs) {
			return fn(k)
		}
		sp := &specs[i]
		switch d.typ.dims[i] {
		case dimIP:
			return d.eachIP(sp.ip, cmd, func(a [16]byte) error {
				if ai == 0 {
					k.A1, k.C1 = a, hostLen(d.family)
				} else {
					k.A2, k.C2 = a, hostLen(d.family)
				}
				return rec(i+1, ai+1)
			})
		case dimNet:
			return eachNet(sp.ip, d.family, cmd, func(a [16]byte, c uint8) error {
				if d.hasMask {
					a = andMask(a, d.mask)
				}
				if ai == 0 {
					k.A1, k.C1 = a, c
				} else {
					k.A2, k.C2 = a, c
				}
				return rec(i+1, ai+1)
			})
		case dimPort:
			k.Proto = sp.port.proto
			if d.typ.store == bitmapStore {
				k.Proto = 0
			}
			if !withPorts(sp.port.proto) && sp.port.proto != protoICMP && sp.port.proto != protoICMPv6 {
				k.Port = 0
				return rec(i+1, ai)
			}
			to := sp.port.to
			if cmd == cmdTest {
				to = sp.port.from
			}
			for p := uint32(sp.port.from); p <= uint32(to); p++ {
				k.Port = uint16(p)
				if err := rec(i+1, ai); err != nil {
					return err
				}
			}
			return nil
		case dimMAC:
			k.MAC = sp.mac
		case dimMark:
			k.Mark = sp.mark
		case dimIface:
			k.Iface, k.Phys = ifaceKey(sp.iface), sp.phys
		}
		return rec(i+1, ai)
	}
	return rec(0, 0)
}

// eachIP expands an address dimension: IPv4 ranges and CIDRs address by
// address, stepping by the set's netmask and storing the masked address.
func (d *data) eachIP(r ipRange, cmd cmdKind, fn func([16]byte) error) error {
	if d.family != Inet {
		a := r.from
		if d.hasMask {
			a = andMask(a, d.mask)
		}
		return fn(a)
	}
	from, to := v4(r.from), v4(r.to)
	if cmd == cmdTest {
		to = from
	}
	step := uint64(1)
	if d.hasMask && !d.isBitmask && d.netmask < 32 {
		step = 1 << (32 - d.netmask)
	}
	for ip := uint64(from); ip <= uint64(to); ip += step {
		var a [16]byte
		setV4(&a, uint32(ip))
		if d.hasMask {
			a = andMask(a, d.mask)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// eachNet expands a network dimension: a CIDR or a plain address is one
// network; an IPv4 range is split into the largest CIDRs covering it
// (ip_set_range_to_cidr).
func eachNet(r ipRange, fam Family, cmd cmdKind, fn func([16]byte, uint8) error) error {
	if !r.isRange {
		return fn(r.from, r.cidr)
	}
	from, to := uint64(v4(r.from)), uint64(v4(r.to))
	for from <= to {
		c := uint8(32)
		// the largest block aligned at from that stays within to
		for c > 1 {
			size := uint64(1) << (32 - (c - 1))
			if from&(size-1) != 0 || from+size-1 > to {
				break
			}
			c--
		}
		var a [16]byte
		setV4(&a, uint32(from))
		if err := fn(a, c); err != nil {
			return err
		}
		if cmd == cmdTest {
			return nil
		}
		from += uint64(1) << (32 - c)
	}
	return nil
}
