package fwtest_test

import (
	"testing"

	"github.com/ipsift/ipsift/fwtest"
)

// TestGatewaySpec runs examples/gateway.spec, the unit tests of the
// how-to's gateway, as any project would run its firewall's spec from
// go test: each case is a subtest.
func TestGatewaySpec(t *testing.T) {
	fwtest.Check(t, "../examples/gateway.spec")
}
