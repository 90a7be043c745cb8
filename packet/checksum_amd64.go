//go:build amd64 && !purego

package packet

// addWords returns s plus the little-endian 64-bit words of b (its
// first len(b)&^7 bytes), a one's complement sum: every carry out of
// bit 63 is added back in. The assembly keeps the carry in the flags
// from one word to the next (ADC with the word read from memory), one
// instruction per 8 bytes, where the compiler's bits.Add64 chain loads
// each word first and saves and restores the carry around each block:
// the checksum of a 1,400-byte packet in about 200 instructions instead
// of about 540 (BENCHMARKS.md, "Replay: reading and checksums").
//
//go:noescape
func addWords(s uint64, b []byte) uint64
