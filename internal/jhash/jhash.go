// Package jhash is the kernel's jhash (include/linux/jhash.h: Bob
// Jenkins' lookup3 over 32-bit words), with which the kernel hashes
// what ipsift must hash the same way: ipset's hash tables, NAT's
// spreading of connections over an address range, -m cluster, HMARK
// and NFQUEUE --queue-balance. Words are given as the kernel reads them
// from memory: an IPv4 address stored in network order and read through
// a u32 pointer on a little-endian machine (x86) is le32(addr).
package jhash

import "math/bits"

// initval is the kernel's JHASH_INITVAL.
const initval = 0xdeadbeef

// final is __jhash_final.
func final(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// Words is jhash2: the hash of the words k.
func Words(k []uint32, seed uint32) uint32 {
	a := initval + uint32(len(k))<<2 + seed
	b, c := a, a
	for len(k) > 3 {
		a += k[0]
		b += k[1]
		c += k[2]
		// __jhash_mix
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 6)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 8)
		b += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 19)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 4)
		b += a
		k = k[3:]
	}
	switch len(k) {
	case 3:
		c += k[2]
		fallthrough
	case 2:
		b += k[1]
		fallthrough
	case 1:
		a += k[0]
		c = final(a, b, c)
	}
	return c
}

// Word1 is jhash_1word.
func Word1(a, seed uint32) uint32 {
	iv := seed + initval + 1<<2
	return final(a+iv, iv, iv)
}

// Words3 is jhash_3words.
func Words3(a, b, c, seed uint32) uint32 {
	iv := seed + initval + 3<<2
	return final(a+iv, b+iv, c+iv)
}
