//go:build !amd64 || purego

package packet

// addWords returns s plus the little-endian 64-bit words of b (its
// first len(b)&^7 bytes), a one's complement sum (see addWordsGo).
func addWords(s uint64, b []byte) uint64 { return addWordsGo(s, b) }
