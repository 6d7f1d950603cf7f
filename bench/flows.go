package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/triggers/verify"
)

const (
	flagshipFile = "order-to-invoice.yaml"
	flagshipID   = "order-to-invoice"
	hook4ID      = "bench-hook4"
	hook4Path    = "/hooks/bench/hook4"
	ingestID     = "bench-ingest"
	ingestPath   = "/hooks/bench/ingest"
)

// hook4Flow is a webhook and four HTTP calls to the sandbox: the shape of
// the flow n8n's own benchmarks use.
const hook4Flow = `id: bench-hook4
version: 1
description: A signed webhook, then four HTTP calls (create, read, update a CRM contact; post to chat).
inputs:
  order_id: {type: string, required: true}
  email: {type: string, required: true}
  first_name: {type: string, default: ""}
  last_name: {type: string, default: ""}
trigger:
  webhook:
    path: /hooks/bench/hook4
    verify: {scheme: standard_webhooks, secrets: [env:SHOP_WEBHOOK_SECRET]}
    dedupe: body.data.id
    filter: body.type == "order.created"
    input:
      order_id: ${{ body.data.id }}
      email: ${{ body.data.customer.email }}
      first_name: ${{ body.data.customer.first_name ?? "" }}
      last_name: ${{ body.data.customer.last_name ?? "" }}
connections:
  crm:
    connector: http
    base_url: http://127.0.0.1:8090/hubspot
    auth: {kind: bearer, token: env:HUBSPOT_TOKEN}
  chat:
    connector: http
    base_url: http://127.0.0.1:8090/slack
steps:
  - id: create
    call: crm.request
    with:
      method: POST
      url: /crm/v3/objects/contacts
      body: {properties: {email: "${{ input.email }}", firstname: "${{ input.first_name }}"}}
  - id: read
    call: crm.request
    with: {url: "/crm/v3/objects/contacts/${{ steps.create.output.body.id }}"}
  - id: update
    call: crm.request
    with:
      method: PATCH
      url: /crm/v3/objects/contacts/${{ steps.create.output.body.id }}
      body: {properties: {lastname: "${{ input.last_name }}"}}
  - id: notify
    call: chat.request
    with:
      method: POST
      url: /services/T0RELAY/B0BENCH/sandbox
      body: {text: "New contact ${{ steps.create.output.body.id }} for order ${{ input.order_id }}"}
output:
  contact: ${{ steps.create.output.body.id }}
`

// ingestFlow starts a run per signed order and does almost nothing, so
// that ingest measures the start.
const ingestFlow = `id: bench-ingest
version: 1
inputs:
  order_id: {type: string, required: true}
  email: {type: string, required: true}
trigger:
  webhook:
    path: /hooks/bench/ingest
    verify: {scheme: standard_webhooks, secrets: [env:SHOP_WEBHOOK_SECRET]}
    dedupe: body.data.id
    filter: body.type == "order.created"
    input:
      order_id: ${{ body.data.id }}
      email: ${{ body.data.customer.email }}
steps:
  - id: accepted
    set: {order: "${{ input.order_id }}"}
`

// FlowResult compares relay running a flow with the hand-written Go
// workflow, at one concurrency.
type FlowResult struct {
	Flow        string `json:"flow"`
	Concurrency int    `json:"concurrency"`
	// Relay and Go count completed runs: webhook sent to run completed.
	Relay Side `json:"relay"`
	Go    Side `json:"go"`
	// Ratio is relay's runs/s over Go's.
	Ratio float64 `json:"ratio"`
	// RatioRange is the lowest and highest ratio over five windows of the
	// measurement (absent when it is too short to split).
	RatioRange []float64 `json:"ratio_range,omitempty"`
}

// HistoryResult compares the history one run of a flow leaves: what the
// server writes, stores and replays per run.
type HistoryResult struct {
	Flow        string `json:"flow"`
	RelayBytes  int64  `json:"relay_bytes"`
	RelayEvents int    `json:"relay_events"`
	GoBytes     int64  `json:"go_bytes"`
	GoEvents    int    `json:"go_events"`
}

var shopSigner = verify.Config{Scheme: "standard_webhooks", Secrets: []string{sandbox.DevCredentials["SHOP_WEBHOOK_SECRET"]}}

