package diff

import (
	"net/netip"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/symbolic"
)

// Focus narrows a comparison to a class of packets (--focus), in the
// words of ipsift's packet filters: every set term must hold.
type Focus struct {
	Iface          string // arrived on this interface ("" any)
	Local          bool   // sent by the host
	Proto          uint8  // 0 any
	Host, Src, Dst netip.Prefix
	// Port, SrcPort, DstPort: -1 any.
	Port, SrcPort, DstPort int
}

func (f *Focus) node(s *symbolic.Space) bdd.Node {
	m := s.M
	in := s.Input.F
	r := bdd.True
	if f.Local {
		r = m.And(r, in[symbolic.FLocal][0])
	}
	if f.Iface != "" {
		idx := uint64(0)
		for i, ifc := range s.Ifaces {
			if ifc.Name == f.Iface {
				idx = uint64(i + 1)
			}
		}
		if idx == 0 {
			return bdd.False
		}
		r = m.And(r, m.Eq(in[symbolic.FIn], bdd.UintVec(idx, s.IfBits)))
	}
	if f.Proto != 0 {
		r = m.And(r, m.Eq(in[symbolic.FProto], bdd.UintVec(uint64(f.Proto), 8)))
	}
	pfx := func(fl symbolic.Field, p netip.Prefix) bdd.Node {
		if p.Addr().BitLen() != s.W {
			return bdd.False
		}
		var raw []byte
		if s.W == 32 {
			b := p.Addr().As4()
			raw = b[:]
		} else {
			b := p.Addr().As16()
			raw = b[:]
		}
		return m.Prefix(in[fl], bdd.ConstVec(raw, s.W), p.Bits())
	}
	if f.Src.IsValid() {
		r = m.And(r, pfx(symbolic.FSrc, f.Src))
	}
	if f.Dst.IsValid() {
		r = m.And(r, pfx(symbolic.FDst, f.Dst))
	}
	if f.Host.IsValid() {
		r = m.And(r, m.Or(pfx(symbolic.FSrc, f.Host), pfx(symbolic.FDst, f.Host)))
	}
	port := func(fl symbolic.Field, p int) bdd.Node { return m.Eq(in[fl], bdd.UintVec(uint64(p), 16)) }
	if f.SrcPort >= 0 {
		r = m.And(r, port(symbolic.FSport, f.SrcPort))
	}
	if f.DstPort >= 0 {
		r = m.And(r, port(symbolic.FDport, f.DstPort))
	}
	if f.Port >= 0 {
		r = m.And(r, m.Or(port(symbolic.FSport, f.Port), port(symbolic.FDport, f.Port)))
	}
	return r
}
