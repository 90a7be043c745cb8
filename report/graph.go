package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// collapseRule says, on the page, how chains became nodes.
const collapseRule = "every hook and built-in chain is a node; user chains of one table whose names agree up to their second - or _ (KUBE-SEP-*) are one node with their count when there are 4 or more of them; and a chain's user chains reached from it alone are one node when it has more than 16 of them."

const (
	minPrefixGroup = 4
	maxFanOut      = 16
)

// node is one box of the graph: a hook, a chain or a group of chains.
type node struct {
	id      string // anchor of the chain, hook/NAME, or group/...
	label   string
	sub     string // the second line: numbers
	title   string // the tooltip: the whole name
	kind    string // hook, chain, group
	members []Key  // a group's chains
	layer   int
	pos     float64
	x, y    int
}

type edge struct {
	from, to *node
	rules    int
	packets  uint64
	gotos    bool // every rule of the edge is a goto
	// via are the slots the edge passes through in the layers between
	// its ends (dummy nodes of the layout, in drawing order), so that a
	// long edge goes between the nodes of those layers, never over one;
	// back says it goes right to left (it closes a cycle).
	via  []*node
	back bool
}

// graph is one family's hooks and chains, laid out.
type graph struct {
	nodes   []*node
	edges   []*edge
	chains  int
	callers map[Key][]Key // the rules that jump or go to each chain
	jumped  map[Key]uint64
	w, h    int
	fam     *Family
}

// entries returns how many packets entered a chain and whether that is
// known: traced packets count every entry (Returned is set then), a
// replay the built-in chains'; otherwise a user chain's entries are its
// jumps' and gotos' counters, a built-in chain's are not counted by
// iptables.
func (g *graph) entries(f *Family, k Key) (uint64, bool) {
	if f.Returned != nil {
		return f.Entries[k], true
	}
	if n, ok := f.Entries[k]; ok {
		return n, true
	}
	if _, ok := g.callers[k]; ok {
		return g.jumped[k], true
	}
	return 0, false
}

// groupPrefix is the part of a user chain's name that groups it: up to
// and including its second - or _, or "" when it has fewer.
func groupPrefix(name string) string {
	n := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '-' || name[i] == '_' {
			n++
			if n == 2 && i+1 < len(name) {
				return name[:i+1]
			}
		}
	}
	return ""
}

