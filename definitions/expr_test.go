package definitions

import "testing"

func TestExprPurity(t *testing.T) {
	tests := []struct {
		src  string
		want any
		err  bool // fails to compile
	}{
		{src: `date("2026-11-22T09:00:00Z").Add(duration("72h")).Format("2006-01-02")`, want: "2026-11-25"},
		{src: `date("2026-11-22 09:00:00").Hour()`, want: 9}, // no zone: UTC, whatever the machine's
		{src: `keys({"b": 1, "a": 2, "c": 3})`, want: []any{"a", "b", "c"}},
		{src: `values({"b": 1, "a": 2, "c": 3})`, want: []any{2, 1, 3}},
		{src: `now()`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := CompileExpr(tt.src, Pos{})
			if tt.err {
				if err == nil {
					t.Fatalf("compiled, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for range 20 { // map order must not show
				got, err := e.Eval(&Env{})
				if err != nil {
					t.Fatal(err)
				}
				if !equalJSONish(got, tt.want) {
					t.Fatalf("got %v (%T), want %v", got, got, tt.want)
				}
			}
		})
	}
}

func equalJSONish(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if !equalJSONish(as[i], bs[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestNumbersInText(t *testing.T) {
	id, err := CompileExpr(`input.id`, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := CompileTriggerExpr(`body.id`, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	path := func(e *Expr) *Value { return &Value{Parts: []Part{{Text: "/orders/"}, {Expr: e}}} }
	eval := func(v *Value, env any) any {
		t.Helper()
		var got any
		var err error
		switch e := env.(type) {
		case *Env:
			got, err = v.Eval(e)
		case *TriggerEnv:
			got, err = v.EvalTrigger(e)
		}
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	tests := []struct {
		name string
		v    *Value
		env  any
		want string
	}{
		{"a step, as Go prints it", path(id), &Env{Input: map[string]any{"id": 12345678.0}}, "/orders/1.2345678e+07"},
		{"a step, as written", path(id), &Env{Input: map[string]any{"id": 12345678.0}, NumbersAsWritten: true}, "/orders/12345678"},
		{"a fraction, as written", path(id), &Env{Input: map[string]any{"id": 0.5}, NumbersAsWritten: true}, "/orders/0.5"},
		{"an integer", path(id), &Env{Input: map[string]any{"id": 12345678}}, "/orders/12345678"},
		{"nil is nothing", path(id), &Env{Input: map[string]any{}}, "/orders/"},
		{"a trigger, always as written", path(body), &TriggerEnv{Body: map[string]any{"id": 12345678.0}}, "/orders/12345678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eval(tt.v, tt.env); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
