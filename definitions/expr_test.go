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
