package ext

import "github.com/ipsift/ipsift/classify"

// Classifiable is implemented by compiled Matchers whose tests the
// engine's chain classifier (package classify) may index. Such a
// matcher keeps no state, changes nothing, and never asks for a hotdrop
// on a regular packet: one that is not a later fragment and holds its
// protocol's fixed header (the only packets the engine classifies).
//
// Classify narrows r by the tests the matcher makes and returns true.
// It may leave tests out (r only has to be a necessary condition of the
// match: the engine still runs the matcher on every rule the classifier
// finds), but must never add one the matcher does not make. It returns
// false when it cannot promise the above (a --tcp-option scan can
// hotdrop a regular packet): the engine then indexes none of the rule's
// matches from this one on, so that the rule is still tried whenever a
// linear walk would have reached this matcher.
type Classifiable interface {
	Classify(r *classify.Rule) bool
}

// ExactClassifiable is a Classifiable that can also tell when the tests
// it indexed are all the tests it makes: then a rule the classifier
// finds needs no call of its Match (the engine skips it), which on a
// big ruleset's stateless packet is most of what is left of the rule
// after the lookup.
type ExactClassifiable interface {
	Classifiable
	// ClassifyExact narrows r as Classify does and reports exact when
	// r now holds every test Match makes on a regular packet (see
	// Classifiable) whose protocol is proto (the rule's -p, which the
	// classifier tests; 0 when the rule gives none or negates it).
	ClassifyExact(r *classify.Rule, proto uint8) (ok, exact bool)
}

// portsExact reports that classifyPorts indexes both port tests whole:
// neither is negated.
func portsExact(invSrc, invDst bool) bool { return !invSrc && !invDst }

// flagsExact reports that a tcp flags test (mask, cmp, inv; Match makes
// it only when mask is set) is indexed whole by NarrowTCPFlags on r as
// it is before the call: the classifier keeps one flags test a rule.
func flagsExact(r *classify.Rule, mask uint8) bool { return mask == 0 || r.TCPMask == 0 }