func buildGraph(f *Family) *graph {
	g := &graph{callers: map[Key][]Key{}, jumped: map[Key]uint64{}, fam: f}
	six := f.IPv6
	byID := map[string]*node{}
	add := func(n *node) *node {
		if o := byID[n.id]; o != nil {
			return o
		}
		byID[n.id] = n
		g.nodes = append(g.nodes, n)
		return n
	}
	// Hooks first, in the order packets meet them.
	used := map[string]bool{}
	for _, t := range f.Rules.Tables {
		for _, c := range t.Chains {
			if c.Builtin {
				used[c.Name] = true
			}
		}
	}
	for _, h := range hooks {
		if used[h] {
			add(&node{id: "hook/" + h + map[bool]string{true: "/ip6"}[six], label: h, sub: "hook", title: h + " hook", kind: "hook"})
		}
	}
	// Which node each chain is: its own, or its group's.
	of := map[Key]*node{}
	for _, t := range f.Rules.Tables {
		prefixes := map[string][]*rules.Chain{}
		for _, c := range t.Chains {
			if p := groupPrefix(c.Name); !c.Builtin && p != "" {
				prefixes[p] = append(prefixes[p], c)
			}
		}
		// Callers of each chain, to find fan-out.
		callers := map[string]map[string]bool{}
		for _, c := range t.Chains {
			for i, r := range c.Rules {
				if tc := t.Chain(r.Verdict); tc != nil && !tc.Builtin {
					k := Key{t.Name, tc.Name, 0}
					g.callers[k] = append(g.callers[k], Key{t.Name, c.Name, i + 1})
					g.jumped[k] += r.Counters.Packets
					if callers[tc.Name] == nil {
						callers[tc.Name] = map[string]bool{}
					}
					callers[tc.Name][c.Name] = true
				}
			}
		}
		for _, c := range t.Chains {
			k := Key{t.Name, c.Name, 0}
			if p := groupPrefix(c.Name); !c.Builtin && p != "" && len(prefixes[p]) >= minPrefixGroup {
				n := add(&node{id: "group/" + anchor(six, Key{t.Name, p + "*", 0}, false), label: t.Name + " " + p + "*", kind: "group"})
				n.members = append(n.members, k)
				of[k] = n
				continue
			}
			of[k] = nil // decided below
		}
		// Fan-out: a chain's user chains reached from it alone, when it
		// has more than maxFanOut of them.
		alone := map[string][]string{}
		for _, c := range t.Chains {
			if of[Key{t.Name, c.Name, 0}] != nil || c.Builtin || len(callers[c.Name]) != 1 {
				continue
			}
			for p := range callers[c.Name] {
				alone[p] = append(alone[p], c.Name)
			}
		}
		for _, c := range t.Chains {
			k := Key{t.Name, c.Name, 0}
			if of[k] != nil {
				continue
			}
			id := anchor(six, k, false)
			n := &node{id: id, label: t.Name + " " + c.Name, title: t.Name + " " + c.Name, kind: "chain", members: []Key{k}}
			if !c.Builtin && len(callers[c.Name]) == 1 {
				for p := range callers[c.Name] {
					if len(alone[p]) > maxFanOut {
						n = &node{id: "group/" + anchor(six, Key{t.Name, p, 0}, false) + "/*", label: t.Name + " from " + p, kind: "group"}
					}
				}
			}
			n = add(n)
			if n.kind == "group" {
				n.members = append(n.members, k)
			}
			of[k] = n
		}
	}
	for _, n := range g.nodes {
		if n.kind == "group" {
			n.title = fmt.Sprintf("%s: %d chains", n.label, len(n.members))
			n.sub = fmt.Sprintf("%d chains", len(n.members))
			if len(n.members) > 0 {
				// a group of chains of one caller is named by it
				n.label += " (" + strconv.Itoa(len(n.members)) + ")"
			}
		}
	}
	// Edges: hooks to their built-in chains, chains to chains.
	eds := map[[2]*node]*edge{}
	link := func(a, b *node, pk uint64, isGoto bool) {
		if a == b {
			return
		}
		e := eds[[2]*node{a, b}]
		if e == nil {
			e = &edge{from: a, to: b, gotos: true}
			eds[[2]*node{a, b}] = e
			g.edges = append(g.edges, e)
		}
		e.rules++
		e.packets += pk
		e.gotos = e.gotos && isGoto
	}
	tables := append([]*rules.Table(nil), f.Rules.Tables...)
	sort.SliceStable(tables, func(i, j int) bool { return tableOrder[tables[i].Name] < tableOrder[tables[j].Name] })
	for _, h := range hooks {
		hn := byID["hook/"+h+map[bool]string{true: "/ip6"}[six]]
		// Every packet that meets a hook enters its first table's
		// chain: that chain's entries are the hook's count, unless the
		// first table is nat, which sees a connection's first packet
		// only: then the most any of its chains saw is a lower bound.
		var most uint64
		known, exact, first := false, false, true
		for _, t := range hookOrder(tables, h) {
			if c := t.Chain(h); c != nil && c.Builtin {
				k := Key{t.Name, c.Name, 0}
				in, ok := g.entries(f, k)
				link(hn, of[k], in, false)
				if ok && (!known || in > most) {
					most, known = in, true
				}
				if first {
					exact = ok && t.Name != "nat"
				}
				first = false
			}
		}
		switch {
		case hn == nil || !known:
		case exact:
			hn.sub = fmt.Sprintf("%d packets", most)
			hn.title = fmt.Sprintf("%s hook: %d packets met it", h, most)
		default:
			hn.sub = fmt.Sprintf("≥ %d packets", most)
			hn.title = fmt.Sprintf("%s hook: at least %d packets met it (its first table is nat, which sees a connection's first packet only)", h, most)
		}
	}
	for _, t := range f.Rules.Tables {
		for _, c := range t.Chains {
			from := of[Key{t.Name, c.Name, 0}]
			for _, r := range c.Rules {
				if tc := t.Chain(r.Verdict); tc != nil && !tc.Builtin {
					link(from, of[Key{t.Name, tc.Name, 0}], r.Counters.Packets, r.Goto)
				}
			}
		}
	}
	for _, n := range g.nodes {
		switch n.kind {
		case "chain":
			g.chains++
			if in, ok := g.entries(f, n.members[0]); ok {
				n.sub = fmt.Sprintf("%d in", in)
			} else if c := f.Rules.Table(n.members[0].Table).Chain(n.members[0].Chain); c != nil {
				n.sub = fmt.Sprintf("%d to policy %s", c.Counters.Packets, c.Policy)
			}
		case "group":
			g.chains += len(n.members)
		}
	}
	g.layout()
	return g
}

