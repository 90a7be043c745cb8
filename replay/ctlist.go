package replay

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ipsift/ipsift/conntrack"
)

// ReadConntrackList reads the output of `conntrack -L -o extended` (the
// table when the capture began) into connections to preload
// (Options.Preload, --conntrack). A line reads
//
//	ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=203.0.113.5 sport=40000 dport=80 src=203.0.113.5 dst=198.51.100.1 sport=80 dport=40000 [ASSURED] mark=0 use=1
//
// (ICMP with type=, code=, id= instead of ports). Errors name the line
// and column. Entries of a conntrack zone other than 0 are refused:
// ipsift's table has no zones.
func ReadConntrackList(r io.Reader, name string) ([]conntrack.Preload, error) {
	var out []conntrack.Preload
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "conntrack v") {
			continue // the tool's own summary line goes to stderr, but copies keep it
		}
		p, col, err := conntrack.ParseListLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d:%d: %v", name, line, col, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}
