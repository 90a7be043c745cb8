package ext

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The bpf match (-m bpf, libxt_bpf revision 1 and the kernel's xt_bpf)
// runs a classic BPF program (nfbpf_compile RAW '<filter>') over the
// packet from its IP header and matches when the program returns
// non-zero. ipsift interprets the program itself, with the kernel's
// checks and its rule that a load outside the packet ends the program
// with 0. Pinned eBPF objects (--object-pinned) cannot be run: the rule
// parses and prints, and Compile says so.

const bpfMaxInstr = 64 // XT_BPF_MAX_NUM_INSTR

// bpfInsn is struct sock_filter.
type bpfInsn struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "bpf",
		Family: AnyFamily,
		Options: []Option{
			{Name: "bytecode", Arg: OneArg},
			{Name: "object-pinned", Arg: OneArg},
		},
		New: func() Match { return &bpfMatch{} },
	})
}

// bpfMatch is one -m bpf in a rule (struct xt_bpf_info_v1).
type bpfMatch struct {
	prog   []bpfInsn
	pinned string
	mode   int // 1 bytecode, 2 pinned
}

// parseBPF is bpf_parse_string: "N,code jt jf k,code jt jf k,...".
func parseBPF(s string) ([]bpfInsn, error) {
	head, _, ok := strings.Cut(s, ",")
	n, err := strconv.ParseUint(strings.TrimSpace(head), 10, 16)
	if !ok || err != nil {
		return nil, fmt.Errorf("error parsing program length: write N,code jt jf k,... as nfbpf_compile prints it")
	}
	if n == 0 {
		return nil, fmt.Errorf("illegal zero length program")
	}
	if n > bpfMaxInstr {
		return nil, fmt.Errorf("number of instructions exceeds maximum (%d)", bpfMaxInstr)
	}
	var prog []bpfInsn
	rest := s
	for {
		i := strings.IndexByte(rest, ',')
		if i < 0 || i+1 >= len(rest) {
			break
		}
		rest = rest[i+1:]
		if len(prog) >= int(n) {
			return nil, fmt.Errorf("real program length exceeds the encoded length parameter")
		}
		tok, _, _ := strings.Cut(rest, ",")
		f := strings.Fields(tok)
		if len(f) != 4 {
			return nil, fmt.Errorf("error at instr %d", len(prog))
		}
		var v [4]uint64
		for j, x := range f {
			if v[j], err = strconv.ParseUint(x, 10, 64); err != nil {
				return nil, fmt.Errorf("error at instr %d", len(prog))
			}
		}
		prog = append(prog, bpfInsn{code: uint16(v[0]), jt: uint8(v[1]), jf: uint8(v[2]), k: uint32(v[3])})
	}
	if len(prog) != int(n) {
		return nil, fmt.Errorf("parsed program length is less than the encoded length parameter")
	}
	return prog, nil
}