// Geometry of the drawing, in SVG units.
const (
	nodeW  = 200
	nodeH  = 34
	slotH  = 8 // the room a long edge takes in a layer it passes
	gapX   = 70
	gapY   = 12
	margin = 8
)

// height is a node's (or a long edge's slot's) height.
func (n *node) height() int {
	if n.kind == "slot" {
		return slotH
	}
	return nodeH
}

// layout places the nodes in layers, Sugiyama-style: each node one
// layer right of its furthest predecessor (edges that close a cycle are
// left out), a long edge given a slot in every layer it passes (so it
// is drawn between that layer's nodes, never over one), then, a few
// times over, each layer ordered by the mean position of its
// predecessors (the barycentre heuristic), which removes most
// crossings.
func (g *graph) layout() {
	succ := map[*node][]*node{}
	pred := map[*node][]*node{}
	for _, e := range g.edges {
		succ[e.from] = append(succ[e.from], e.to)
	}
	// Depth-first order from the hooks (then anything unreached) finds
	// the back edges; the rest is a DAG.
	state := map[*node]int{}
	back := map[[2]*node]bool{}
	var order []*node
	var visit func(n *node)
	visit = func(n *node) {
		state[n] = 1
		for _, s := range succ[n] {
			switch state[s] {
			case 0:
				visit(s)
			case 1:
				back[[2]*node{n, s}] = true
			}
		}
		state[n] = 2
		order = append(order, n)
	}
	for _, n := range g.nodes {
		if state[n] == 0 {
			visit(n)
		}
	}
	// Longest path, in reverse post-order (a topological order).
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		for _, s := range succ[n] {
			if !back[[2]*node{n, s}] && s.layer < n.layer+1 {
				s.layer = n.layer + 1
			}
		}
	}
	var layers [][]*node
	place := func(n *node) {
		for len(layers) <= n.layer {
			layers = append(layers, nil)
		}
		layers[n.layer] = append(layers[n.layer], n)
	}
	for _, n := range g.nodes {
		place(n)
	}
	// Long edges get a slot per layer between their ends, chained left
	// to right for the ordering (a back edge from its target's side).
	for _, e := range g.edges {
		e.back = back[[2]*node{e.from, e.to}]
		left, right := e.from, e.to
		if e.back {
			left, right = e.to, e.from
		}
		prev := left
		var slots []*node
		for l := left.layer + 1; l < right.layer; l++ {
			d := &node{kind: "slot", layer: l}
			place(d)
			pred[d] = append(pred[d], prev)
			slots = append(slots, d)
			prev = d
		}
		if !e.back {
			pred[right] = append(pred[right], prev)
		}
		if e.back {
			for i, j := 0, len(slots)-1; i < j; i, j = i+1, j-1 {
				slots[i], slots[j] = slots[j], slots[i]
			}
		}
		e.via = slots
	}
	for _, l := range layers {
		for i, n := range l {
			n.pos = float64(i)
		}
	}
	for sweep := 0; sweep < 4; sweep++ {
		for _, l := range layers[1:] {
			for _, n := range l {
				if ps := pred[n]; len(ps) > 0 {
					sum := 0.0
					for _, p := range ps {
						sum += p.pos
					}
					n.pos = sum / float64(len(ps))
				}
			}
			sort.SliceStable(l, func(i, j int) bool { return l[i].pos < l[j].pos })
			for i, n := range l {
				n.pos = float64(i)
			}
		}
	}
	tall := 0
	heights := make([]int, len(layers))
	for li, l := range layers {
		for i, n := range l {
			if i > 0 {
				heights[li] += gapY
			}
			heights[li] += n.height()
		}
		tall = max(tall, heights[li])
	}
	for li, l := range layers {
		// Centre short layers against the tallest.
		y := margin + (tall-heights[li])/2
		for _, n := range l {
			n.x = margin + li*(nodeW+gapX)
			n.y = y
			y += n.height() + gapY
		}
	}
	g.w = 2*margin + len(layers)*(nodeW+gapX) - gapX
	g.h = 2*margin + tall
}

// point is a place on the drawing.
type point struct{ x, y int }

// route returns the points an edge is drawn through: from the side of
// its source that faces its way, across each slot of the layers it
// passes, to the facing side of its target. Between two points that
// are not in one slot lies one gap between layers, where no node is.
func (e *edge) route() []point {
	out, in := e.from.x+nodeW, e.to.x
	if e.back {
		out, in = e.from.x, e.to.x+nodeW
	}
	ps := []point{{out, e.from.y + nodeH/2}}
	for _, d := range e.via {
		y := d.y + slotH/2
		if e.back {
			ps = append(ps, point{d.x + nodeW, y}, point{d.x, y})
		} else {
			ps = append(ps, point{d.x, y}, point{d.x + nodeW, y})
		}
	}
	return append(ps, point{in, e.to.y + nodeH/2})
}

