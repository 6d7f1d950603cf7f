package definitions

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Env is what an expression sees. Its field names, not Go's, are the names
// used in definitions; an expression naming anything else fails to compile.
type Env struct {
	Input map[string]any      `expr:"input"`
	Steps map[string]StepView `expr:"steps"`
	Vars  map[string]any      `expr:"vars"`
	Item  any                 `expr:"item"`
	Index int                 `expr:"index"`
	// Event is never set, and Parse refuses expressions that read it (see
	// refusedNames); it stays so that definitions pinned by runs started
	// before it was refused still load (ParsePinned), reading nil.
	Event map[string]any `expr:"event"`
	// NumbersAsWritten renders a value inside text with Text
	// ("/orders/${{ input.id }}" with id 12345678 gives /orders/12345678),
	// not Go's %v (/orders/1.2345678e+07). The interpreter sets it for
	// runs of generation 2 on; older runs keep what they replay with.
	NumbersAsWritten bool `expr:"-"`
}

// refusedNames are the names of Env an expression may not read, and where
// to read what it meant instead.
var refusedNames = map[string]string{
	// No expression sees the event a wait step received as a name of its
	// own: it is the wait step's output.
	"event": "an event's data is the output of the wait step that received it: read steps.<wait step id>.output in the steps after the wait",
}

// TriggerEnv is what a trigger's expressions (dedupe, filter, input
// mapping, event routing) see of an incoming webhook.
type TriggerEnv struct {
	Body    any               `expr:"body"`
	Headers map[string]string `expr:"headers"`
	Query   map[string]string `expr:"query"`
}

// StepView is what an expression sees of a step that has run.
type StepView struct {
	Output any    `expr:"output"`
	Status string `expr:"status"`
	Error  string `expr:"error"`
}

// maxExprNodes bounds the size of one expression.
const maxExprNodes = 2000

// Expr is a compiled expr-lang/expr expression. Compilation happens once,
// when the definition loads; evaluation is pure and deterministic: `now` is
// disabled, dates are UTC, and functions that list a map do so in key order.
type Expr struct {
	Source  string
	Pos     Pos
	program *vm.Program
	refs    []string
}

func exprOptions(env any) []expr.Option {
	return []expr.Option{
		expr.Env(env),
		expr.MaxNodes(maxExprNodes),
		// No expr.Timezone: date() without a zone already parses as UTC
		// (time.Parse), and the timezone patcher breaks date() in expr 1.17.
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("keys"),
		expr.DisableBuiltin("values"),
		expr.DisableBuiltin("toPairs"),
		expr.Function("keys", sortedKeys, new(func(map[string]any) []any)),
		expr.Function("values", sortedValues, new(func(map[string]any) []any)),
		expr.Function("toPairs", sortedPairs, new(func(map[string]any) []any)),
	}
}

// CompileExpr compiles src. The error, if any, is expr's message without
// position: callers add the file position of the field.
func CompileExpr(src string, pos Pos) (*Expr, error) {
	return compileExpr(src, pos, Env{})
}

// CompileTriggerExpr compiles a trigger expression over TriggerEnv.
func CompileTriggerExpr(src string, pos Pos) (*Expr, error) {
	return compileExpr(src, pos, TriggerEnv{})
}

func compileExpr(src string, pos Pos, env any) (*Expr, error) {
	src = strings.TrimSpace(src)
	if inner, ok := wholeTemplate(src); ok {
		src = inner
	}
	if src == "" {
		return nil, fmt.Errorf("expression is empty")
	}
	program, err := expr.Compile(src, exprOptions(env)...)
	if err != nil {
		return nil, fmt.Errorf("expression %q does not compile: %s", src, firstLine(err.Error()))
	}
	e := &Expr{Source: src, Pos: pos, program: program}
	e.refs = stepRefs(program.Node())
	return e, nil
}

// Eval runs a flow expression.
func (e *Expr) Eval(env *Env) (any, error) { return e.run(env) }

// EvalTrigger runs a trigger expression.
func (e *Expr) EvalTrigger(env *TriggerEnv) (any, error) { return e.run(env) }

func (e *Expr) run(env any) (any, error) {
	out, err := expr.Run(e.program, env)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %s", e.Source, firstLine(err.Error()))
	}
	return out, nil
}

// Bool runs a condition; anything but a boolean is an error.
func (e *Expr) Bool(env *Env) (bool, error) { return e.boolean(env) }

// BoolTrigger runs a trigger condition.
func (e *Expr) BoolTrigger(env *TriggerEnv) (bool, error) { return e.boolean(env) }

func (e *Expr) boolean(env any) (bool, error) {
	v, err := e.run(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q gave %T, want a boolean", e.Source, v)
	}
	return b, nil
}

// StepRefs lists the step IDs the expression reads as `steps.<id>`, in
// order of first appearance.
func (e *Expr) StepRefs() []string { return e.refs }

func stepRefs(node ast.Node) []string {
	v := &refVisitor{seen: map[string]bool{}}
	ast.Walk(&node, v)
	return v.refs
}

type refVisitor struct {
	refs []string
	seen map[string]bool
}

func (v *refVisitor) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "steps" {
		return
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok || v.seen[s.Value] {
		return
	}
	v.seen[s.Value] = true
	v.refs = append(v.refs, s.Value)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sortedKeys(params ...any) (any, error) {
	m, err := mapArg("keys", params)
	if err != nil {
		return nil, err
	}
	keys := sortKeys(m)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, nil
}

func sortedValues(params ...any) (any, error) {
	m, err := mapArg("values", params)
	if err != nil {
		return nil, err
	}
	keys := sortKeys(m)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out, nil
}

func sortedPairs(params ...any) (any, error) {
	m, err := mapArg("toPairs", params)
	if err != nil {
		return nil, err
	}
	keys := sortKeys(m)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = []any{k, m[k]}
	}
	return out, nil
}

func mapArg(fn string, params []any) (map[string]any, error) {
	if len(params) != 1 {
		return nil, fmt.Errorf("%s takes one argument, got %d", fn, len(params))
	}
	if m, ok := params[0].(map[string]any); ok {
		return m, nil
	}
	rv := reflect.ValueOf(params[0])
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("%s wants a map, got %T", fn, params[0])
	}
	m := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m, nil
}

func sortKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