// Parse implements Parser.
func (m *bpfMatch) Parse(opt, arg string, _ bool, _ *Args) error {
	switch opt {
	case "bytecode":
		p, err := parseBPF(arg)
		if err != nil {
			return err
		}
		m.prog, m.mode = p, 1
	case "object-pinned":
		m.pinned, m.mode = arg, 2
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: bpf_fcheck_v1 and the kernel's check of the
// program (bpf_check_classic).
func (m *bpfMatch) Finish(*RuleInfo) error {
	if (m.prog != nil) == (m.pinned != "") {
		return fmt.Errorf("one of --bytecode or --object-pinned is required")
	}
	if m.prog != nil {
		return checkBPF(m.prog)
	}
	return nil
}

// Classic BPF opcode parts.
const (
	bpfLD   = 0x00
	bpfLDX  = 0x01
	bpfST   = 0x02
	bpfSTX  = 0x03
	bpfALU  = 0x04
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfMISC = 0x07

	bpfW = 0x00
	bpfH = 0x08
	bpfB = 0x10

	bpfIMM = 0x00
	bpfABS = 0x20
	bpfIND = 0x40
	bpfMEM = 0x60
	bpfLEN = 0x80
	bpfMSH = 0xa0

	bpfX = 0x08
	bpfA = 0x10

	skfADOff  = -0x1000
	skfNetOff = -0x100000
	skfLLOff  = -0x200000
)

// checkBPF is the kernel's bpf_check_classic: known opcodes, jumps inside
// the program, scratch memory words 0-15, no division by a zero
// constant, no shift by 32 or more, and a final RET of K or A.
func checkBPF(p []bpfInsn) error {
	for pc, in := range p {
		bad := func(why string) error {
			return fmt.Errorf("invalid BPF program: instruction %d (%d %d %d %d): %s", pc, in.code, in.jt, in.jf, in.k, why)
		}
		switch in.code & 0x07 {
		case bpfLD, bpfLDX:
			sz, md := in.code&0x18, in.code&0xe0
			switch {
			case in.code&0x07 == bpfLDX && !(in.code == bpfLDX|bpfW|bpfIMM || in.code == bpfLDX|bpfW|bpfMEM || in.code == bpfLDX|bpfW|bpfLEN || in.code == bpfLDX|bpfB|bpfMSH):
				return bad("unknown load")
			case in.code&0x07 == bpfLD && (sz == 0x18 || (md != bpfABS && md != bpfIND && sz != bpfW) || md == bpfMSH || md > bpfMSH):
				return bad("unknown load")
			case md == bpfMEM && in.k >= 16:
				return bad("scratch memory has 16 words")
			}
		case bpfST, bpfSTX:
			if in.code&^0x07 != 0 {
				return bad("unknown store")
			}
			if in.k >= 16 {
				return bad("scratch memory has 16 words")
			}
		case bpfALU:
			op := in.code & 0xf0
			if op > 0xa0 || (op == 0x80 && in.code&bpfX != 0) {
				return bad("unknown ALU operation")
			}
			if in.code&bpfX == 0 {
				if (op == 0x30 || op == 0x90) && in.k == 0 {
					return bad("division by zero")
				}
				if (op == 0x60 || op == 0x70) && in.k >= 32 {
					return bad("shift by 32 or more")
				}
			}
		case bpfJMP:
			op := in.code & 0xf0
			if op > 0x40 || (op == 0 && in.code&bpfX != 0) {
				return bad("unknown jump")
			}
			if op == 0 {
				if uint64(pc)+1+uint64(in.k) >= uint64(len(p)) {
					return bad("jump out of the program")
				}
			} else if pc+1+int(in.jt) >= len(p) || pc+1+int(in.jf) >= len(p) {
				return bad("jump out of the program")
			}
		case bpfRET:
			if rv := in.code & 0x18; rv == 0x18 || in.code&0xe0 != 0 {
				return bad("unknown return")
			}
		case bpfMISC:
			if in.code != bpfMISC && in.code != bpfMISC|0x80 {
				return bad("unknown misc operation")
			}
		}
	}
	last := p[len(p)-1].code
	if last != bpfRET && last != bpfRET|bpfA {
		return fmt.Errorf("invalid BPF program: it must end with a return of a constant or of A")
	}
	return nil
}

func (m *bpfMatch) code(b *strings.Builder) {
	for i, in := range m.prog {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%d %d %d %d", in.code, in.jt, in.jf, in.k)
	}
}

// Save implements Parser.
func (m *bpfMatch) Save(b *strings.Builder) {
	if m.mode == 2 {
		b.WriteString(" --object-pinned " + m.pinned)
		return
	}
	b.WriteString(" --bytecode \"" + strconv.Itoa(len(m.prog)) + ",")
	m.code(b)
	b.WriteByte('"')
}

// Print implements Parser. libxt_bpf prints "match bpf " without a
// leading space (and a NUL after the code, which ipsift leaves out).
func (m *bpfMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString("match bpf ")
	if m.mode == 2 {
		b.WriteString("pinned " + m.pinned)
		return
	}
	m.code(b)
}

// Compile implements Match.
func (m *bpfMatch) Compile(*Compiler) (Matcher, error) {
	if m.mode == 2 {
		return nil, fmt.Errorf("-m bpf: ipsift cannot run the pinned eBPF object %s; the rule cannot be evaluated (a classic --bytecode program can be)", m.pinned)
	}
	return &bpfMatcher{prog: append([]bpfInsn(nil), m.prog...)}, nil
}

// bpfMatcher runs the program.
type bpfMatcher struct{ prog []bpfInsn }

// Match implements Matcher.
func (b *bpfMatcher) Match(c *Ctx) bool { return runBPF(b.prog, c) != 0 }

// Explain implements Explainer.
func (b *bpfMatcher) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("bpf: the program returned %d", runBPF(b.prog, c))
}

// bpfData is the packet as the program sees it: from the IP header to
// the end of the IP packet.
func bpfData(c *Ctx) []byte {
	d := c.Pkt.Data
	if n := c.Pkt.TotalLen; n > 0 && n < len(d) {
		d = d[:n]
	}
	return d
}

// bpfLoad reads size bytes at off (negative offsets are the kernel's
// SKF_NET_OFF area; the link layer is not there); ok is false outside
// the packet.
func bpfLoad(d []byte, off int64, size int) (uint32, bool) {
	if off < 0 {
		if off >= skfNetOff && off < skfADOff {
			off -= skfNetOff
		} else {
			return 0, false
		}
	}
	if off+int64(size) > int64(len(d)) {
		return 0, false
	}
	switch size {
	case 4:
		return binary.BigEndian.Uint32(d[off:]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(d[off:])), true
	}
	return uint32(d[off]), true
}

// bpfAncillary is the kernel's SKF_AD_* extensions that make sense for
// ipsift's packets; ok is false for the others.
func bpfAncillary(c *Ctx, k int32, a, x uint32) (uint32, bool) {
	switch k - skfADOff {
	case 0: // protocol
		if c.Pkt.Version == 6 {
			return 0x86dd, true
		}
		return 0x0800, true
	case 4: // pkttype
		return uint32(c.PktType), true
	case 8: // ifindex
		if c.In != nil {
			return uint32(c.In.Index), true
		}
		if c.Out != nil {
			return uint32(c.Out.Index), true
		}
		return 0, false
	case 20: // mark
		return c.Mark, true
	case 24, 32, 36, 44, 48, 60: // queue, rxhash, cpu, vlan tag, vlan present, vlan tpid
		return 0, true
	case 40: // alu xor x
		return a ^ x, true
	case 52: // pay_offset: the transport header
		return uint32(c.Pkt.HdrLen), true
	}
	return 0, false
}

// runBPF interprets a checked classic BPF program (the kernel's
// semantics: loads outside the packet and division by zero end the
// program with 0).
func runBPF(p []bpfInsn, c *Ctx) uint32 {
	d := bpfData(c)
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		k := in.k
		switch in.code & 0x07 {
		case bpfLD:
			size := 4
			switch in.code & 0x18 {
			case bpfH:
				size = 2
			case bpfB:
				size = 1
			}
			switch in.code & 0xe0 {
			case bpfIMM:
				a = k
			case bpfLEN:
				a = uint32(len(d))
			case bpfMEM:
				a = mem[k&15]
			case bpfABS:
				if int32(k) >= skfADOff && int32(k) < 0 {
					v, ok := bpfAncillary(c, int32(k), a, x)
					if !ok {
						return 0
					}
					a = v
					continue
				}
				v, ok := bpfLoad(d, int64(int32(k)), size)
				if !ok {
					return 0
				}
				a = v
			case bpfIND:
				v, ok := bpfLoad(d, int64(int32(x+k)), size)
				if !ok {
					return 0
				}
				a = v
			}
		case bpfLDX:
			switch in.code & 0xe0 {
			case bpfIMM:
				x = k
			case bpfLEN:
				x = uint32(len(d))
			case bpfMEM:
				x = mem[k&15]
			case bpfMSH:
				v, ok := bpfLoad(d, int64(int32(k)), 1)
				if !ok {
					return 0
				}
				x = (v & 0xf) << 2
			}
		case bpfST:
			mem[k&15] = a
		case bpfSTX:
			mem[k&15] = x
		case bpfALU:
			src := k
			if in.code&bpfX != 0 {
				src = x
			}
			switch in.code & 0xf0 {
			case 0x00:
				a += src
			case 0x10:
				a -= src
			case 0x20:
				a *= src
			case 0x30:
				if src == 0 {
					return 0
				}
				a /= src
			case 0x40:
				a |= src
			case 0x50:
				a &= src
			case 0x60:
				a <<= src & 31
			case 0x70:
				a >>= src & 31
			case 0x80:
				a = -a
			case 0x90:
				if src == 0 {
					return 0
				}
				a %= src
			case 0xa0:
				a ^= src
			}
		case bpfJMP:
			src := k
			if in.code&bpfX != 0 {
				src = x
			}
			var cond bool
			switch in.code & 0xf0 {
			case 0x00:
				pc += int(k)
				continue
			case 0x10:
				cond = a == src
			case 0x20:
				cond = a > src
			case 0x30:
				cond = a >= src
			case 0x40:
				cond = a&src != 0
			}
			if cond {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case bpfRET:
			switch in.code & 0x18 {
			case bpfA:
				return a
			case bpfX:
				return x
			}
			return k
		case bpfMISC:
			if in.code&0x80 != 0 {
				a = x
			} else {
				x = a
			}
		}
	}
	return 0
}