// pathData is the SVG path of an edge: straight through the slots,
// a curve across each gap whose control points stay in the gap.
func (e *edge) pathData() string {
	ps := e.route()
	var b strings.Builder
	fmt.Fprintf(&b, "M%d,%d", ps[0].x, ps[0].y)
	for i := 1; i < len(ps); i++ {
		a, c := ps[i-1], ps[i]
		if i%2 == 0 {
			fmt.Fprintf(&b, "L%d,%d", c.x, c.y) // through a slot
			continue
		}
		dx := (c.x - a.x) / 2
		fmt.Fprintf(&b, "C%d,%d %d,%d %d,%d", a.x+dx, a.y, c.x-dx, c.y, c.x, c.y)
	}
	return b.String()
}

// clip shortens a label to fit a box (the whole text is in its title).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func (g *graph) svg(p *page) {
	p.printf("<div class=\"graph\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" role=\"img\" aria-label=\"hooks, chains, jumps and gotos\">", g.w, g.h, g.w)
	p.s("<defs><marker id=\"arr\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\"/></marker></defs>")
	labels := len(g.edges) <= 300
	for _, e := range g.edges {
		ps := e.route()
		// the label sits in the first gap
		x1, y1, x2, y2 := ps[0].x, ps[0].y, ps[1].x, ps[1].y
		cls := "e"
		if e.gotos && e.from.kind != "hook" {
			cls += " goto"
		}
		p.printf("<path class=\"%s\" d=\"%s\" marker-end=\"url(#arr)\">", cls, e.pathData())
		if e.from.kind != "hook" {
			p.printf("<title>%s → %s: %d rules, %d packets</title>", esc(e.from.title), esc(e.to.title), e.rules, e.packets)
		} else if e.from.sub != "hook" {
			p.printf("<title>%s → %s: %d packets in</title>", esc(e.from.label), esc(e.to.title), e.packets)
		}
		p.s("</path>")
		if labels && e.from.kind != "hook" {
			p.printf("<text class=\"el\" x=\"%d\" y=\"%d\">%d/%d</text>", (x1+x2)/2, (y1+y2)/2-3, e.rules, e.packets)
		}
	}
	for _, n := range g.nodes {
		target := n.id
		if n.kind == "hook" {
			target = ""
		}
		if target != "" {
			p.printf("<a href=\"%s\" class=\"node %s\" data-node=\"%s\">", href(target), n.kind, esc(n.id))
		} else {
			p.printf("<g class=\"node hook\" data-node=\"%s\">", esc(n.id))
		}
		p.printf("<title>%s</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"5\"/>", esc(n.title), n.x, n.y, nodeW, nodeH)
		p.printf("<text x=\"%d\" y=\"%d\">%s</text>", n.x+6, n.y+14, esc(clip(n.label, 30)))
		p.printf("<text class=\"sub\" x=\"%d\" y=\"%d\">%s</text>", n.x+6, n.y+28, esc(n.sub))
		if target != "" {
			p.s("</a>")
		} else {
			p.s("</g>")
		}
	}
	p.s("</svg></div>\n")
	// The groups, expanded: their chains, with links.
	for _, n := range g.nodes {
		if n.kind != "group" {
			continue
		}
		p.printf("<details class=\"group\" id=\"%s\"><summary>%s</summary><ul class=\"members\">", esc(n.id), esc(n.title))
		for _, k := range n.members {
			id := anchor(strings.HasPrefix(n.id, "group/ip6/"), k, false)
			p.printf("<li><a href=\"%s\">%s</a></li>", href(id), escText(k.Chain))
		}
		p.s("</ul></details>\n")
	}
}

// hookOrder is the order in which a packet meets the tables at hook h,
// by their priorities: raw -300, mangle -150, nat -100 where it
// translates the destination (PREROUTING, OUTPUT), filter 0, security
// 50, nat 100 where it translates the source (INPUT, POSTROUTING).
func hookOrder(tables []*rules.Table, h string) []*rules.Table {
	prio := map[string]int{"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
	if h == "INPUT" || h == "POSTROUTING" {
		prio["nat"] = 100
	}
	out := append([]*rules.Table(nil), tables...)
	sort.SliceStable(out, func(i, j int) bool { return prio[out[i].Name] < prio[out[j].Name] })
	return out
}
