package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

// The reference: what a Go developer would write by hand for the bench's
// flows, on the same worker, calling the same activities with the same
// options (local for a Short action, as relay does), behind webhook
// handlers that verify the same signatures.
const (
	handFlagshipWorkflow = "bench.handwritten.order-to-invoice"
	handHook4Workflow    = "bench.handwritten.hook4"
	handPaymentSignal    = "payment.succeeded"
)

// Retry settings relay uses for a step without `retry:`.
var defaultRetry = temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10}

type handWritten struct {
	client   client.Client
	reg      *connectors.Registry
	flagship map[string]connectors.ConnectionConfig
	hook4    map[string]connectors.ConnectionConfig
	// ingestInput builds the ingest flow's run input for an order, as
	// the bare loop does: the handler starts the same runs.
	ingestInput func(orderID, email string) (workflows.RunInput, error)
}

func newHandWritten(c client.Client, reg *connectors.Registry, flagship, hook4 map[string]*definitions.Connection) *handWritten {
	configs := func(conns map[string]*definitions.Connection) map[string]connectors.ConnectionConfig {
		out := map[string]connectors.ConnectionConfig{}
		for name, conn := range conns {
			out[name] = conn.Config
		}
		return out
	}
	return &handWritten{client: c, reg: reg, flagship: configs(flagship), hook4: configs(hook4)}
}

func (h *handWritten) register(w sdkworker.Worker) {
	w.RegisterWorkflowWithOptions(h.orderToInvoice, workflow.RegisterOptions{Name: handFlagshipWorkflow})
	w.RegisterWorkflowWithOptions(h.hook4Calls, workflow.RegisterOptions{Name: handHook4Workflow})
}

// call runs one connector action the way relay's interpreter does.
func (h *handWritten) call(ctx workflow.Context, conns map[string]connectors.ConnectionConfig, step, conn, action string, params map[string]any, policy *temporal.RetryPolicy) (map[string]any, error) {
	cfg := conns[conn]
	in := activities.CallInput{
		Flow: workflow.GetInfo(ctx).WorkflowType.Name, Step: step, Connection: conn, Config: cfg,
		Connector: cfg.Connector, Action: action, Params: params,
		IdempotencyKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + step,
	}
	if policy == nil {
		policy = &defaultRetry
	}
	activityType := connectors.ActivityType(cfg.Connector, action)
	var fut workflow.Future
	if c := h.reg.Lookup(cfg.Connector); c != nil && c.Action(action) != nil && c.Action(action).Short {
		fut = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: policy}), activityType, in)
	} else {
		fut = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: policy}), activityType, in)
	}
	var res activities.CallResult
	if err := fut.Get(ctx, &res); err != nil {
		return nil, fmt.Errorf("step %s: %w", step, err)
	}
	out, _ := res.Output.(map[string]any)
	return out, nil
}

// order is the part of the shop's order.created webhook the flows read.
type order struct {
	ID              string         `json:"order_id"`
	Email           string         `json:"email"`
	FirstName       string         `json:"first_name"`
	LastName        string         `json:"last_name"`
	Currency        string         `json:"currency"`
	Lines           []orderLine    `json:"lines"`
	ShippingAddress map[string]any `json:"shipping_address"`
	DeliveryDate    string         `json:"delivery_date"`
}

type orderLine struct {
	SKU   string  `json:"sku"`
	Qty   float64 `json:"qty"`
	Price float64 `json:"price"`
}

