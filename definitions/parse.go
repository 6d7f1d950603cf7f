package definitions

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relay-dev/relay/connectors"
)

var (
	flowIDPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	identifierPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLinePattern   = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
)

// maxAliasExpansion bounds the nodes a file may reach through YAML aliases,
// so that a small file cannot expand into a huge one.
const maxAliasExpansion = 100_000

// Parse parses and validates one definition file. reg supplies the
// connectors and actions that calls may use; a nil reg skips those checks.
// On failure it returns Errors holding every problem found, sorted by
// position, and a nil Flow.
func Parse(file string, data []byte, reg *connectors.Registry) (*Flow, error) {
	f, p := parse(file, data, reg, false)
	if len(p.errs) > 0 {
		return nil, p.errs.err()
	}
	return f, nil
}

// ParsePinned parses a definition a run is pinned to, which Parse accepted
// when the run started: for the worker that runs it, and for its replays.
// It leaves out the checks added since that only refuse what used to load
// and still runs as it did, so that no run in flight fails when its worker
// is upgraded: reading a step of a foreach body after the loop, or the
// name `event` (both read nil), a trigger's input mapping (which a run
// does not use), retry intervals beyond Temporal's defaults and a jitter
// that overflows them (a local call's backoff is capped all the same), and
// counts beyond 32 bits (they wrap as they did).
func ParsePinned(file string, data []byte, reg *connectors.Registry) (*Flow, error) {
	f, p := parse(file, data, reg, true)
	if len(p.errs) > 0 {
		return nil, p.errs.err()
	}
	return f, nil
}

// parse returns the flow even when it has problems, so that LoadFS can
// still learn its ID, and the parser, which holds the problems and the
// `flow:` references.
func parse(file string, data []byte, reg *connectors.Registry, pinned bool) (*Flow, *parser) {
	p := &parser{
		file:    file,
		reg:     reg,
		pinned:  pinned,
		ids:     map[string]*Step{},
		meta:    map[*Step]*stepMeta{},
		conns:   map[string]string{},
		decls:   map[string]*Input{},
		compile: CompileExpr,
	}
	root := p.document(data)
	if root == nil {
		return nil, p
	}
	sum := sha256.Sum256(data)
	f := &Flow{
		Connections: map[string]*Connection{},
		Source:      Source{File: file, Content: bytes.Clone(data), Hash: hex.EncodeToString(sum[:])},
	}
	p.flow(root, f)
	return f, p
}

type parser struct {
	file string
	reg  *connectors.Registry
	errs Errors
	// ids holds the first step with each ID.
	ids  map[string]*Step
	meta map[*Step]*stepMeta
	// conns maps each declared connection to its connector, "" when the
	// connector is unknown (already reported).
	conns map[string]string
	// decls holds the declared inputs by name.
	decls map[string]*Input
	// required lists the required inputs, which have no default, in file
	// order, which the map decls does not keep: the errors for missing
	// ones all stand at one node, and keep this order when sorted.
	required []*Input
	// compensating holds the steps declared under a compensate list.
	compensating map[*Step]bool
	// pinned parses a definition a run is pinned to (see ParsePinned).
	pinned bool
	// top holds the flow's steps once check starts.
	top []*Step
	// loops maps each step to the foreach steps whose bodies hold it,
	// outermost first; only an error message needs it, so loopAround
	// builds it on its first call.
	loops map[*Step][]*Step
	refs  []flowRef
	idPos Pos
	// output holds the expressions of the flow's output, checked once
	// every step is known.
	output *stepMeta
	// compile compiles expressions: CompileExpr, or CompileTriggerExpr
	// while decoding triggers.
	compile func(string, Pos) (*Expr, error)
}

// stepMeta is what the checks after decoding need to know of a step.
type stepMeta struct {
	path  string
	exprs []exprAt
	gotos []gotoAt
}

type exprAt struct {
	expr *Expr
	path string
}

type gotoAt struct {
	target string
	node   *yaml.Node
	path   string
}