// postOrder posts a signed order.created for orderID to url and returns
// the status.
func (e *env) postOrder(ctx context.Context, url, orderID string) (int, error) {
	body := sandbox.SampleOrder(orderID, orderID+"@bench.example")
	h, err := verify.Sign(shopSigner, body, time.Now(), "msg_"+orderID)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// webhookRun posts an order to a receiver and waits for the run it started.
func (e *env) webhookRun(receiverURL, path, workflowPrefix, orderPrefix string) op {
	return func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s-%d", orderPrefix, i)
		status, err := e.postOrder(ctx, receiverURL+path, id)
		if err != nil {
			return fmt.Errorf("posting order %s: %w", id, err)
		}
		if status != http.StatusAccepted {
			return fmt.Errorf("posting order %s: status %d, want 202", id, status)
		}
		if err := e.client.GetWorkflow(ctx, workflowPrefix+id, "").Get(ctx, nil); err != nil {
			return fmt.Errorf("run %s%s: %w", workflowPrefix, id, err)
		}
		return nil
	}
}

func (e *env) flowsSection(ctx context.Context, o *Options, r *Report) error {
	cases := []struct {
		flow       string
		short      string // in order IDs
		path       string
		relayRunID string // workflow ID prefix of relay's runs
		goRunID    string
	}{
		{hook4ID, "hook4", hook4Path, hook4ID + "/", "go-hook4/"},
		{flagshipID, "o2i", sandbox.ShopOrderPath, flagshipID + "/", "go-order-to-invoice/"},
	}
	for _, c := range cases {
		if len(o.Flows) > 0 && !slices.Contains(o.Flows, c.flow) {
			continue
		}
		// Order IDs are unique per measurement, so that a concurrency listed
		// twice does not send orders the receivers already took.
		label := func(side string, m, conc int) string {
			return fmt.Sprintf("%s-%s-%s-m%d-c%d", e.tag, c.short, side, m, conc)
		}
		// Warm up both paths: workflow caches, connections, parsed definitions.
		wr, wg := alternate(ctx, plan{runs: 4}, 2,
			e.webhookRun(e.relayURL, c.path, c.relayRunID, label("warm-relay", 0, 0)),
			e.webhookRun(e.handURL, c.path, c.goRunID, label("warm-go", 0, 0)))
		for _, s := range []*series{wr, wg} {
			if s.firstErr != nil {
				return fmt.Errorf("warming up %s: %w", c.flow, s.firstErr)
			}
		}
		// What one run costs the server: the first warm-up run of each side.
		hr, err := historySize(ctx, e.client, c.relayRunID+label("warm-relay", 0, 0)+"-0", "")
		if err != nil {
			return fmt.Errorf("reading the history of a %s run: %w", c.flow, err)
		}
		hg, err := historySize(ctx, e.client, c.goRunID+label("warm-go", 0, 0)+"-0", "")
		if err != nil {
			return fmt.Errorf("reading the history of a hand-written %s run: %w", c.flow, err)
		}
		r.Histories = append(r.Histories, HistoryResult{Flow: c.flow, RelayBytes: hr.bytes, RelayEvents: hr.events, GoBytes: hg.bytes, GoEvents: hg.events})
		o.progress("history %-16s relay %d bytes in %d events, go %d bytes in %d events", c.flow, hr.bytes, hr.events, hg.bytes, hg.events)
		for k, conc := range o.Concurrency {
			p := o.plan()
			p.bFirst = k%2 == 1
			relay, goSide := alternate(ctx, p, conc,
				e.webhookRun(e.relayURL, c.path, c.relayRunID, label("relay", k, conc)),
				e.webhookRun(e.handURL, c.path, c.goRunID, label("go", k, conc)))
			res := FlowResult{Flow: c.flow, Concurrency: conc, Relay: relay.side(), Go: goSide.side()}
			res.Ratio = round(ratio(res.Relay.PerSecond, res.Go.PerSecond), 3)
			res.RatioRange = ratioRange(relay, goSide, rangeWindows)
			r.Flows = append(r.Flows, res)
			o.progress("flows  %-16s c=%-4d relay %7.1f runs/s  go %7.1f runs/s  ratio %.2f  cpu/run relay %.2f ms go %.2f ms  errors %d", c.flow, conc, res.Relay.PerSecond, res.Go.PerSecond, res.Ratio, res.Relay.CPUMsPerRun, res.Go.CPUMsPerRun, res.Relay.Errors+res.Go.Errors)
			e.sbRelay.Reset()
			e.sbHand.Reset()
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