// orderToInvoice is the bundled order-to-invoice flow written in Go.
func (h *handWritten) orderToInvoice(ctx workflow.Context, o order) (map[string]any, error) {
	call := func(step, conn, action string, params map[string]any) (map[string]any, error) {
		return h.call(ctx, h.flagship, step, conn, action, params, nil)
	}
	var total float64
	items := make([]any, len(o.Lines))
	for i, l := range o.Lines {
		total += l.Qty * l.Price
		items[i] = map[string]any{"item_code": l.SKU, "qty": l.Qty, "rate": l.Price}
	}
	amountMinor := int(math.Round(total * 100))
	customerName := strings.TrimSpace(o.FirstName + " " + o.LastName)
	if customerName == "" {
		customerName = o.Email
	}

	var undo []func(ctx workflow.Context)
	compensate := func(err error) error {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i](dctx)
		}
		return err
	}

	contact, err := call("contact", "crm", "upsert_contact", map[string]any{"email": o.Email, "firstname": o.FirstName, "lastname": o.LastName})
	if err != nil {
		return nil, err
	}
	deal, err := call("deal", "crm", "create_deal", map[string]any{"dealname": "Order " + o.ID, "amount": total, "properties": map[string]any{"closedate": o.DeliveryDate}, "unique_property": "relay_key"})
	if err != nil {
		return nil, err
	}
	if _, err := call("deal_contact", "crm", "associate", map[string]any{"from_type": "deals", "from_id": deal["id"], "to_type": "contacts", "to_id": contact["id"]}); err != nil {
		return nil, err
	}
	customer, err := call("customer", "erp", "upsert_customer", map[string]any{"customer_name": customerName, "email": o.Email})
	if err != nil {
		return nil, err
	}
	salesOrder, err := call("sales_order", "erp", "create_sales_order", map[string]any{
		"customer": customer["name"], "po_no": o.ID, "delivery_date": o.DeliveryDate, "currency": strings.ToUpper(o.Currency), "items": items,
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func(ctx workflow.Context) {
		_, _ = h.call(ctx, h.flagship, "cancel_sales_order", "erp", "cancel_sales_order", map[string]any{"name": salesOrder["name"]}, nil)
	})
	payment, err := h.call(ctx, h.flagship, "payment", "payments", "create_payment_intent", map[string]any{
		"amount": amountMinor, "currency": o.Currency, "capture_method": "automatic", "confirm": true,
		"description": "Order " + o.ID, "metadata": map[string]any{"order_id": o.ID},
	}, &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5, NonRetryableErrorTypes: []string{"stripe.card_declined"}})
	if err != nil {
		return nil, compensate(err)
	}
	undo = append(undo, func(ctx workflow.Context) {
		_, _ = h.call(ctx, h.flagship, "refund", "payments", "create_refund", map[string]any{"payment_intent": payment["id"], "reason": "requested_by_customer"}, nil)
	})

	// Wait for Stripe's payment_intent.succeeded, at most an hour.
	var paid map[string]any
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	timedOut := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, handPaymentSignal), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &paid) })
	sel.AddFuture(workflow.NewTimer(timerCtx, time.Hour), func(workflow.Future) { timedOut = true })
	sel.Select(ctx)
	cancelTimer()
	if timedOut {
		return nil, compensate(temporal.NewNonRetryableApplicationError("no payment confirmation within 1h", "wait_timeout", nil))
	}

	shipment, err := call("shipment", "carrier", "create_shipment", map[string]any{
		"reference": o.ID, "to_address": o.ShippingAddress,
		"from_address": map[string]any{"name": "Relay Shop Warehouse", "street1": "1 Dock Road", "city": "London", "zip": "E16 2QD", "country": "GB"},
		"parcel":       map[string]any{"length": 20, "width": 15, "height": 10, "weight": 32},
	})
	if err != nil {
		return nil, compensate(err)
	}
	label, err := call("label", "carrier", "buy_shipment", map[string]any{"id": shipment["id"]})
	if err != nil {
		return nil, compensate(err)
	}
	undo = append(undo, func(ctx workflow.Context) {
		_, _ = h.call(ctx, h.flagship, "void_label", "carrier", "refund_shipment", map[string]any{"id": shipment["id"]}, nil)
	})
	invoice, err := call("invoice", "erp", "create_invoice", map[string]any{"customer": customer["name"], "sales_order": salesOrder["name"], "items": items})
	if err != nil {
		return nil, compensate(err)
	}

	// Notify the customer and the team at once.
	var emailErr, teamErr error
	wg := workflow.NewWaitGroup(ctx)
	wg.Add(2)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer wg.Done()
		_, emailErr = h.call(ctx, h.flagship, "email", "mail", "send_email", map[string]any{
			"from": "orders@relay-shop.example", "to": o.Email, "subject": fmt.Sprintf("Your order %s is on its way", o.ID),
			"text": fmt.Sprintf("Thank you! Invoice %v, tracking %v.", invoice["name"], label["tracking_code"]),
		}, nil)
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer wg.Done()
		_, teamErr = h.call(ctx, h.flagship, "team_message", "team", "post_message", map[string]any{
			"text": fmt.Sprintf("Order %s shipped: %v %s, tracking %v", o.ID, total, strings.ToUpper(o.Currency), label["tracking_code"]),
		}, nil)
	})
	wg.Wait(ctx)
	if emailErr != nil {
		return nil, compensate(emailErr)
	}
	if teamErr != nil {
		return nil, compensate(teamErr)
	}
	return map[string]any{"invoice": invoice["name"], "tracking_code": label["tracking_code"], "paid": paid["id"]}, nil
}

