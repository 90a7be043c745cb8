package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The x_tables socket options of ip_tables and ip6_tables
// (linux/netfilter_ipv4/ip_tables.h, linux/netfilter_ipv6/ip6_tables.h):
// the same numbers, read at level SOL_IP on a raw AF_INET socket or at
// SOL_IPV6 on a raw AF_INET6 one.
const (
	iptSoGetInfo    = 64 // IPT_SO_GET_INFO, IP6T_SO_GET_INFO: struct ipt_getinfo
	iptSoGetEntries = 65 // IPT_SO_GET_ENTRIES, IP6T_SO_GET_ENTRIES: struct ipt_get_entries + blob
)

// Layouts, in bytes, of the structures those options return (native
// byte order, as the kernel writes them). ip6t_getinfo and
// ip6t_get_entries are laid out as their IPv4 twins; only the entry
// differs.
const (
	xtTableMaxNameLen = 32 // XT_TABLE_MAXNAMELEN

	// struct ipt_getinfo: name[32], valid_hooks, hook_entry[5],
	// underflow[5], num_entries, size (all unsigned int).
	getinfoValidHooks = 32
	getinfoHookEntry  = 36
	getinfoUnderflow  = 56
	getinfoSize       = 80
	sizeofGetinfo     = 84

	// struct ipt_get_entries: name[32], size, then the entries,
	// aligned to 8 for their u64 counters.
	getEntriesSize      = 32
	sizeofGetEntriesHdr = 40

	// struct xt_entry_target: target_size (u16), name[29], revision,
	// then the target's data (for ERROR, the chain name).
	targetName    = 2
	targetNameLen = 29
	sizeofTarget  = 32
)

// entryLayout places the fields of one family's rule entry.
type entryLayout struct {
	targetOffset, nextOffset, pcnt, bcnt, size int
}

var (
	// struct ipt_entry: struct ipt_ip (84 bytes), nfcache, target_offset
	// (u16), next_offset (u16), comefrom, struct xt_counters {pcnt, bcnt}.
	iptEntry = entryLayout{targetOffset: 88, nextOffset: 90, pcnt: 96, bcnt: 104, size: 112}
	// struct ip6t_entry: struct ip6t_ip6 (four in6_addr, four 16-byte
	// interface fields, proto u16, tos, flags, invflags: 133 bytes,
	// padded to 136), nfcache, target_offset, next_offset, comefrom,
	// then the counters at the next multiple of 8.
	ip6tEntry = entryLayout{targetOffset: 140, nextOffset: 142, pcnt: 152, bcnt: 160, size: 168}
)

// legacyFamily is what differs between ip_tables and ip6_tables for
// reading counters.
type legacyFamily struct {
	names  string // the /proc/net file listing the tables
	domain int
	level  int
	entry  entryLayout
}

var legacyFamilies = map[family]legacyFamily{
	ipv4: {"ip_tables_names", unix.AF_INET, unix.SOL_IP, iptEntry},
	ipv6: {"ip6_tables_names", unix.AF_INET6, unix.SOL_IPV6, ip6tEntry},
}

// hookNames names the built-in chains by netfilter hook number
// (NF_INET_PRE_ROUTING .. NF_INET_POST_ROUTING).
var hookNames = [5]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// legacyAttempts bounds the retries when a table is replaced between
// IPT_SO_GET_INFO and IPT_SO_GET_ENTRIES (the kernel says EAGAIN).
const legacyAttempts = 10

// legacyCounters reads, in the calling thread's namespace, what
// iptables-legacy-save -c (ip6tables-legacy-save -c) shows: the tables
// listed in /proc/net/ip_tables_names (ip6_tables_names), which is what
// the tool dumps.
// Asking the kernel for a table by name would instead create it in the
// namespace (x_tables instantiates a table on first use), and a nat
// table that exists changes what the kernel does with connections.
func legacyCounters(fam family) (map[RuleKey]Counter, error) {
	lf := legacyFamilies[fam]
	out := make(map[RuleKey]Counter)
	// thread-self: /proc/net would show the namespace of the process's
	// main thread, not of this one.
	names, err := os.ReadFile("/proc/thread-self/net/" + lf.names)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil // ip_tables not loaded: no table anywhere
	}
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(lf.domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("opening a raw socket: %w", err)
	}
	defer unix.Close(fd)
	for _, table := range strings.Fields(string(names)) {
		if err := legacyTable(fd, lf, table, out); err != nil {
			return nil, fmt.Errorf("table %s: %w", table, err)
		}
	}
	return out, nil
}

