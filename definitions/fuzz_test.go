package definitions

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "flows/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		flow, err := Parse("fuzz.yaml", data, reg)
		if err != nil {
			if flow != nil {
				t.Fatal("a flow returned with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
			for _, e := range errs {
				if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
					t.Fatalf("error without position or message: %#v", e)
				}
			}
			_ = err.Error()
			return
		}
		if flow == nil || flow.ID == "" || len(flow.Steps) == 0 {
			t.Fatalf("valid flow is incomplete: %+v", flow)
		}
		Walk(flow.Steps, func(s *Step) bool {
			if s.ID == "" || s.Kind == "" {
				t.Fatalf("step without id or kind: %+v", s)
			}
			return true
		})
		_, _ = flow.BindInput(nil)
	})
}