// hook4Calls is the webhook + 4 calls flow written in Go.
func (h *handWritten) hook4Calls(ctx workflow.Context, o order) (map[string]any, error) {
	call := func(step, conn string, params map[string]any) (map[string]any, error) {
		return h.call(ctx, h.hook4, step, conn, "request", params, nil)
	}
	created, err := call("create", "crm", map[string]any{"method": "POST", "url": "/crm/v3/objects/contacts",
		"body": map[string]any{"properties": map[string]any{"email": o.Email, "firstname": o.FirstName}}})
	if err != nil {
		return nil, err
	}
	body, _ := created["body"].(map[string]any)
	contact := fmt.Sprintf("/crm/v3/objects/contacts/%v", body["id"])
	if _, err := call("read", "crm", map[string]any{"url": contact}); err != nil {
		return nil, err
	}
	if _, err := call("update", "crm", map[string]any{"method": "PATCH", "url": contact,
		"body": map[string]any{"properties": map[string]any{"lastname": o.LastName}}}); err != nil {
		return nil, err
	}
	if _, err := call("notify", "chat", map[string]any{"method": "POST", "url": "/services/T0RELAY/B0BENCH/sandbox",
		"body": map[string]any{"text": fmt.Sprintf("New contact %v for order %s", body["id"], o.ID)}}); err != nil {
		return nil, err
	}
	return map[string]any{"contact": body["id"]}, nil
}

