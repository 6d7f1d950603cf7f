package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

const (
	shopSecret   = "whsec_c2hvcC1zZWNyZXQtZm9yLWUyZS10ZXN0cw=="
	stripeSecret = "whsec_stripe_e2e_7a1f"
)

const webhookFlow = `
id: shop-order
version: 1
inputs:
  order_id: {type: string, required: true}
  total: {type: number, required: true}
trigger:
  webhook:
    path: /hooks/shop/orders
    verify: {scheme: standard_webhooks, secrets: [env:E2E_SHOP_SECRET]}
    dedupe: body.order.id
    filter: body.type == "order.created"
    input:
      order_id: ${{ body.order.id }}
      total: ${{ body.order.total }}
    max_body: 4096
events:
  - name: payment.succeeded
    webhook:
      path: /hooks/stripe
      verify: {scheme: stripe, secrets: [env:E2E_STRIPE_SECRET]}
      filter: body.type == "payment_intent.succeeded"
    run: body.data.object.metadata.order_id
    data: ${{ body.data.object }}
steps:
  - id: paid
    wait: {event: payment.succeeded, correlation: input.order_id, timeout: 1h}
  - id: done
    set: {amount: "${{ steps.paid.output.amount }}"}
`

type hookClient struct {
	t   *testing.T
	url string
}

// post sends body to path, signed for the path's scheme unless sign is false.
func (h hookClient) post(path string, body []byte, sign bool) (int, map[string]any, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if sign {
		cfg := verify.Config{Scheme: "standard_webhooks", Secrets: []string{shopSecret}}
		if path == "/hooks/stripe" {
			cfg = verify.Config{Scheme: "stripe", Secrets: []string{stripeSecret}}
		}
		sum := fmt.Sprintf("msg_%x", len(body))
		headers, err := verify.Sign(cfg, body, time.Now(), sum+"-"+string(body[:min(len(body), 8)]))
		if err != nil {
			h.t.Fatal(err)
		}
		for k, vs := range headers {
			req.Header[k] = vs
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func order(id string, typ string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "order": map[string]any{"id": id, "total": 42.5}})
	return b
}

func paymentEvent(eventID, orderID string) []byte {
	b, _ := json.Marshal(map[string]any{"id": eventID, "type": "payment_intent.succeeded",
		"data": map[string]any{"object": map[string]any{"id": "pi_1", "amount": 4250, "metadata": map[string]any{"order_id": orderID}}}})
	return b
}

func newReceiver(t *testing.T, rc *runs.Client, flows ...*definitions.Flow) hookClient {
	t.Helper()
	return newLoggedReceiver(t, rc, nil, flows...)
}

func newLoggedReceiver(t *testing.T, rc *runs.Client, logger *slog.Logger, flows ...*definitions.Flow) hookClient {
	t.Helper()
	secretsByRef := map[string]string{"env:E2E_SHOP_SECRET": shopSecret, "env:E2E_STRIPE_SECRET": stripeSecret}
	recv, err := triggers.NewReceiver(flows, rc, func(ref string) (string, error) { return secretsByRef[ref], nil }, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&apiserver.Server{Webhooks: recv}).Handler())
	t.Cleanup(srv.Close)
	return hookClient{t: t, url: srv.URL}
}

