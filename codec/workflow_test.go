package codec

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// recorder sees every payload as it leaves the converter toward Temporal
// and as it comes back.
type recorder struct {
	converter.DataConverter
	mu   sync.Mutex
	seen []*commonpb.Payload
}

func (r *recorder) record(ps ...*commonpb.Payload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, ps...)
}

func (r *recorder) ToPayload(v any) (*commonpb.Payload, error) {
	p, err := r.DataConverter.ToPayload(v)
	if p != nil {
		r.record(p)
	}
	return p, err
}

func (r *recorder) ToPayloads(vs ...any) (*commonpb.Payloads, error) {
	ps, err := r.DataConverter.ToPayloads(vs...)
	r.record(ps.GetPayloads()...)
	return ps, err
}

func (r *recorder) FromPayload(p *commonpb.Payload, v any) error {
	if p != nil {
		r.record(p)
	}
	return r.DataConverter.FromPayload(p, v)
}

func (r *recorder) FromPayloads(ps *commonpb.Payloads, vs ...any) error {
	r.record(ps.GetPayloads()...)
	return r.DataConverter.FromPayloads(ps, vs...)
}

type order struct {
	ID   string
	Card string
}

func chargeActivity(_ context.Context, o order) (string, error) {
	if o.Card == "declined" {
		return "", temporal.NewNonRetryableApplicationError("card of "+o.ID+" declined", "card_declined", nil)
	}
	return "charged " + o.ID + " with " + o.Card, nil
}

func chargeWorkflow(ctx workflow.Context, o order) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var out string
	err := workflow.ExecuteActivity(ctx, "charge", o).Get(ctx, &out)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return "failed: " + appErr.Message(), nil
		}
		return "", err
	}
	return out, nil
}

func TestWorkflowPayloadsEncrypted(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	for _, tc := range []struct {
		card, want string
	}{
		{"4242-4242", "charged order-1001 with 4242-4242"},
		{"declined", "failed: card of order-1001 declined"},
	} {
		var suite testsuite.WorkflowTestSuite
		suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
		env := suite.NewTestWorkflowEnvironment()
		rec := &recorder{DataConverter: c.DataConverter()}
		env.SetDataConverter(rec)
		env.SetFailureConverter(c.FailureConverter())
		env.RegisterWorkflowWithOptions(chargeWorkflow, workflow.RegisterOptions{Name: "charge-flow"})
		env.RegisterActivityWithOptions(chargeActivity, activity.RegisterOptions{Name: "charge"})

		env.ExecuteWorkflow("charge-flow", order{ID: "order-1001", Card: tc.card})
		if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
			t.Fatalf("%s: workflow did not complete: %v", tc.card, env.GetWorkflowError())
		}
		var got string
		if err := env.GetWorkflowResult(&got); err != nil || got != tc.want {
			t.Errorf("%s: result %q (%v), want %q", tc.card, got, err, tc.want)
		}

		// Workflow input, activity input, activity result and workflow
		// result: at least four payloads, every one encrypted.
		rec.mu.Lock()
		seen := rec.seen
		rec.mu.Unlock()
		if len(seen) < 4 {
			t.Errorf("%s: the converter saw %d payloads, want at least 4", tc.card, len(seen))
		}
		for _, p := range seen {
			if string(p.Metadata[converter.MetadataEncoding]) != Encoding {
				t.Errorf("%s: payload not encrypted: %v", tc.card, p)
			}
			for _, plain := range []string{"order-1001", tc.card, "charged", "declined"} {
				if bytes.Contains(p.Data, []byte(plain)) {
					t.Errorf("%s: payload contains %q in the clear", tc.card, plain)
				}
			}
		}
	}
}
