package replay

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
)

// annotator writes every record of the capture to an annotated pcapng
// (--write): the same bytes on the same interfaces, each with a comment
// that Wireshark shows and filters on (frame.comment contains "DROP"):
// the verdict, the rule that gave it and the conntrack state, or why the
// packet was not run.
type annotator struct {
	w    *capture.NGWriter
	n    int // interfaces written
	b    strings.Builder
	orig []byte // the record's bytes before the engine ran it
}

func (a *annotator) write(r *Replayer, h *held, now int64, ran bool, skip string) error {
	// The capture's interfaces, in its order, so that their numbers
	// stay the same.
	for a.n <= h.iface && a.n < len(r.ifaces) {
		ifc := r.ifaces[a.n]
		if _, err := a.w.AddInterface(ifc.Name, ifc.Link, capture.MaxPacket); err != nil {
			return err
		}
		a.n++
	}
	a.b.Reset()
	if ran {
		a.verdict(&r.s.Result, r.s.CTState())
	} else {
		a.b.WriteString("not replayed: ")
		a.b.WriteString(skip)
	}
	return a.w.WritePacket(h.iface, h.time, a.orig, h.origLen, h.dir, a.b.String())
}

func (a *annotator) verdict(res *engine.Result, ct ext.CTState) {
	b := &a.b
	switch res.Verdict {
	case engine.AcceptLocal:
		b.WriteString("ACCEPT (to the host)")
	case engine.Forward:
		b.WriteString("FORWARD out " + res.OutIface)
	case engine.Sent:
		b.WriteString("SENT out " + res.OutIface)
	default:
		b.WriteString(strings.ToUpper(res.Verdict.String()))
		if len(res.Hits) > 0 {
			h := res.Hits[len(res.Hits)-1]
			b.WriteString(" " + h.Table + "/" + h.Chain)
			if h.Rule > 0 {
				b.WriteString(" rule " + strconv.Itoa(h.Rule))
			} else {
				b.WriteString(" policy")
			}
		}
	}
	if w := ctWord(ct); w != "" {
		b.WriteString("; ct " + w)
	}
}

func ctWord(st ext.CTState) string {
	switch {
	case st&ext.CTInvalid != 0:
		return "INVALID"
	case st&ext.CTNew != 0:
		return "NEW"
	case st&ext.CTEstablished != 0:
		return "ESTABLISHED"
	case st&ext.CTRelated != 0:
		return "RELATED"
	case st&ext.CTUntracked != 0:
		return "UNTRACKED"
	}
	return ""
}
