// Package examples holds the example rulesets ipsift ships, so that
// `ipsift demo` works on a machine with nothing else: gateway.rules (the
// ten ideas of a popular iptables how-to as one working ruleset) and
// article-as-printed.sh (the same rules as the how-to printed them, with
// its typos), and ipv6.rules (the host's IPv6 rules).
package examples

import _ "embed"

// GatewayRules is gateway.rules, an iptables-restore file.
//
//go:embed gateway.rules
var GatewayRules []byte

// IPv6Rules is ipv6.rules, an ip6tables-restore file: the IPv6 half of
// the same host.
//
//go:embed ipv6.rules
var IPv6Rules []byte

// ArticleAsPrinted is article-as-printed.sh, a shell script.
//
//go:embed article-as-printed.sh
var ArticleAsPrinted []byte
