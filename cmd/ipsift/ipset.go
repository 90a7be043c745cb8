package main

import (
	"bytes"
	"io"
	"os"

	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/rules"
)

// setsClock is the clock of the sets kept in a file: a file is a
// snapshot, so their timeouts do not run down between two commands (they
// start when a simulation or the daemon loads the file).
const setsClock = 0

// feIpset is the ipset front end: the ipset 7.17 command line acting on
// the sets kept before the rules in $IPSIFT_RULES. A command that
// changes nothing or fails leaves the file as it was.
func feIpset(rs *rules.Ruleset, sets *ipset.Registry, path string, args []string, stdout, stderr io.Writer) int {
	before := saveSets(sets)
	c := &ipset.Cmd{R: sets, Now: func() int64 { return setsClock }, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}
	code := c.Run(args)
	after := saveSets(sets)
	if string(before) == string(after) {
		return code
	}
	// ipset restore keeps what it applied before an error, as the kernel does
	if w := writeRules(rs, sets, path, stderr); w != exitOK {
		return w
	}
	return code
}

func saveSets(r *ipset.Registry) []byte {
	var b bytes.Buffer
	_ = r.Save(&b, "", setsClock)
	return b.Bytes()
}
