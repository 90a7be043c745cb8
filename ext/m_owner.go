package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The owner match (-m owner, libxt_owner revision 1 and the kernel's
// xt_owner) tests the socket a locally generated packet comes from: its
// existence and the file system user and group of the process that owns
// it (Ctx.UID and Ctx.GID, -1 when the packet has no socket). The kernel
// allows it only in OUTPUT and POSTROUTING.

// XT_OWNER_* bits.
const (
	ownerUID    = 1 << 0
	ownerGID    = 1 << 1
	ownerSocket = 1 << 2
	ownerSuppl  = 1 << 3
)

// ownerUsers and ownerGroups are the names ipsift knows without reading
// the host's /etc/passwd and /etc/group: Debian's base-passwd, which every
// Debian-like system has with the same numbers.
var ownerUsers = map[string]uint32{
	"root": 0, "daemon": 1, "bin": 2, "sys": 3, "sync": 4, "games": 5, "man": 6,
	"lp": 7, "mail": 8, "news": 9, "uucp": 10, "proxy": 13, "www-data": 33,
	"backup": 34, "list": 38, "irc": 39, "nobody": 65534,
}

var ownerGroups = map[string]uint32{
	"root": 0, "daemon": 1, "bin": 2, "sys": 3, "adm": 4, "tty": 5, "disk": 6,
	"lp": 7, "mail": 8, "news": 9, "uucp": 10, "man": 12, "proxy": 13, "kmem": 15,
	"dialout": 20, "fax": 21, "voice": 22, "cdrom": 24, "floppy": 25, "tape": 26,
	"sudo": 27, "audio": 29, "dip": 30, "www-data": 33, "backup": 34,
	"operator": 37, "list": 38, "irc": 39, "src": 40, "shadow": 42, "utmp": 43,
	"video": 44, "sasl": 45, "plugdev": 46, "staff": 50, "games": 60,
	"users": 100, "nogroup": 65534,
}

func ownerName(names map[string]uint32, id uint32) string {
	best := ""
	for n, v := range names {
		if v == id && (best == "" || n < best) {
			best = n
		}
	}
	return best
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "owner",
		Family: AnyFamily,
		Hooks:  HookLocalOut | HookPostRouting,
		Options: []Option{
			{Name: "uid-owner", Arg: OneArg, Invert: true},
			{Name: "gid-owner", Arg: OneArg, Invert: true},
			{Name: "socket-exists", Invert: true},
			{Name: "suppl-groups"},
		},
		New: func() Match { return &ownerMatch{} },
	})
}

// ownerMatch is one -m owner in a rule (struct xt_owner_match_info).
type ownerMatch struct {
	uidMin, uidMax uint32
	gidMin, gidMax uint32
	match, invert  uint8
}

// parseOwnerRange reads a name or "ID[-ID]" (also "ID:ID"), as
// owner_parse_range does; -1 (4294967295) is reserved.
func parseOwnerRange(arg string, names map[string]uint32, what string) (lo, hi uint32, err error) {
	if id, ok := names[arg]; ok {
		return id, id, nil
	}
	bad := fmt.Errorf("bad value %q: write a %s name ipsift knows (root, nobody ...) or a number or range such as 1000-1999", arg, what)
	v, rest, ok := StrtoulPrefix(arg, 0, 0, 1<<32-2)
	if !ok {
		return 0, 0, bad
	}
	lo, hi = uint32(v), uint32(v)
	if rest != "" && (rest[0] == '-' || rest[0] == ':') {
		w, r2, ok := StrtoulPrefix(rest[1:], 0, 0, 1<<32-2)
		if !ok {
			return 0, 0, bad
		}
		hi, rest = uint32(w), r2
	}
	if rest != "" {
		return 0, 0, bad
	}
	return lo, hi, nil
}

