package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/bench"
	"github.com/relay-dev/relay/cli"
)

// TestBenchCommand runs `relay bench` with tiny sizes and checks that the
// JSON report has every field, that every rate is above zero and that
// --trace wrote a trace. It asserts nothing about speed. A concurrency
// listed twice is measured twice, each time with runs of its own.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	trace := filepath.Join(t.TempDir(), "bench.trace")
	args := []string{"bench", "--only", "flows,ingest", "--runs", "5", "--concurrency", "1,2,2", "--ingest-concurrency", "1,2,2", "--output", "json", "--log-level", "error", "--trace", trace}
	if err := cli.Run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("relay %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// --trace wrote a runtime execution trace (its header: "go 1.26 trace").
	if b, err := os.ReadFile(trace); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) || len(b) < 1<<10 {
		t.Errorf("--trace %s: %d bytes, %v; want a Go execution trace", trace, len(b), err)
	}
	var doc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	requireFields(t, "report", doc, reflect.TypeFor[bench.Report]())

	flows, _ := doc["flows"].([]any)
	if len(flows) != 6 {
		t.Fatalf("flows has %d results, want 2 flows x 3 concurrencies", len(flows))
	}
	for _, f := range flows {
		f := f.(map[string]any)
		requireFields(t, "flows[]", f, reflect.TypeFor[bench.FlowResult]())
		for _, side := range []string{"relay", "go"} {
			checkSide(t, f["flow"].(string)+" "+side, f[side].(map[string]any), 5)
		}
		if f["ratio"].(float64) <= 0 {
			t.Errorf("flow %v: ratio %v", f["flow"], f["ratio"])
		}
	}
	ingest, _ := doc["ingest"].([]any)
	if len(ingest) != 3 {
		t.Fatalf("ingest has %d results, want 3", len(ingest))
	}
	for _, in := range ingest {
		in := in.(map[string]any)
		requireFields(t, "ingest[]", in, reflect.TypeFor[bench.IngestResult]())
		checkSide(t, "webhooks", in["webhooks"].(map[string]any), 5)
		checkSide(t, "bare", in["bare"].(map[string]any), 5)
		checkSide(t, "handler", in["handler"].(map[string]any), 5)
		if in["accepted"].(float64) != 5 || in["lost"].(float64) != 0 || in["duplicated"].(float64) != 0 || in["ratio"].(float64) <= 0 || in["handler_ratio"].(float64) <= 0 {
			t.Errorf("ingest at concurrency %v: accepted %v, lost %v, duplicated %v, ratio %v, handler ratio %v; want 5, 0, 0, > 0, > 0",
				in["concurrency"], in["accepted"], in["lost"], in["duplicated"], in["ratio"], in["handler_ratio"])
		}
	}
	for _, absent := range []string{"scale", "parked", "startup"} {
		if _, ok := doc[absent]; ok {
			t.Errorf("report has %s, which --only left out", absent)
		}
	}
}

func checkSide(t *testing.T, name string, side map[string]any, runs float64) {
	t.Helper()
	requireFields(t, name, side, reflect.TypeFor[bench.Side]())
	if side["runs"] != runs || side["errors"] != 0.0 {
		t.Errorf("%s: %v runs, %v errors (%v); want %v, 0", name, side["runs"], side["errors"], side["first_error"], runs)
	}
	for _, k := range []string{"per_second", "p50_ms", "p99_ms"} {
		if v, _ := side[k].(float64); v <= 0 {
			t.Errorf("%s: %s = %v, want > 0", name, k, side[k])
		}
	}
}

// requireFields checks that m has every JSON field of typ that is not
// omitempty, recursing into nested structs.
func requireFields(t *testing.T, path string, m map[string]any, typ reflect.Type) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || strings.Contains(opts, "omitempty") {
			continue
		}
		v, ok := m[name]
		if !ok {
			t.Errorf("%s lacks %q", path, name)
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			sub, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s.%s is %T, want an object", path, name, v)
				continue
			}
			requireFields(t, path+"."+name, sub, f.Type)
		}
	}
}
