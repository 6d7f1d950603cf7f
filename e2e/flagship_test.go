package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

// flagship runs the bundled order-to-invoice flow against the sandbox,
// with the shop's and Stripe's webhooks going through relay's receiver.
type flagship struct {
	e    *env
	sb   *sandbox.Running
	hook *httptest.Server
	flow *definitions.Flow
}

func startFlagship(t *testing.T, edit func(yaml string) string) *flagship {
	t.Helper()
	for name, value := range sandbox.DevCredentials {
		t.Setenv(name, value)
	}
	e := startEnv(t, "", nil)
	f := &flagship{e: e}
	// The receiver's URL must be known before the sandbox starts, and the
	// receiver needs the flow, which needs the sandbox's address.
	var handler http.Handler = http.NotFoundHandler()
	f.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.hook.Close)
	sb, err := sandbox.Start(sandbox.Options{WebhookURL: f.hook.URL, WebhookSecret: os.Getenv("STRIPE_WEBHOOK_SECRET"), WebhookDelay: 50 * time.Millisecond}, "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Stop)
	f.sb = sb
	src, err := os.ReadFile(repoFile(t, "definitions/flows/order-to-invoice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := sandbox.PointFlow(string(src), sb.HTTPAddr(), sb.SMTPAddr())
	if edit != nil {
		yaml = edit(yaml)
	}
	f.flow = e.load(t, yaml, "")
	recv, err := triggers.NewReceiver([]*definitions.Flow{f.flow}, e.runs, secrets.Resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	handler = (&apiserver.Server{Webhooks: recv}).Handler()
	return f
}

// order posts the shop's signed order.created webhook.
func (f *flagship) order(t *testing.T, id string) string {
	t.Helper()
	body := sandbox.SampleOrder(id, "ada@example.com")
	h, err := verify.Sign(verify.Config{Scheme: "standard_webhooks", Secrets: []string{os.Getenv("SHOP_WEBHOOK_SECRET")}}, body, time.Now(), "msg_"+id)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.hook.URL+sandbox.ShopOrderPath, strings.NewReader(string(body)))
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("shop order: %d %s, want 202", resp.StatusCode, b)
	}
	return "order-to-invoice/" + id
}

func (f *flagship) counts() map[string]int { return f.sb.Stats().Counts }

func TestOrderToInvoice(t *testing.T) {
	t.Run("every side effect exactly once", func(t *testing.T) {
		f := startFlagship(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id := f.order(t, "order-1001")
		res, err := f.e.runs.Result(ctx, id)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		out := runOutput(t, res)
		if out["total"] != 49.0 || !strings.HasPrefix(fmt.Sprint(out["invoice"]), "ACC-SINV-") || out["tracking_code"] == nil || !strings.HasPrefix(fmt.Sprint(out["paid"]), "pi_") {
			t.Errorf("output = %v, want the invoice, tracking code, payment and a total of 49", out)
		}
		want := map[string]int{
			"hubspot.contacts.created":        1,
			"hubspot.deals.created":           1,
			"hubspot.associations.created":    1,
			"erpnext.customers.created":       1,
			"erpnext.sales_orders.created":    1,
			"stripe.payment_intents.captured": 1,
			"easypost.shipments.created":      1,
			"easypost.shipments.bought":       1,
			"erpnext.invoices.created":        1,
			"smtp.messages.received":          1,
			"slack.messages.posted":           1,
		}
		got := f.counts()
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s = %d, want %d", k, got[k], n)
			}
		}
		if got["stripe.refunds.created"] != 0 || got["erpnext.sales_orders.cancelled"] != 0 {
			t.Errorf("compensation ran on a successful run: %v", got)
		}
		d, err := f.e.runs.Show(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Steps {
			if s.Status != workflows.StatusCompleted {
				t.Errorf("step %s: %s %s", s.Path, s.Status, s.Error)
			}
		}
		// Personal data configured for redaction never shows in runs show.
		redacting := *f.e.runs
		redacting.Redact = secrets.NewFieldRedactor([]string{"email", "tracking_code"})
		rd, err := redacting.Show(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if out := runOutput(t, rd.Result); out["tracking_code"] != secrets.Placeholder {
			t.Errorf("runs show with --redact-fields tracking_code shows the run's output %v", out)
		}
		if b, _ := json.Marshal(rd); strings.Contains(string(b), "ada@example.com") || !strings.Contains(string(b), secrets.Placeholder) {
			i := strings.Index(string(b), "ada@example.com")
			t.Errorf("runs show with --redact-fields email still shows the address: ...%s...", string(b)[max(0, i-200):min(len(b), i+50)])
		}
		assertNoSecretInHistory(t, f.e, id)
		h := historyJSON(t, f.e, id)
		// Every API response about the run and its flow, too.
		api := (&apiserver.Server{API: &apiserver.API{Runs: f.e.runs, Flows: []*definitions.Flow{f.flow}}}).Handler()
		for _, path := range []string{"/v1/runs/" + url.PathEscape(id), "/v1/runs?flow=order-to-invoice", "/v1/flows", "/v1/flows/order-to-invoice", "/v1/flows/order-to-invoice/graph"} {
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
			}
			h += rec.Body.String()
		}
		for name, value := range sandbox.DevCredentials {
			if strings.Contains(h, value) {
				t.Errorf("the history of %s or an API response contains the %s secret", id, name)
			}
		}
	})

	t.Run("a 500 after charging still charges once", func(t *testing.T) {
		f := startFlagship(t, func(yaml string) string {
			return strings.Replace(yaml, "    connector: stripe\n", "    connector: stripe\n    headers: {X-Sandbox-Fault: 500-after-effect}\n", 1)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id := f.order(t, "order-1002")
		if _, err := f.e.runs.Result(ctx, id); err != nil {
			t.Fatalf("run failed: %v", err)
		}
		got := f.counts()
		if got["stripe.payment_intents.created"] != 1 || got["stripe.payment_intents.captured"] != 1 {
			t.Errorf("payment intents created %d, captured %d; want exactly one each", got["stripe.payment_intents.created"], got["stripe.payment_intents.captured"])
		}
		d, err := f.e.runs.Show(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Steps {
			if s.ID == "payment" && s.Attempts < 1 {
				t.Errorf("payment attempts = %d", s.Attempts)
			}
		}
	})

	t.Run("a failure after payment refunds and cancels", func(t *testing.T) {
		f := startFlagship(t, func(yaml string) string {
			// The carrier refuses every shipment: a permanent failure.
			return strings.Replace(yaml, "to_address: ${{ input.shipping_address }}", "to_address: {}", 1)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id := f.order(t, "order-1003")
		_, err := f.e.runs.Result(ctx, id)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !strings.Contains(appErr.Message(), `step "shipment" failed`) {
			t.Fatalf("run error = %v, want the shipment step's failure", err)
		}
		got := f.counts()
		if got["stripe.refunds.created"] != 1 || got["erpnext.sales_orders.cancelled"] != 1 {
			t.Errorf("refunds %d, cancelled orders %d; want one each", got["stripe.refunds.created"], got["erpnext.sales_orders.cancelled"])
		}
		if got["erpnext.invoices.created"] != 0 || got["smtp.messages.received"] != 0 {
			t.Errorf("steps after the failure ran: %v", got)
		}
	})

	t.Run("the same order twice is one run", func(t *testing.T) {
		f := startFlagship(t, nil)
		id := f.order(t, "order-1004")
		body := sandbox.SampleOrder("order-1004", "ada@example.com")
		h, _ := verify.Sign(verify.Config{Scheme: "standard_webhooks", Secrets: []string{os.Getenv("SHOP_WEBHOOK_SECRET")}}, body, time.Now(), "msg_again")
		req, _ := http.NewRequest(http.MethodPost, f.hook.URL+sandbox.ShopOrderPath, strings.NewReader(string(body)))
		for k, vs := range h {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("redelivered order: %d, want 200", resp.StatusCode)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := f.e.runs.Result(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := f.counts()["stripe.payment_intents.captured"]; n != 1 {
			t.Errorf("captured %d times", n)
		}
	})
}

// runOutput is a run's declared output: a mapping.
func runOutput(t *testing.T, res *workflows.RunResult) map[string]any {
	t.Helper()
	out, ok := res.Output.(map[string]any)
	if !ok {
		t.Fatalf("run output %v is %T, want a mapping", res.Output, res.Output)
	}
	return out
}