// flowRef is a `flow:` step, checked against the other files by LoadFS.
type flowRef struct {
	flow     string
	pos      Pos
	path     string
	with     *Value
	withPath string
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func posOf(n *yaml.Node) Pos {
	if n == nil || n.Line < 1 {
		return Pos{Line: 1, Col: 1}
	}
	return Pos{Line: n.Line, Col: max(n.Column, 1)}
}

// document reads the one YAML document of a file and returns its root.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errs = append(p.errs, &Error{File: p.file, Pos: Pos{1, 1}, Msg: "file is empty: a definition needs at least id, version and steps"})
		} else {
			p.syntaxError(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errorf(&next, "", "file holds more than one YAML document: put each flow in its own file")
		return nil
	case !errors.Is(err, io.EOF):
		p.syntaxError(err, data)
		return nil
	}
	if len(doc.Content) == 0 {
		p.errs = append(p.errs, &Error{File: p.file, Pos: Pos{1, 1}, Msg: "file is empty: a definition needs at least id, version and steps"})
		return nil
	}
	root := doc.Content[0]
	if msg := checkAliases(root); msg != "" {
		p.errorf(root, "", "%s", msg)
		return nil
	}
	return root
}

// parserProblems are the problems yaml.v3 reports from its parser rather
// than its scanner: their line numbers are 0-based, and the collection ones
// point at where the collection starts.
var parserProblems = map[string]string{
	"did not find expected key":              " (check the indentation of the mapping that starts on this line)",
	"did not find expected '-' indicator":    " (check the indentation of the list that starts on this line)",
	"did not find expected ',' or ']'":       " (a [ list that starts on this line is not closed)",
	"did not find expected ',' or '}'":       " (a { mapping that starts on this line is not closed)",
	"did not find expected node content":     "",
	"did not find expected <document start>": "",
	"did not find expected <stream-start>":   "",
	"found duplicate %YAML directive":        "",
	"found incompatible YAML document":       "",
	"found duplicate %TAG directive":         "",
	"found undefined tag handle":             "",
}

func (p *parser) syntaxError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{Line: 1, Col: 1}
	if m := yamlLinePattern.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	if hint, ok := parserProblems[msg]; ok {
		pos.Line++
		msg += hint
	}
	if m := unknownAnchorPattern.FindStringSubmatch(msg); m != nil {
		if at, ok := unknownAliasPos(data, m[1]); ok {
			pos = at
		}
	}
	pos.Line = max(pos.Line, 1)
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: "invalid YAML: " + msg})
}

// unknownAnchorPattern is yaml.v3's message for an alias to an anchor not
// defined before it, which carries no position.
var unknownAnchorPattern = regexp.MustCompile(`^unknown anchor '([0-9A-Za-z_-]+)' referenced$`)

// unknownAliasPos finds the alias *name that yaml.v3 refused. The * of
// every text that may be an alias is replaced by aliasMark, one character
// for one so that nothing moves, and the file parsed once more: aliases,
// to anchors defined or not, are then plain scalars, and the first that
// reads aliasMark+name was the alias (the other texts are in comments,
// quotes or longer text).
func unknownAliasPos(data []byte, name string) (Pos, bool) {
	marked := aliasText.ReplaceAll(data, []byte(aliasMark+"${1}"))
	var found Pos
	dec := yaml.NewDecoder(bytes.NewReader(marked))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return found, found.Line > 0
		} else if err != nil {
			return Pos{}, false
		}
		firstScalar(&doc, aliasMark+name, &found)
	}
}

// aliasText is what may be an alias: * and an anchor name.
var aliasText = regexp.MustCompile(`\*([0-9A-Za-z_-]+)`)

// aliasMark stands in for the * of aliasText: a private-use character,
// which a plain scalar may start with and a definition hardly holds.
const aliasMark = "\uE000"

// firstScalar sets *found to the position of the first plain scalar under
// n whose value is value, if that comes before *found or *found is unset.
func firstScalar(n *yaml.Node, value string, found *Pos) {
	quoted := yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if n.Kind == yaml.ScalarNode && n.Style&quoted == 0 && n.Value == value {
		if found.Line == 0 || n.Line < found.Line || (n.Line == found.Line && n.Column < found.Col) {
			*found = Pos{Line: n.Line, Col: n.Column}
		}
	}
	for _, c := range n.Content {
		firstScalar(c, value, found)
	}
}

