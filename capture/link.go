package capture

import (
	"encoding/binary"
	"errors"
)

// EtherType values the decoder knows.
const (
	EtherIPv4  = 0x0800
	EtherIPv6  = 0x86DD
	EtherVLAN  = 0x8100 // 802.1Q
	EtherQinQ  = 0x88A8 // 802.1ad
	EtherQinQ2 = 0x9100 // the old pre-standard QinQ tag
)

// Linux packet types (the kernel's skb->pkt_type, as SLL and SLL2 record
// it).
const (
	PktHost      = 0
	PktBroadcast = 1
	PktMulticast = 2
	PktOtherHost = 3
	PktOutgoing  = 4
)

// Netfilter hooks, as NFLOG records them.
const (
	HookPrerouting  = 0
	HookLocalIn     = 1
	HookForward     = 2
	HookLocalOut    = 3
	HookPostrouting = 4
)

// Frame is what the link-layer header of one record says. Its slices
// alias the record's data.
type Frame struct {
	// IP is the network-layer packet (the IPv4 or IPv6 header onward),
	// nil when the frame carries something else (see EtherType).
	IP []byte
	// EtherType is the protocol of the payload (EtherIPv4, EtherIPv6 or
	// anything else); for NFLOG, from its family or hardware protocol.
	EtherType uint16
	// Dir is the direction the link layer records: SLL and SLL2 packet
	// type (outgoing or not), NFLOG's hook (prerouting arriving, output
	// leaving the host itself). DirUnknown for Ethernet and raw IP.
	Dir Direction
	// PktType is SLL/SLL2's packet type, valid when HasPktType.
	PktType    uint8
	HasPktType bool
	// IfIndex is the interface index SLL2 records, or NFLOG's input
	// device (output device at the output hook); 0 when not given.
	IfIndex uint32
	// OutIfIndex is NFLOG's output device, 0 when not given.
	OutIfIndex uint32
	// VLANs are the 802.1Q tags' VLAN IDs, outermost first (NVLAN of
	// them), from an Ethernet frame.
	VLANs  [2]uint16
	NVLAN  int
	DstMAC [6]byte // Ethernet only (HasMAC)
	SrcMAC [6]byte // Ethernet, or SLL/SLL2 with a 6-byte address (HasSrcMAC)
	HasMAC bool
	// HasSrcMAC: SrcMAC holds a 6-byte link address.
	HasSrcMAC bool
	// NFLOG only.
	Hook    uint8 // valid when HasHook
	HasHook bool
	Group   uint16 // the NFLOG group (resource id)
	Prefix  []byte // the rule's --nflog-prefix, without its NUL
	Mark    uint32
	HasMark bool
}

// Errors Decode returns.
var (
	ErrShortLink   = errors.New("capture: frame shorter than its link-layer header")
	ErrUnknownLink = errors.New("capture: link type not supported (Ethernet, raw IP, Linux SLL/SLL2 and NFLOG are)")
	ErrNFLOG       = errors.New("capture: malformed NFLOG record")
	ErrTooManyTags = errors.New("capture: more than two VLAN tags")
)

// Decode fills f from one record's data of link type lt. bigEndian is
// Record.BigEndian (NFLOG's TLV headers are in the capturing host's
// byte order). It allocates nothing.
func (f *Frame) Decode(lt LinkType, data []byte, bigEndian bool) error {
	*f = Frame{}
	switch lt {
	case LinkEthernet:
		return f.ethernet(data)
	case LinkRaw:
		if len(data) < 1 {
			return ErrShortLink
		}
		switch data[0] >> 4 {
		case 4:
			f.EtherType = EtherIPv4
		case 6:
			f.EtherType = EtherIPv6
		}
		f.setPayload(data)
	case LinkIPv4:
		f.EtherType = EtherIPv4
		f.IP = data
	case LinkIPv6:
		f.EtherType = EtherIPv6
		f.IP = data
	case LinkSLL:
		// packet type, ARPHRD type, address length, 8 address bytes,
		// protocol (all big-endian).
		if len(data) < 16 {
			return ErrShortLink
		}
		f.PktType, f.HasPktType = uint8(binary.BigEndian.Uint16(data)), true
		f.sllAddr(binary.BigEndian.Uint16(data[4:]), data[6:14])
		f.EtherType = binary.BigEndian.Uint16(data[14:])
		f.setPayload(data[16:])
	case LinkSLL2:
		// protocol, reserved, interface index, ARPHRD type, packet
		// type, address length, 8 address bytes.
		if len(data) < 20 {
			return ErrShortLink
		}
		f.EtherType = binary.BigEndian.Uint16(data)
		f.IfIndex = binary.BigEndian.Uint32(data[4:])
		f.PktType, f.HasPktType = data[10], true
		f.sllAddr(uint16(data[11]), data[12:20])
		f.setPayload(data[20:])
	case LinkNFLOG:
		return f.nflog(data, bigEndian)
	default:
		return ErrUnknownLink
	}
	if f.HasPktType {
		f.Dir = DirIn
		if f.PktType == PktOutgoing {
			f.Dir = DirOut
		}
	}
	return nil
}

