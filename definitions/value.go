package definitions

import (
	"fmt"
	"strconv"
	"strings"
)

// Value is a mapping: a YAML value in which strings may hold expressions.
// A string that is exactly `${{ expr }}` evaluates to the expression's value
// with its type; a string with `${{ expr }}` inside other text evaluates to
// a string; any other scalar is a literal. Maps keep their file order.
type Value struct {
	Pos     Pos
	Literal any     // scalar literal (string, float64, int, bool, nil)
	Expr    *Expr   // whole-string expression
	Parts   []Part  // interpolated string
	Map     []Entry // mapping, in file order (IsMap)
	List    []*Value
	IsMap   bool
	IsList  bool
}

// Part is a piece of an interpolated string: Text, or Expr when non-nil.
type Part struct {
	Text string
	Expr *Expr
}

// Entry is one key of a mapping Value.
type Entry struct {
	Key   string
	Value *Value
}

// StringValue builds the Value of one string scalar, compiling any
// `${{ }}` expressions in it.
func StringValue(s string, pos Pos) (*Value, error) {
	return stringValue(s, pos, CompileExpr)
}

func stringValue(s string, pos Pos, compile func(string, Pos) (*Expr, error)) (*Value, error) {
	if inner, ok := wholeTemplate(strings.TrimSpace(s)); ok {
		e, err := compile(inner, pos)
		if err != nil {
			return nil, err
		}
		return &Value{Pos: pos, Expr: e}, nil
	}
	if !strings.Contains(s, "${{") {
		return &Value{Pos: pos, Literal: s}, nil
	}
	var parts []Part
	rest := s
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, Part{Text: rest})
			}
			break
		}
		if i > 0 {
			parts = append(parts, Part{Text: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed ${{ in %q", s)
		}
		e, err := compile(rest[i+3:i+j], pos)
		if err != nil {
			return nil, err
		}
		parts = append(parts, Part{Expr: e})
		rest = rest[i+j+2:]
	}
	return &Value{Pos: pos, Parts: parts}, nil
}

// wholeTemplate reports whether s is exactly one `${{ ... }}`.
func wholeTemplate(s string) (string, bool) {
	if !strings.HasPrefix(s, "${{") || !strings.HasSuffix(s, "}}") {
		return "", false
	}
	inner := s[3 : len(s)-2]
	if strings.Contains(inner, "${{") || strings.Contains(inner, "}}") {
		return "", false
	}
	return strings.TrimSpace(inner), true
}

// Eval evaluates the value in env. Maps become map[string]any, lists []any.
func (v *Value) Eval(env *Env) (any, error) { return v.eval(env) }

// EvalTrigger evaluates a trigger's mapping.
func (v *Value) EvalTrigger(env *TriggerEnv) (any, error) { return v.eval(env) }

func (v *Value) eval(env any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch {
	case v.Expr != nil:
		return v.Expr.run(env)
	case v.Parts != nil:
		var b strings.Builder
		for _, p := range v.Parts {
			if p.Expr == nil {
				b.WriteString(p.Text)
				continue
			}
			x, err := p.Expr.run(env)
			if err != nil {
				return nil, err
			}
			b.WriteString(textOf(x, numbersAsWritten(env)))
		}
		return b.String(), nil
	case v.IsMap:
		out := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			x, err := e.Value.eval(env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Key, err)
			}
			out[e.Key] = x
		}
		return out, nil
	case v.IsList:
		out := make([]any, len(v.List))
		for i, item := range v.List {
			x, err := item.eval(env)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	default:
		return v.Literal, nil
	}
}

// Exprs lists every expression inside the value, for validation.
func (v *Value) Exprs() []*Expr {
	if v == nil {
		return nil
	}
	var out []*Expr
	if v.Expr != nil {
		out = append(out, v.Expr)
	}
	for _, p := range v.Parts {
		if p.Expr != nil {
			out = append(out, p.Expr)
		}
	}
	for _, e := range v.Map {
		out = append(out, e.Value.Exprs()...)
	}
	for _, item := range v.List {
		out = append(out, item.Exprs()...)
	}
	return out
}

// numbersAsWritten reports whether env renders numbers in text as JSON
// writes them: a trigger's always (nothing replays it), a step's when the
// run's generation says so.
func numbersAsWritten(env any) bool {
	switch e := env.(type) {
	case *TriggerEnv:
		return true
	case *Env:
		return e.NumbersAsWritten
	}
	return false
}

// textOf renders an expression's result inside text: as Text when
// asWritten, else as generation 1 runs did (Go's %v, nothing for nil).
func textOf(x any, asWritten bool) string {
	switch {
	case asWritten:
		return Text(x)
	case x == nil:
		return ""
	}
	return fmt.Sprint(x)
}

// Text is a value as relay writes it as text: inside a string mapping
// (runs of generation 2 on), and as the key that names a run and matches
// an event to a wait (a dedupe, run or correlation value). A JSON number
// is its plain decimal (12345678, not 1.2345678e+07), nil is "", anything
// else is Go's %v. Recorded histories depend on its output: never change
// it for any input.
func Text(x any) string {
	switch v := x.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(x)
}