// Parse implements Parser.
func (m *ownerMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	var bit uint8
	switch opt {
	case "uid-owner":
		lo, hi, err := parseOwnerRange(arg, ownerUsers, "user")
		if err != nil {
			return err
		}
		m.uidMin, m.uidMax, bit = lo, hi, ownerUID
	case "gid-owner":
		lo, hi, err := parseOwnerRange(arg, ownerGroups, "group")
		if err != nil {
			return err
		}
		m.gidMin, m.gidMax, bit = lo, hi, ownerGID
	case "socket-exists":
		bit = ownerSocket
	case "suppl-groups":
		if m.match&ownerGID == 0 {
			return fmt.Errorf("bad value: you need to use --gid-owner first (write --gid-owner GID --suppl-groups)")
		}
		bit = ownerSuppl
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	m.match |= bit
	if invert {
		m.invert |= bit
	}
	return nil
}

// Finish implements Parser.
func (m *ownerMatch) Finish(*RuleInfo) error {
	if m.match == 0 {
		return fmt.Errorf("at least one of --uid-owner, --gid-owner or --socket-exists is required")
	}
	return nil
}

func (m *ownerMatch) item(b *strings.Builder, label string, flag uint8, numeric bool) {
	if m.match&flag == 0 {
		return
	}
	if m.invert&flag != 0 {
		b.WriteString(" !")
	}
	b.WriteString(" " + label)
	one := func(lo, hi uint32, names map[string]uint32) {
		if lo != hi {
			b.WriteString(" " + strconv.FormatUint(uint64(lo), 10) + "-" + strconv.FormatUint(uint64(hi), 10))
			return
		}
		if !numeric {
			if n := ownerName(names, lo); n != "" {
				b.WriteString(" " + n)
				return
			}
		}
		b.WriteString(" " + strconv.FormatUint(uint64(lo), 10))
	}
	switch flag {
	case ownerUID:
		one(m.uidMin, m.uidMax, ownerUsers)
	case ownerGID:
		one(m.gidMin, m.gidMax, ownerGroups)
	}
}

// Save implements Parser.
func (m *ownerMatch) Save(b *strings.Builder) {
	m.item(b, "--socket-exists", ownerSocket, true)
	m.item(b, "--uid-owner", ownerUID, true)
	m.item(b, "--gid-owner", ownerGID, true)
	m.item(b, "--suppl-groups", ownerSuppl, true)
}

// Print implements Parser.
func (m *ownerMatch) Print(b *strings.Builder, numeric bool) {
	m.item(b, "owner socket exists", ownerSocket, numeric)
	m.item(b, "owner UID match", ownerUID, numeric)
	m.item(b, "owner GID match", ownerGID, numeric)
	m.item(b, "incl. suppl. groups", ownerSuppl, numeric)
}

// Compile implements Match.
func (m *ownerMatch) Compile(*Compiler) (Matcher, error) {
	om := *m
	return &om, nil
}

// Match implements Matcher: owner_mt. A packet without a socket
// (Ctx.UID < 0: forwarded, or sent by the kernel itself) matches only
// rules whose every test is inverted. ipsift knows the owner's primary
// group only, so --suppl-groups adds nothing yet.
func (m *ownerMatch) Match(c *Ctx) bool {
	if c.UID < 0 {
		return m.match^m.invert == 0
	}
	if m.match&m.invert&ownerSocket != 0 {
		return false
	}
	if m.match&ownerUID != 0 {
		in := uint32(c.UID) >= m.uidMin && uint32(c.UID) <= m.uidMax
		if in == (m.invert&ownerUID != 0) {
			return false
		}
	}
	if m.match&ownerGID != 0 {
		in := c.GID >= 0 && uint32(c.GID) >= m.gidMin && uint32(c.GID) <= m.gidMax
		if in == (m.invert&ownerGID != 0) {
			return false
		}
	}
	return true
}

// Explain implements Explainer.
func (m *ownerMatch) Explain(c *Ctx, matched bool) string {
	if c.UID < 0 {
		return "owner: the packet has no local socket"
	}
	return fmt.Sprintf("owner: the packet's socket belongs to uid %d gid %d", c.UID, c.GID)
}
