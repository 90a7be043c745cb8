package ext

import (
	"sync"
	"unsafe"
)

// Interface names are interned where they are read once (a host's
// interfaces, a rule's -i and -o), so that the per-packet comparison of
// an interface with a rule's name is most often the comparison of two
// pointers (SameName) rather than of their bytes.
var interned struct {
	sync.Mutex
	m map[string]string
}

// Intern returns a string equal to name that shares its bytes with
// every other Intern of an equal name.
func Intern(name string) string {
	interned.Lock()
	defer interned.Unlock()
	if s, ok := interned.m[name]; ok {
		return s
	}
	if interned.m == nil {
		interned.m = map[string]string{}
	}
	name = string(append([]byte(nil), name...)) // not a piece of a larger string
	interned.m[name] = name
	return name
}

// SameName is a == b, at the cost of a pointer comparison when both were
// interned (or are the same string).
func SameName(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}