func TestWebhooks(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, webhookFlow, "")
	h := newReceiver(t, e.runs, flow)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			path   string
			body   []byte
			sign   bool
			status int
			code   string
		}{
			{"unknown path", "/hooks/nothing-here", order("x", "order.created"), true, http.StatusNotFound, "not_found"},
			{"too large", "/hooks/shop/orders", bytes.Repeat([]byte("a"), 5000), true, http.StatusRequestEntityTooLarge, "too_large"},
			{"unsigned", "/hooks/shop/orders", order("x", "order.created"), false, http.StatusUnauthorized, "invalid_signature"},
			{"malformed JSON", "/hooks/shop/orders", []byte(`{"type":`), true, http.StatusBadRequest, "invalid_json"},
			{"input does not fit the flow", "/hooks/shop/orders", []byte(`{"type":"order.created","order":{"id":"o-bad","total":"lots"}}`), true, http.StatusUnprocessableEntity, "invalid_input"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, body, header := h.post(tt.path, tt.body, tt.sign)
				errBody, _ := body["error"].(map[string]any)
				if status != tt.status || errBody["code"] != tt.code {
					t.Errorf("got %d %v, want %d %s", status, body, tt.status, tt.code)
				}
				if errBody["request_id"] == "" || errBody["request_id"] != header.Get(apiserver.RequestIDHeader) {
					t.Errorf("request_id %v, header %q", errBody["request_id"], header.Get(apiserver.RequestIDHeader))
				}
			})
		}
		if _, err := e.client.DescribeWorkflowExecution(ctx, "shop-order/o-bad", ""); err == nil {
			t.Error("a delivery whose input does not fit started a run")
		}
		status, body, _ := h.post("/hooks/shop/orders", order("o-filtered", "order.updated"), true)
		if status != http.StatusOK || body["status"] != "ignored" {
			t.Errorf("filtered delivery: %d %v, want 200 ignored", status, body)
		}
		if _, err := e.client.DescribeWorkflowExecution(ctx, "shop-order/o-filtered", ""); err == nil {
			t.Error("a filtered delivery started a run")
		}
	})

	t.Run("one run per delivery, woken by its payment", func(t *testing.T) {
		status, body, _ := h.post("/hooks/stripe", paymentEvent("evt_early", "o-1"), true)
		if status != http.StatusConflict {
			t.Errorf("event before its run exists: %d %v, want 409 so the partner retries", status, body)
		}
		status, first, _ := h.post("/hooks/shop/orders", order("o-1", "order.created"), true)
		if status != http.StatusAccepted || first["workflow_id"] != "shop-order/o-1" {
			t.Fatalf("first delivery: %d %v", status, first)
		}
		status, again, _ := h.post("/hooks/shop/orders", order("o-1", "order.created"), true)
		if status != http.StatusOK || again["status"] != "duplicate" || again["run_id"] != first["run_id"] {
			t.Fatalf("redelivery: %d %v, want 200 duplicate of run %v", status, again, first["run_id"])
		}
		// A redelivered event wakes nothing twice: accepted while the run is
		// open (the run drops the duplicate), 200 run_ended once it is not.
		for range 2 {
			status, body, _ := h.post("/hooks/stripe", paymentEvent("evt_1", "o-1"), true)
			if status != http.StatusAccepted && !(status == http.StatusOK && body["status"] == "run_ended") {
				t.Fatalf("payment event: %d %v", status, body)
			}
		}
		res, err := e.runs.Result(ctx, "shop-order/o-1")
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if res.Vars["amount"] != 4250.0 {
			t.Errorf("vars = %v", res.Vars)
		}
		var in workflows.RunInput
		hist := history(t, e, "shop-order/o-1")
		payload := hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
		if err := json.Unmarshal(payload.GetData(), &in); err != nil {
			t.Fatal(err)
		}
		if in.Trigger == nil || !strings.Contains(string(in.Trigger.Body), `"o-1"`) || in.Trigger.Path != "/hooks/shop/orders" {
			t.Errorf("the raw delivery is not in the run's history: %+v", in.Trigger)
		}
	})

	t.Run("50 concurrent identical deliveries start one run", func(t *testing.T) {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			counts = map[int]int{}
			runIDs = map[string]bool{}
		)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, body, _ := h.post("/hooks/shop/orders", order("o-50", "order.created"), true)
				mu.Lock()
				defer mu.Unlock()
				counts[status]++
				if id, _ := body["run_id"].(string); id != "" {
					runIDs[id] = true
				}
			}()
		}
		wg.Wait()
		if counts[http.StatusAccepted] != 1 || counts[http.StatusOK] != 49 || len(runIDs) != 1 {
			t.Errorf("answers %v, run IDs %v: want one 202, 49 duplicates, one run", counts, runIDs)
		}
	})
}

// TestWebhookTemporalUnavailable: when Temporal cannot take the run, the
// receiver answers 503 with Retry-After, never 2xx or 4xx.
func TestWebhookTemporalUnavailable(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, webhookFlow, "")
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: quietLogger{}, ConnectionOptions: client.ConnectionOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	rc := &runs.Client{Temporal: down, Namespace: "default", TaskQueue: "relay", Flows: e.runs.Flows}
	h := newReceiver(t, rc, flow)
	status, body, header := h.post("/hooks/shop/orders", order("o-down", "order.created"), true)
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
		t.Errorf("with Temporal down: %d %v (Retry-After %q), want 503 with Retry-After", status, body, header.Get("Retry-After"))
	}
}

