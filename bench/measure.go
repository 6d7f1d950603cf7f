package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// plan sizes one measurement: runs operations per side when runs > 0,
// else batches until each side has run for duration.
type plan struct {
	runs     int
	duration time.Duration
	// bFirst starts with b's batch; measurements flip it in turn, so that
	// neither side always runs right after the previous measurement.
	bFirst bool
}

// op is one measured operation; i is unique within its series.
type op func(ctx context.Context, i int) error

// series records what one side of a measurement did.
type series struct {
	mu        sync.Mutex
	latencies []time.Duration
	cpu       time.Duration // process CPU time during its batches
	batches   []batchStat   // each batch, in order
	errors    int
	firstErr  error
	next      atomic.Int64
}

// batchStat is what one batch did: operations that succeeded, wall time.
type batchStat struct {
	ops     int
	elapsed time.Duration
}

// Side is one side of a measurement.
type Side struct {
	Runs      int     `json:"runs"`
	PerSecond float64 `json:"per_second"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Errors    int     `json:"errors"`
	// CPUMsPerRun is the CPU time the whole process (server, worker,
	// receivers, sandbox) used per run while this side's batches ran:
	// less sensitive than runs/s to other load on a shared machine.
	CPUMsPerRun float64 `json:"cpu_ms_per_run"`
	// FirstError is the first failure's message, if any.
	FirstError string `json:"first_error,omitempty"`
}

func (s *series) side() Side {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	out := Side{
		Runs:      len(lat),
		PerSecond: round(batchRate(s.batches), 4),
		P50Ms:     round(ms(percentile(lat, 50)), 4),
		P99Ms:     round(ms(percentile(lat, 99)), 4),
		Errors:    s.errors,
	}
	if len(lat) > 0 {
		out.CPUMsPerRun = round(ms(s.cpu)/float64(len(lat)), 4)
	}
	if s.firstErr != nil {
		out.FirstError = s.firstErr.Error()
	}
	return out
}

func (s *series) done() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.latencies) + s.errors
}

// batch runs n operations from conc goroutines, each timed.
func (s *series) batch(ctx context.Context, n, conc int, fn op) {
	t0, cpu0 := time.Now(), processCPU()
	s.mu.Lock()
	ok0 := len(s.latencies)
	s.mu.Unlock()
	var started atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for started.Add(1) <= int64(n) && ctx.Err() == nil {
				i := int(s.next.Add(1)) - 1
				begin := time.Now()
				err := fn(ctx, i)
				d := time.Since(begin)
				s.mu.Lock()
				if err != nil {
					s.errors++
					if s.firstErr == nil {
						s.firstErr = err
					}
				} else {
					s.latencies = append(s.latencies, d)
				}
				s.mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	s.cpu += processCPU() - cpu0
	s.batches = append(s.batches, batchStat{ops: len(s.latencies) - ok0, elapsed: time.Since(t0)})
	s.mu.Unlock()
}

// rangeWindows is how many windows ratioRange splits a measurement into.
const rangeWindows = 5

// ratioRange splits a side-by-side measurement into windows of
// consecutive batches of each side and returns the lowest and highest
// a/b ratio among them: how far the ratio moved during the measurement,
// which on a shared machine says how far to trust it. It returns nil when
// a side has fewer than two batches per window.
func ratioRange(a, b *series, windows int) []float64 {
	ab, bb := a.batchStats(), b.batchStats()
	n := min(len(ab), len(bb))
	if windows < 1 || n < 2*windows {
		return nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for w := range windows {
		from, to := w*n/windows, (w+1)*n/windows
		r := ratio(batchRate(ab[from:to]), batchRate(bb[from:to]))
		lo, hi = min(lo, r), max(hi, r)
	}
	return []float64{round(lo, 3), round(hi, 3)}
}

// wall is the wall time of the series' batches.
func (s *series) wall() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, b := range s.batches {
		d += b.elapsed
	}
	return d
}

func (s *series) batchStats() []batchStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// batchRate is the operations per second of bs together.
func batchRate(bs []batchStat) float64 {
	var ops int
	var d time.Duration
	for _, b := range bs {
		ops += b.ops
		d += b.elapsed
	}
	return rate(ops, d)
}

// batchSize is how many operations one batch runs at concurrency conc:
// at least 8, so a batch at concurrency 1 is not a single run.
func batchSize(conc int) int { return max(conc, 8) }

// alternate measures a and b side by side, in batches taken in turn
// (a a b b a a …, see turns) so that drift in the machine hits both alike.
func alternate(ctx context.Context, p plan, conc int, a, b op) (sa, sb *series) {
	s := alternateAll(ctx, p, conc, a, b)
	return s[0], s[1]
}

// alternateAll measures ops side by side like alternate. The sides take
// their batches in the order of turns, cycle after cycle: each side runs
// right after every side, itself included, equally often. A batch leaves
// work behind (started runs still completing) that slows the next batch,
// and a fast side leaves the most; in a fixed round order such as a b c,
// c b a, b never follows b, so the sides would not share that load alike.
func alternateAll(ctx context.Context, p plan, conc int, ops ...op) []*series {
	all := make([]*series, len(ops))
	for k := range all {
		all[k] = &series{}
	}
	finished := func() bool {
		for _, s := range all {
			if p.runs > 0 && s.done() < p.runs || p.runs <= 0 && s.wall() < p.duration {
				return false
			}
		}
		return true
	}
	order := turns(len(ops))
	if p.bFirst && len(ops) > 1 {
		// Start at b's first turn.
		i := slices.Index(order, 1)
		order = slices.Concat(order[i:], order[:i])
	}
	for ctx.Err() == nil {
		for _, k := range order {
			n := batchSize(conc)
			if p.runs > 0 {
				n = min(n, p.runs-all[k].done())
			}
			if n > 0 {
				all[k].batch(ctx, n, conc, ops[k])
			}
		}
		if finished() {
			break
		}
	}
	return all
}

// turns returns an order of k sides' batches in which every side follows
// every side, itself included, exactly once when the order repeats: a de
// Bruijn sequence of order two over k symbols, k*k turns long. For two
// sides it is a a b b.
func turns(k int) []int {
	if k < 1 {
		return nil
	}
	var seq []int
	a := make([]int, 3)
	// The Fredricksen–Kessler–Maiorana construction: the sequence is the
	// concatenation, in lexicographic order, of the Lyndon words of length
	// 1 or 2 over k symbols.
	var gen func(t, p int)
	gen = func(t, p int) {
		if t > 2 {
			if 2%p == 0 {
				seq = append(seq, a[1:p+1]...)
			}
			return
		}
		a[t] = a[t-p]
		gen(t+1, p)
		for j := a[t-p] + 1; j < k; j++ {
			a[t] = j
			gen(t+1, t)
		}
	}
	gen(1, 1)
	return seq
}

// repeat measures one side alone, like alternate.
func repeat(ctx context.Context, p plan, conc int, fn op) *series {
	s := &series{}
	for ctx.Err() == nil {
		n := batchSize(conc)
		if p.runs > 0 {
			n = min(n, p.runs-s.done())
		} else {
			n = conc
		}
		if n <= 0 {
			break
		}
		s.batch(ctx, n, conc, fn)
		if p.runs <= 0 && s.wall() >= p.duration {
			break
		}
	}
	return s
}
