package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median of even takes the lower", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny p is the min", ms(5, 6), 0.001, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	d := time.Millisecond
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * d, 1 * d, 2 * d}, 2 * d},
		{[]time.Duration{4 * d, 1 * d}, 2500 * time.Microsecond},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRatioAndRate(t *testing.T) {
	if got := ratio(3, 4); got != 0.75 {
		t.Errorf("ratio(3, 4) = %v", got)
	}
	if got := ratio(3, 0); got != 0 {
		t.Errorf("ratio(3, 0) = %v, want 0", got)
	}
	if got := rate(50, 2*time.Second); got != 25 {
		t.Errorf("rate(50, 2s) = %v", got)
	}
	if got := rate(50, 0); got != 0 {
		t.Errorf("rate(50, 0) = %v, want 0", got)
	}
	for _, tt := range []struct{ in, want float64 }{{123.456, 123.5}, {0.0012345, 0.001235}, {0, 0}, {-98765, -98770}} {
		if got := round(tt.in, 4); got != tt.want {
			t.Errorf("round(%v, 4) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\trelay\nVmPeak:\t  2345678 kB\nVmRSS:\t   151234 kB\nThreads:\t12\n"
	tests := []struct {
		name, input, field string
		want               int64
		err                string
	}{
		{"rss", status, "VmRSS", 151234, ""},
		{"meminfo", "MemTotal:       24683520 kB\nMemFree: 1 kB\n", "MemTotal", 24683520, ""},
		{"missing", status, "VmSwap", 0, "no VmSwap field"},
		{"not kB", "VmRSS:\t12\n", "VmRSS", 0, `want "<n> kB"`},
		{"not a number", "VmRSS:\tlots kB\n", "VmRSS", 0, "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKiB(strings.NewReader(tt.input), tt.field)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("= %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestRSSOfSelf(t *testing.T) {
	b, err := rssBytes("self")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if b < 1<<20 {
		t.Errorf("RSS of this test = %d bytes, want at least 1 MiB", b)
	}
}

func TestParseInts(t *testing.T) {
	got, err := ParseInts(" 1, 16,128 ,10_000")
	if err != nil || len(got) != 4 || got[0] != 1 || got[1] != 16 || got[2] != 128 || got[3] != 10000 {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,x", "0", "-4", ","} {
		if _, err := ParseInts(bad); err == nil {
			t.Errorf("ParseInts(%q) = nil error", bad)
		}
	}
}

func TestRatioRange(t *testing.T) {
	// batches of 10 operations; a side's windows run at these rates (ops/s).
	side := func(perWindow ...float64) *series {
		s := &series{}
		for _, r := range perWindow {
			d := time.Duration(float64(10) / r * float64(time.Second))
			s.batches = append(s.batches, batchStat{ops: 10, elapsed: d}, batchStat{ops: 10, elapsed: d})
		}
		return s
	}
	tests := []struct {
		name    string
		a, b    *series
		windows int
		want    []float64
	}{
		{"steady", side(100, 100, 100), side(100, 100, 100), 3, []float64{1, 1}},
		{"a slower in one window", side(100, 50, 100), side(100, 100, 100), 3, []float64{0.5, 1}},
		{"b faster at the end", side(90, 90, 90), side(100, 100, 180), 3, []float64{0.5, 0.9}},
		{"too short to split", side(100), side(100), 3, nil},
		{"uneven sides use the shorter", side(100, 100, 100, 100), side(100, 100, 100), 3, []float64{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ratioRange(tt.a, tt.b, tt.windows)
			if len(got) != len(tt.want) || (len(got) == 2 && (got[0] != tt.want[0] || got[1] != tt.want[1])) {
				t.Errorf("ratioRange = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAlternateAll(t *testing.T) {
	tests := []struct {
		name   string
		sides  int
		runs   int
		conc   int
		bFirst bool
		want   string // which side ran how many operations in a row
	}{
		{"two sides", 2, 16, 1, false, "a16 b16"},
		{"two sides, b first", 2, 16, 1, true, "b16 a16"},
		{"two sides, two cycles", 2, 32, 1, false, "a16 b16 a16 b16"},
		{"three sides", 3, 24, 1, false, "a16 b8 a8 c8 b16 c16"},
		{"three sides, b first", 3, 24, 1, true, "b8 a8 c8 b16 c16 a16"},
		{"last batch is short", 2, 12, 1, false, "a12 b12"},
		{"batch is the concurrency", 2, 32, 16, false, "a32 b32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var ran []byte
			ops := make([]op, tt.sides)
			for k := range ops {
				ops[k] = func(context.Context, int) error {
					mu.Lock()
					defer mu.Unlock()
					ran = append(ran, byte('a'+k))
					return nil
				}
			}
			all := alternateAll(t.Context(), plan{runs: tt.runs, bFirst: tt.bFirst}, tt.conc, ops...)
			var got []string
			for i := 0; i < len(ran); {
				j := i
				for j < len(ran) && ran[j] == ran[i] {
					j++
				}
				got = append(got, fmt.Sprintf("%c%d", ran[i], j-i))
				i = j
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("sides ran %q, want %q", strings.Join(got, " "), tt.want)
			}
			for k, s := range all {
				if got := s.done(); got != tt.runs {
					t.Errorf("side %c ran %d operations, want %d", 'a'+k, got, tt.runs)
				}
			}
		})
	}
}

func TestTurns(t *testing.T) {
	for k := 1; k <= 5; k++ {
		order := turns(k)
		if len(order) != k*k {
			t.Fatalf("turns(%d) = %v: %d turns, want %d", k, order, len(order), k*k)
		}
		// Every side follows every side exactly once, the last turn
		// followed by the first.
		seen := map[[2]int]int{}
		for i, side := range order {
			if side < 0 || side >= k {
				t.Fatalf("turns(%d) = %v: side %d out of range", k, order, side)
			}
			seen[[2]int{side, order[(i+1)%len(order)]}]++
		}
		for a := range k {
			for b := range k {
				if n := seen[[2]int{a, b}]; n != 1 {
					t.Errorf("turns(%d) = %v: %d follows %d %d times, want once", k, order, b, a, n)
				}
			}
		}
	}
	if got := turns(0); got != nil {
		t.Errorf("turns(0) = %v, want nil", got)
	}
}
