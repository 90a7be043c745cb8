package ipset

// Error is an ipset error, worded as ipset 7.17 words the kernel's
// answer (lib/errcode.c). Usage errors (a missing argument) exit with
// status 2, the others with 1.
type Error struct {
	Msg   string
	Code  int
	Usage bool
}

func (e *Error) Error() string { return e.Msg }

const (
	errInvalidCIDR = iota + 1
	errCodeExist
	errCodeNotAdded
	errCodeFull
	errCodeRange
	errCodeRef
	errCodeNoSet
)

var (
	errExist    = &Error{Msg: "Element cannot be added to the set: it's already added", Code: errCodeExist}
	errNotAdded = &Error{Msg: "Element cannot be deleted from the set: it's not added", Code: errCodeNotAdded}
	errHashFull = &Error{Msg: "Hash is full, cannot add more elements", Code: errCodeFull}
	errOutRange = &Error{Msg: "Element is out of the range of the set", Code: errCodeRange}
	errNoSet    = &Error{Msg: "The set with the given name does not exist", Code: errCodeNoSet}
	errZero     = &Error{Msg: "Zero valued element is not allowed"}
)

func errf(msg string) error { return &Error{Msg: msg} }
