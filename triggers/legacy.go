package triggers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/relay-dev/relay/runs"
)

// legacyRecheck is how long a flow's count of exponent-named runs is
// trusted: a relay of an earlier version still running beside this one
// (a rolling upgrade) may start such runs meanwhile. legacyRetry is how
// long a failed count is not made again (every delivery then describes),
// so that visibility being down costs one count per flow this often, not
// one per delivery.
const (
	legacyRecheck = 10 * time.Minute
	legacyRetry   = 30 * time.Second
)

// legacyNames is whether an earlier relay may have named runs of one flow
// in exponent form, as last counted, until the count is due again; query
// counts them (legacyQuery).
type legacyNames struct {
	query string
	mu    sync.Mutex
	until time.Time
	may   bool
}

// legacyRun returns the run an earlier relay started for the numeric key v
// of flow, if there is one, and its run ID. Before keys were written as
// definitions.Text, a JSON number of a million or more was written in
// fmt's exponent form (12345678 as 1.2345678e+07, a Shopify order ID as
// 5.123456789e+12), and a run started then is named so: its redeliveries
// must not start a second run, nor its events miss it. key is v's text
// now; "" is returned when the two texts agree or no such run exists.
//
// Looking costs a describe per delivery. With gated, for the start paths
// where every delivery would pay it, the describe is made only while
// visibility counts runs of flow whose ID has the exponent form's shape
// (mayHaveLegacy): never on a store no earlier relay wrote to, nor once
// such runs are past retention.
func (r *Receiver) legacyRun(ctx context.Context, flow string, v any, key string, gated bool) (string, string, error) {
	f, ok := v.(float64)
	if !ok {
		return "", "", nil
	}
	old := fmt.Sprint(f)
	if old == key || gated && !r.mayHaveLegacy(ctx, flow, time.Now()) {
		return "", "", nil
	}
	id := runs.WorkflowID(flow, old)
	desc, err := r.runs.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return "", "", nil
	case err != nil:
		return "", "", err
	}
	return id, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), nil
}

// mayHaveLegacy reports whether flow may have runs an earlier relay named
// in exponent form: visibility's count of them, made again after
// legacyRecheck. While another delivery counts, for legacyRetry after a
// count failed, or for a flow the receiver has no route of, the answer is
// yes, so that the describe decides.
func (r *Receiver) mayHaveLegacy(ctx context.Context, flow string, now time.Time) bool {
	st := r.legacy[flow]
	if st == nil || !st.mu.TryLock() {
		return true
	}
	defer st.mu.Unlock()
	if now.Before(st.until) {
		return st.may
	}
	resp, err := r.runs.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: st.query})
	if err != nil {
		r.logger.Warn("could not count the runs an earlier relay named in exponent form; looking for each delivery's", "flow", flow, "err", err, "retry_in", legacyRetry)
		st.until, st.may = now.Add(legacyRetry), true
		return true
	}
	st.until, st.may = now.Add(legacyRecheck), resp.GetCount() > 0
	if st.may {
		r.logger.Info("runs named by an earlier relay exist: each numeric key of a million or more is also looked for under its old name", "flow", flow, "runs", resp.GetCount())
	}
	return st.may
}

// legacyQuery is the visibility query for runs of flow whose ID has the
// shape fmt gives a float64 in exponent form: an optional minus sign, a
// digit from 1 to 9, then "." or "e" (1.2345678e+07, 1e+06, -5e-07). Plain
// decimal keys never have it; other keys that do (a string "3.1") only
// keep the describe on.
func legacyQuery(flow string) string {
	var clauses []string
	for _, sign := range []string{"", "-"} {
		for d := '1'; d <= '9'; d++ {
			for _, next := range []string{".", "e"} {
				clauses = append(clauses, fmt.Sprintf("WorkflowId STARTS_WITH %q", runs.WorkflowID(flow, sign+string(d)+next)))
			}
		}
	}
	return strings.Join(clauses, " OR ")
}
