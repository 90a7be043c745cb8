package script

// The syntax tree the parser builds (parse.go) from the tokens and words
// the lexer reads (lex.go).

// partKind says what one piece of a word is.
type partKind uint8

const (
	pLit   partKind = iota // literal text, after quote removal
	pParam                 // $X, ${X}, ${X:-word}, $1, $@, ...
	pCmd                   // $(...) or `...`: never run
	pArith                 // $((...))
	pArray                 // (a b c) in NAME=(a b c)
)

// part is one piece of a word.
type part struct {
	kind   partKind
	quoted bool // inside quotes or escaped: not subject to field splitting
	pos    int  // source offset where the part starts ('$' for expansions)
	end    int  // source offset just after the part

	lit  []byte  // pLit: the text
	offs []int32 // pLit: source offset of each byte of lit

	// pParam
	name   string // "X", "1", "@", "#", ...
	index  string // ${A[index]}: the index as written ("@", "*", "0", "$i")
	hasIdx bool
	op     string // "", ":-", "-", ":=", "#", "##", "%", "/", ":", "len", "bad", ...
	arg    *word  // the word after the operator
	arg2   *word  // ${X/pat/rep}: rep
	brace  bool   // written with braces

	raw   string  // pCmd, pArith: the text inside
	elems []*word // pArray
}

// word is one shell word as written: the parts between blanks.
type word struct {
	parts    []part
	pos, end int
}

// lit returns the word's text when it is one unquoted literal (as
// reserved words, names and operators must be), else "".
func (w *word) lit() (string, bool) {
	if len(w.parts) != 1 || w.parts[0].kind != pLit || w.parts[0].quoted {
		return "", false
	}
	return string(w.parts[0].lit), true
}

// addLit appends text written at offset off (each byte one further, which
// holds for text copied straight from the source).
func (w *word) addLit(b []byte, off int, quoted bool) {
	offs := make([]int32, len(b))
	for i := range b {
		offs[i] = int32(off + i)
	}
	w.addLitOffs(b, offs, quoted)
}

func (w *word) addLitOffs(b []byte, offs []int32, quoted bool) {
	if n := len(w.parts); n > 0 && w.parts[n-1].kind == pLit && w.parts[n-1].quoted == quoted && len(b) > 0 {
		p := &w.parts[n-1]
		p.lit = append(p.lit, b...)
		p.offs = append(p.offs, offs...)
		p.end = int(offs[len(offs)-1]) + 1
		return
	}
	p := part{kind: pLit, quoted: quoted, lit: append([]byte(nil), b...), offs: append([]int32(nil), offs...)}
	if len(offs) > 0 {
		p.pos, p.end = int(offs[0]), int(offs[len(offs)-1])+1
	}
	w.parts = append(w.parts, p)
}

// Syntax tree. Every command records where it starts.

type listNode struct {
	items    []*andOr
	pos, end int
}

type andOr struct {
	pipes []*pipeline
	ops   []string // "&&" or "||" before pipes[i+1]
}

type pipeline struct {
	bang bool
	cmds []command
	pos  int
}

// command is one of the *...Cmd / *...Node types below.
type command interface{ start() int }

type cmdBase struct {
	pos    int
	redirs []*redir
}

func (c *cmdBase) start() int { return c.pos }

type simpleCmd struct {
	cmdBase
	assigns []*word // NAME=value words before the command name
	words   []*word
}

type ifNode struct {
	cmdBase
	conds, bodies []*listNode
	els           *listNode
}

type forNode struct {
	cmdBase
	name  string
	words []*word // nil with hasIn false: loop over "$@"
	hasIn bool
	body  *listNode
}

type arithForNode struct {
	cmdBase
	init, cond, step string
	body             *listNode
}

type whileNode struct {
	cmdBase
	until      bool
	cond, body *listNode
}

type caseArm struct {
	pats []*word
	body *listNode
	pos  int
}

type caseNode struct {
	cmdBase
	subject *word
	arms    []caseArm
}

type groupNode struct {
	cmdBase
	body     *listNode
	subshell bool
}

type funcDef struct {
	cmdBase
	name string
	body command
}

type arithCmd struct {
	cmdBase
	expr string
}

type condCmd struct {
	cmdBase
	words []*word
}

// redir is a redirection; only '<' and here-documents matter (to tell
// what an iptables-restore would read), the others are parsed and dropped.
type redir struct {
	op     string
	target *word
	here   *heredoc
	pos    int
}

type heredoc struct {
	delim  string
	strip  bool // <<-: leading tabs removed
	expand bool // delimiter unquoted: $ expansions in the body
	body   word // the body as a word (quoted parts: no field splitting)
	pos    int  // where the body starts
	done   bool
}