// checkAliases refuses alias cycles and files that expand too much through
// aliases. After it passes, decoding may follow aliases freely.
func checkAliases(root *yaml.Node) string {
	size := map[*yaml.Node]int{}
	const visiting = -1
	var count func(n *yaml.Node) (int, string)
	count = func(n *yaml.Node) (int, string) {
		if s, ok := size[n]; ok {
			if s == visiting {
				return 0, fmt.Sprintf("alias *%s refers to a value that contains the alias itself", n.Anchor)
			}
			return s, ""
		}
		size[n] = visiting
		total := 1
		kids := n.Content
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			kids = []*yaml.Node{n.Alias}
		}
		for _, k := range kids {
			s, msg := count(k)
			if msg != "" {
				return 0, msg
			}
			total += s
			if total > maxAliasExpansion {
				return 0, fmt.Sprintf("aliases expand the file to more than %d values: repeat less through anchors", maxAliasExpansion)
			}
		}
		size[n] = total
		return total, ""
	}
	_, msg := count(root)
	return msg
}

// deref follows aliases; a missing node reads as null.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

// field is one key of a mapping.
type field struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// mapping returns the entries of a mapping node, merge keys (`<<`)
// applied. It reports a node that is not a mapping, keys that are not
// strings and duplicate keys.
func (p *parser) mapping(n *yaml.Node, path string) ([]field, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	var out []field
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			p.errorf(k, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, join(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, field{name: k.Value, key: k, val: v})
	}
	for _, m := range merges {
		m = deref(m)
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			if deref(src).Kind != yaml.MappingNode {
				p.errorf(src, path, "merge key << needs a mapping or a list of mappings, got %s", describe(deref(src)))
				continue
			}
			fields, _ := p.mapping(src, path)
			for _, f := range fields {
				if _, ok := seen[f.name]; !ok {
					seen[f.name] = f.key
					out = append(out, f)
				}
			}
		}
	}
	return out, true
}

// checkFields reports fields not in allowed and returns the others by name.
func (p *parser) checkFields(fields []field, path string, allowed []string) map[string]field {
	out := make(map[string]field, len(fields))
	for _, f := range fields {
		if !contains(allowed, f.name) {
			p.errorf(f.key, join(path, f.name), "%s", unknownField(f.name, allowed))
			continue
		}
		out[f.name] = f
	}
	return out
}

func unknownField(name string, allowed []string) string {
	return fmt.Sprintf("unknown field %q%s; allowed: %s", name, didYouMean(name, allowed), strings.Join(allowed, ", "))
}

// requireFields reports each missing required field at the mapping.
func (p *parser) requireFields(n *yaml.Node, path string, have map[string]field, names ...string) bool {
	ok := true
	for _, name := range names {
		if _, found := have[name]; !found {
			p.errorf(deref(n), path, "missing required field %q", name)
			ok = false
		}
	}
	return ok
}

func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "must be a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = " (quote it to make it a string)"
		}
		p.errorf(n, path, "must be a string, got %s%s", describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// nonEmptyStr is str refusing "".
func (p *parser) nonEmptyStr(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if ok && strings.TrimSpace(s) == "" {
		p.errorf(deref(n), path, "must not be empty")
		return "", false
	}
	return s, ok
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	n = deref(n)
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	if err := n.Decode(&i); err != nil {
		p.errorf(n, path, "integer %s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

func (p *parser) positiveInt(n *yaml.Node, path string) (int, bool) {
	i, ok := p.integer(n, path)
	if ok && i < 1 {
		p.errorf(deref(n), path, "must be at least 1, got %d", i)
		return 0, false
	}
	return i, ok
}

// positiveInt32 is positiveInt for a count Temporal keeps in 32 bits
// (retry attempts, activity slots), which a larger value would wrap.
func (p *parser) positiveInt32(n *yaml.Node, path string) (int, bool) {
	i, ok := p.positiveInt(n, path)
	if ok && i > math.MaxInt32 && !p.pinned {
		p.errorf(deref(n), path, "must be at most %d (Temporal counts it in 32 bits), got %d", math.MaxInt32, i)
		return 0, false
	}
	return i, ok
}

func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
	n = deref(n)
	var f float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
		p.errorf(n, path, "must be a number, got %s", describe(n))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, path, "must be a finite number, got %s", n.Value)
		return 0, false
	}
	return f, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n = deref(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, path, "must be true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// duration reads a positive Go duration.
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, path, "must be a duration such as 30s, 5m or 1h30m, got %s", describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		p.errorf(n, path, "invalid duration %q: use a Go duration such as 30s, 5m or 1h30m", n.Value)
		return 0, false
	}
	if d <= 0 {
		p.errorf(n, path, "duration must be positive, got %s", n.Value)
		return 0, false
	}
	return d, true
}

// What an expression field must give, when the compiler knows its type.
const (
	wantAny = iota
	wantBool
	wantList
)

// expr compiles a bare expression field (conditions, items, correlation).
func (p *parser) expr(n *yaml.Node, path string, m *stepMeta, want int) *Expr {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n, path, "must be an expression, got %s", describe(n))
		return nil
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		p.errorf(n, path, "YAML read %s as a tag: quote the expression, or write \"not x\" instead of \"!x\"", tag)
		return nil
	}
	e, err := p.compile(n.Value, posOf(n))
	if err != nil {
		p.errorf(n, path, "%s", err)
		return nil
	}
	if t := e.program.Node().Type(); t != nil && t.Kind() != reflect.Interface {
		switch {
		case want == wantBool && t.Kind() != reflect.Bool:
			p.errorf(n, path, "condition %q gives %s, not a boolean", e.Source, t)
		case want == wantList && t.Kind() != reflect.Slice && t.Kind() != reflect.Array:
			p.errorf(n, path, "foreach %q gives %s, not a list", e.Source, t)
		}
	}
	if m != nil {
		m.exprs = append(m.exprs, exprAt{expr: e, path: path})
	}
	return e
}