func (f *Frame) sllAddr(n uint16, addr []byte) {
	if n == 6 {
		copy(f.SrcMAC[:], addr)
		f.HasSrcMAC = true
	}
}

// setPayload sets IP to b when EtherType says it is IP.
func (f *Frame) setPayload(b []byte) {
	if f.EtherType == EtherIPv4 || f.EtherType == EtherIPv6 {
		f.IP = b
	}
}

func (f *Frame) ethernet(data []byte) error {
	if len(data) < 14 {
		return ErrShortLink
	}
	copy(f.DstMAC[:], data)
	copy(f.SrcMAC[:], data[6:])
	f.HasMAC, f.HasSrcMAC = true, true
	t := binary.BigEndian.Uint16(data[12:])
	b := data[14:]
	for t == EtherVLAN || t == EtherQinQ || t == EtherQinQ2 {
		if len(b) < 4 {
			return ErrShortLink
		}
		if f.NVLAN == len(f.VLANs) {
			return ErrTooManyTags
		}
		f.VLANs[f.NVLAN] = binary.BigEndian.Uint16(b) & 0x0fff
		f.NVLAN++
		t = binary.BigEndian.Uint16(b[2:])
		b = b[4:]
	}
	f.EtherType = t
	f.setPayload(b)
	return nil
}

// NFLOG attribute types (enum nfulnl_attr_type).
const (
	nfulaPacketHdr = 1
	nfulaMark      = 2
	nfulaIfInDev   = 4
	nfulaIfOutDev  = 5
	nfulaHwAddr    = 8
	nfulaPayload   = 9
	nfulaPrefix    = 10
)

// nflog reads a LINKTYPE_NFLOG record: a 4-byte header (address
// family, version 0, resource id in network order), then TLVs whose
// length and type are in the capturing host's order, each padded to 4
// bytes, their values in network order.
func (f *Frame) nflog(data []byte, bigEndian bool) error {
	if len(data) < 4 || data[1] != 0 {
		return ErrNFLOG
	}
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	switch data[0] {
	case 2: // AF_INET
		f.EtherType = EtherIPv4
	case 10: // AF_INET6
		f.EtherType = EtherIPv6
	}
	f.Group = binary.BigEndian.Uint16(data[2:])
	b := data[4:]
	for len(b) >= 4 {
		n := int(order.Uint16(b))
		typ := order.Uint16(b[2:]) & 0x7fff // NLA_F_NESTED and friends aside
		if n < 4 || n > len(b) {
			return ErrNFLOG
		}
		v := b[4:n]
		switch typ {
		case nfulaPacketHdr:
			// hw_protocol (be16), hook, pad
			if len(v) >= 3 {
				if p := binary.BigEndian.Uint16(v); p != 0 {
					f.EtherType = p
				}
				f.Hook, f.HasHook = v[2], true
			}
		case nfulaMark:
			if len(v) >= 4 {
				f.Mark, f.HasMark = binary.BigEndian.Uint32(v), true
			}
		case nfulaIfInDev:
			if len(v) >= 4 {
				f.IfIndex = binary.BigEndian.Uint32(v)
			}
		case nfulaIfOutDev:
			if len(v) >= 4 {
				f.OutIfIndex = binary.BigEndian.Uint32(v)
			}
		case nfulaHwAddr:
			// hw_addrlen (be16), pad, 8 address bytes
			if len(v) >= 12 && binary.BigEndian.Uint16(v) == 6 {
				copy(f.SrcMAC[:], v[4:10])
				f.HasSrcMAC = true
			}
		case nfulaPayload:
			f.IP = v
		case nfulaPrefix:
			p := v
			for i, c := range p {
				if c == 0 {
					p = p[:i]
					break
				}
			}
			f.Prefix = p
		}
		padded := (n + 3) &^ 3
		if padded >= len(b) {
			break
		}
		b = b[padded:]
	}
	if f.EtherType != EtherIPv4 && f.EtherType != EtherIPv6 {
		f.IP = nil
	}
	if f.HasHook {
		switch f.Hook {
		case HookPrerouting:
			f.Dir = DirIn
		case HookLocalOut, HookPostrouting:
			f.Dir = DirOut
		}
	}
	return nil
}
