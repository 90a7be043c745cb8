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