// value decodes a mapping value; strings may hold `${{ }}` expressions.
func (p *parser) value(n *yaml.Node, path string, m *stepMeta) *Value {
	n = deref(n)
	pos := posOf(n)
	switch n.Kind {
	case yaml.MappingNode:
		fields, _ := p.mapping(n, path)
		return p.mapValue(pos, fields, path, m)
	case yaml.SequenceNode:
		v := &Value{Pos: pos, IsList: true, List: []*Value{}}
		for i, item := range n.Content {
			if x := p.value(item, index(path, i), m); x != nil {
				v.List = append(v.List, x)
			}
		}
		return v
	case yaml.ScalarNode:
		lit, ok := p.scalar(n, path)
		if !ok {
			return nil
		}
		s, isStr := lit.(string)
		if !isStr || n.ShortTag() != "!!str" {
			return &Value{Pos: pos, Literal: lit}
		}
		v, err := stringValue(s, pos, p.compile)
		if err != nil {
			p.errorf(n, path, "%s", err)
			return nil
		}
		if m != nil {
			for _, e := range v.Exprs() {
				m.exprs = append(m.exprs, exprAt{expr: e, path: path})
			}
		}
		return v
	}
	p.errorf(n, path, "unsupported YAML node")
	return nil
}

// mapValue decodes the fields of a mapping, as value does.
func (p *parser) mapValue(pos Pos, fields []field, path string, m *stepMeta) *Value {
	v := &Value{Pos: pos, IsMap: true}
	for _, f := range fields {
		if x := p.value(f.val, join(path, f.name), m); x != nil {
			v.Map = append(v.Map, Entry{Key: f.name, Value: x})
		}
	}
	return v
}

// scalar converts a scalar to a JSON-compatible Go value.
func (p *parser) scalar(n *yaml.Node, path string) (any, bool) {
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!timestamp":
		return n.Value, true
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case "!!int":
		var i int
		if err := n.Decode(&i); err == nil {
			return i, true
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return f, true
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				p.errorf(n, path, "must be a finite number, got %s", n.Value)
				return nil, false
			}
			return f, true
		}
	default:
		p.errorf(n, path, "unsupported YAML tag %s: quote the value to make it a string", n.Tag)
		return nil, false
	}
	p.errorf(n, path, "cannot read %q as %s", n.Value, describe(n))
	return nil, false
}

// plain converts a node to a JSON-compatible Go value with no expressions.
func (p *parser) plain(n *yaml.Node, path string) (any, bool) {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		fields, ok := p.mapping(n, path)
		out := make(map[string]any, len(fields))
		for _, f := range fields {
			v, vok := p.plain(f.val, join(path, f.name))
			ok = ok && vok
			out[f.name] = v
		}
		return out, ok
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			v, vok := p.plain(item, index(path, i))
			ok = ok && vok
			out = append(out, v)
		}
		return out, ok
	default:
		return p.scalar(n, path)
	}
}

func describe(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing (null)"
		case "!!timestamp":
			return "a timestamp"
		}
		return "a value tagged " + n.Tag
	}
	return "nothing"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// didYouMean is the hint after an unknown name: ` (did you mean "x"?)`
// naming the allowed name closest to name, or "" when none is close.
func didYouMean(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(name), a); d < bestDist && d < len(a) {
			best, bestDist = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