// legacyTable reads one table's entries and adds its counters to out.
func legacyTable(fd int, lf legacyFamily, table string, out map[RuleKey]Counter) error {
	if len(table) >= xtTableMaxNameLen {
		return errors.New("table name too long")
	}
	for attempt := 1; ; attempt++ {
		info := make([]byte, sizeofGetinfo)
		copy(info, table)
		if err := getsockopt(fd, lf.level, iptSoGetInfo, info); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // removed since the listing
			}
			return fmt.Errorf("IPT_SO_GET_INFO: %w", err)
		}
		size := binary.NativeEndian.Uint32(info[getinfoSize:])
		entries := make([]byte, sizeofGetEntriesHdr+int(size))
		copy(entries, table)
		binary.NativeEndian.PutUint32(entries[getEntriesSize:], size)
		err := getsockopt(fd, lf.level, iptSoGetEntries, entries)
		if errors.Is(err, unix.EAGAIN) && attempt < legacyAttempts {
			continue // the table changed size in between: ask again
		}
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("IPT_SO_GET_ENTRIES: %w", err)
		}
		return walkEntries(lf.entry, table, info, entries[sizeofGetEntriesHdr:], out)
	}
}

// walkEntries splits a table's blob into chains as libiptc does and adds
// the counters to out. A chain starts at a hook entry (a built-in chain)
// or at an ERROR entry naming it (a user chain; the ERROR entry itself is
// no rule). The last entry of each chain is its foot: for a built-in
// chain the policy (the entry at its underflow), for a user chain the
// implicit RETURN, which iptables does not show. The table's last entry
// is the ERROR terminator.
func walkEntries(el entryLayout, table string, info, blob []byte, out map[RuleKey]Counter) error {
	validHooks := binary.NativeEndian.Uint32(info[getinfoValidHooks:])
	hookAt := make(map[int]string)    // offset of a built-in chain's first entry → its name
	underflow := make(map[string]int) // built-in chain → offset of its policy
	for h, name := range hookNames {
		if validHooks&(1<<h) != 0 {
			hookAt[int(binary.NativeEndian.Uint32(info[getinfoHookEntry+4*h:]))] = name
			underflow[name] = int(binary.NativeEndian.Uint32(info[getinfoUnderflow+4*h:]))
		}
	}

	var chain string // "" before the first chain starts
	var builtin bool
	var counters []Counter // the current chain's entries, foot included
	var lastOff int        // offset of the current chain's last entry
	finish := func() error {
		if chain == "" {
			return nil
		}
		if len(counters) == 0 {
			return fmt.Errorf("chain %s has no entries", chain)
		}
		if builtin {
			if lastOff != underflow[chain] {
				return fmt.Errorf("chain %s ends at offset %d, its underflow is %d", chain, lastOff, underflow[chain])
			}
			out[RuleKey{table, chain, 0}] = counters[len(counters)-1]
		}
		for i, c := range counters[:len(counters)-1] {
			out[RuleKey{table, chain, i + 1}] = c
		}
		return nil
	}

	for off := 0; off < len(blob); {
		if len(blob)-off < el.size {
			return fmt.Errorf("truncated entry at offset %d", off)
		}
		e := blob[off:]
		tOff := int(binary.NativeEndian.Uint16(e[el.targetOffset:]))
		next := int(binary.NativeEndian.Uint16(e[el.nextOffset:]))
		if tOff < el.size || next < tOff+sizeofTarget || next > len(e) {
			return fmt.Errorf("malformed entry at offset %d (target_offset %d, next_offset %d)", off, tOff, next)
		}
		if off+next == len(blob) {
			break // the ERROR entry that ends the table
		}
		target := e[tOff:next]
		c := Counter{
			Packets: binary.NativeEndian.Uint64(e[el.pcnt:]),
			Bytes:   binary.NativeEndian.Uint64(e[el.bcnt:]),
		}
		if cString(target[targetName:targetName+targetNameLen]) == "ERROR" {
			if err := finish(); err != nil {
				return err
			}
			chain, builtin, counters = cString(target[sizeofTarget:]), false, nil
		} else {
			if name, ok := hookAt[off]; ok {
				if err := finish(); err != nil {
					return err
				}
				chain, builtin, counters = name, true, nil
			}
			if chain == "" {
				return fmt.Errorf("entry at offset %d belongs to no chain", off)
			}
			counters = append(counters, c)
			lastOff = off
		}
		off += next
	}
	return finish()
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// getsockopt reads socket option opt into buf, whose length is the size
// the option expects (x/sys/unix has no wrapper for these structures).
func getsockopt(fd, level, opt int, buf []byte) error {
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