// TestWebhookSignalWithStart: an event whose route has a start mapping
// starts its run when the run does not exist yet, and the run consumes it.
func TestWebhookSignalWithStart(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, `
id: refunds
version: 1
inputs:
  charge: {type: string, required: true}
events:
  - name: charge.refunded
    webhook:
      path: /hooks/stripe
      verify: {scheme: stripe, secrets: [env:E2E_STRIPE_SECRET]}
    run: body.data.object.id
    start: {charge: "${{ body.data.object.id }}"}
steps:
  - id: refunded
    wait: {event: charge.refunded, timeout: 1h}
  - id: note
    set: {amount: "${{ steps.refunded.output.data.object.amount }}"}
`, "")
	h := newReceiver(t, e.runs, flow)
	body := []byte(`{"id":"evt_r1","type":"charge.refunded","data":{"object":{"id":"ch_9","amount":700}}}`)
	if status, answer, _ := h.post("/hooks/stripe", body, true); status != http.StatusAccepted {
		t.Fatalf("first event: %d %v", status, answer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.runs.Result(ctx, "refunds/ch_9")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Vars["amount"] != 700.0 {
		t.Errorf("vars = %v", res.Vars)
	}
	if status, answer, _ := h.post("/hooks/stripe", []byte(`{"id":"evt_r2","type":"charge.refunded","data":{"object":{"id":"ch_9","amount":700}}}`), true); status != http.StatusOK || answer["status"] != "run_ended" {
		t.Errorf("late event: %d %v, want 200 run_ended and no new run", status, answer)
	}
}

// TestWebhookFindsRunOfEarlierRelay: on the embedded server's visibility,
// a start route finds a run an earlier relay named with a numeric key in
// exponent form (its redelivery is a duplicate, not a second run), and
// starts other numeric keys under their plain name.
func TestWebhookFindsRunOfEarlierRelay(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, `
id: numbered
version: 1
inputs:
  order_id: {type: number, required: true}
trigger:
  webhook:
    path: /hooks/numbered
    verify: {scheme: standard_webhooks, secrets: [env:E2E_SHOP_SECRET]}
    dedupe: body.order.id
    input: {order_id: "${{ body.order.id }}"}
steps:
  - id: done
    set: {order: "${{ input.order_id }}"}
`, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const earlier = "numbered/1.2345678e+07" // fmt.Sprint(12345678.0), as relay before 2026-11-23 named it
	if _, err := e.runs.Start(ctx, flow, map[string]any{"order_id": 12345678.0}, runs.StartOptions{WorkflowID: earlier}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "visibility to list the earlier relay's run", func() error {
		n, err := e.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = %q", earlier)})
		if err == nil && n.GetCount() != 1 {
			err = fmt.Errorf("counted %d", n.GetCount())
		}
		return err
	})
	var log lockedBuffer
	h := newLoggedReceiver(t, e.runs, slog.New(slog.NewTextHandler(&log, nil)), flow)
	post := func(id float64) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"order": map[string]any{"id": id}})
		status, answer, _ := h.post("/hooks/numbered", b, true)
		return status, answer
	}
	if status, answer := post(12345678); status != http.StatusOK || answer["workflow_id"] != earlier {
		t.Errorf("redelivery of the earlier relay's order: %d %v, want 200 naming %s", status, answer, earlier)
	}
	if status, answer := post(23456789); status != http.StatusAccepted || answer["workflow_id"] != "numbered/23456789" {
		t.Errorf("a new order: %d %v, want 202 naming numbered/23456789", status, answer)
	}
	// The receiver counted the run on visibility (the query is one the
	// server takes), rather than falling back to a describe per delivery.
	if got := log.String(); !strings.Contains(got, "runs named by an earlier relay exist") || strings.Contains(got, "could not count") {
		t.Errorf("receiver log:\n%s\nwant the count of earlier runs to have found one", got)
	}
}