// handler serves the hand-written webhook endpoints on relay's paths:
// the shop's orders for both flows, and Stripe's events.
func (h *handWritten) handler() (http.Handler, error) {
	shop, err := verify.New(verify.Config{Scheme: "standard_webhooks", Secrets: []string{sandbox.DevCredentials["SHOP_WEBHOOK_SECRET"]}})
	if err != nil {
		return nil, fmt.Errorf("building the hand-written shop verifier: %w", err)
	}
	stripe, err := verify.New(verify.Config{Scheme: "stripe", Secrets: []string{sandbox.DevCredentials["STRIPE_WEBHOOK_SECRET"]}})
	if err != nil {
		return nil, fmt.Errorf("building the hand-written Stripe verifier: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+sandbox.ShopOrderPath, func(w http.ResponseWriter, r *http.Request) {
		h.startOrder(w, r, shop, handFlagshipWorkflow, "go-order-to-invoice/")
	})
	mux.HandleFunc("POST "+hook4Path, func(w http.ResponseWriter, r *http.Request) {
		h.startOrder(w, r, shop, handHook4Workflow, "go-hook4/")
	})
	mux.HandleFunc("POST "+ingestPath, func(w http.ResponseWriter, r *http.Request) {
		h.startIngest(w, r, shop)
	})
	mux.HandleFunc("POST "+sandbox.StripeWebhookPath, func(w http.ResponseWriter, r *http.Request) {
		body, ok := verified(w, r, stripe)
		if !ok {
			return
		}
		var evt struct {
			Type string `json:"type"`
			Data struct {
				Object map[string]any `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &evt); err != nil {
			http.Error(w, "invalid JSON", http.StatusBadRequest)
			return
		}
		if evt.Type != "payment_intent.succeeded" {
			w.WriteHeader(http.StatusOK)
			return
		}
		md, _ := evt.Data.Object["metadata"].(map[string]any)
		id := fmt.Sprint(md["order_id"])
		err := h.client.SignalWorkflow(r.Context(), "go-order-to-invoice/"+id, "", handPaymentSignal, evt.Data.Object)
		if err != nil {
			http.Error(w, "signalling the run failed", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return mux, nil
}

func verified(w http.ResponseWriter, r *http.Request, v verify.Verifier) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading body failed", http.StatusBadRequest)
		return nil, false
	}
	if err := v.Verify(r.Header, body); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// startOrder starts one run per order ID, answering 200 for an order seen before.
func (h *handWritten) startOrder(w http.ResponseWriter, r *http.Request, v verify.Verifier, workflowType, idPrefix string) {
	o, ok := orderCreated(w, r, v)
	if !ok {
		return
	}
	h.startOnce(w, r, idPrefix+o.ID, workflowType, o)
}

// startIngest starts the ingest flow's run for an order, once per order
// ID: relay's receiver for that flow, written by hand.
func (h *handWritten) startIngest(w http.ResponseWriter, r *http.Request, v verify.Verifier) {
	o, ok := orderCreated(w, r, v)
	if !ok {
		return
	}
	in, err := h.ingestInput(o.ID, o.Email)
	if err != nil {
		http.Error(w, "invalid order", http.StatusUnprocessableEntity)
		return
	}
	h.startOnce(w, r, ingestID+"/"+o.ID, workflows.RunWorkflow, in)
}

// orderCreated reads a verified order.created webhook into an order. It
// answers the request itself and reports false for any other delivery:
// an error for a bad one, 200 for another event type.
func orderCreated(w http.ResponseWriter, r *http.Request, v verify.Verifier) (order, bool) {
	body, ok := verified(w, r, v)
	if !ok {
		return order{}, false
	}
	var evt struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
			Currency  string `json:"currency"`
			Customer  struct {
				Email     string `json:"email"`
				FirstName string `json:"first_name"`
				LastName  string `json:"last_name"`
			} `json:"customer"`
			Lines           []orderLine    `json:"lines"`
			ShippingAddress map[string]any `json:"shipping_address"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &evt); err != nil || evt.Data.ID == "" {
		http.Error(w, "invalid order", http.StatusBadRequest)
		return order{}, false
	}
	if evt.Type != "order.created" {
		w.WriteHeader(http.StatusOK)
		return order{}, false
	}
	created, err := time.Parse(time.RFC3339, evt.Data.CreatedAt)
	if err != nil {
		http.Error(w, "invalid created_at", http.StatusUnprocessableEntity)
		return order{}, false
	}
	d := evt.Data
	o := order{ID: d.ID, Email: d.Customer.Email, FirstName: d.Customer.FirstName, LastName: d.Customer.LastName, Currency: d.Currency,
		Lines: d.Lines, ShippingAddress: d.ShippingAddress, DeliveryDate: created.Add(72 * time.Hour).Format("2006-01-02")}
	if o.Currency == "" {
		o.Currency = "eur"
	}
	return o, true
}

// startOnce starts the workflow wf under id unless a run of that ID was
// started before, and answers 202, or 200 for a duplicate.
func (h *handWritten) startOnce(w http.ResponseWriter, r *http.Request, id string, wf, arg any) {
	_, err := h.client.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{
		ID: id, TaskQueue: TaskQueue, EnableEagerStart: true,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, wf, arg)
	var dup *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &dup):
		w.WriteHeader(http.StatusOK)
	case err != nil:
		http.Error(w, "starting the run failed", http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}
