package easypost_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/easypost"
	"github.com/relay-dev/relay/sandbox"
)

// TestAgainstSandbox ships one parcel end to end: create, buy the cheapest
// rate, read the tracker, receive the signed tracking webhook, refund.
func TestAgainstSandbox(t *testing.T) {
	const webhookSecret = "whsec_easypost_test"
	events := make(chan map[string]any, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		want := sandbox.SignEasyPost(webhookSecret, body)
		if r.URL.Path != "/hooks/easypost" || !hmac.Equal([]byte(r.Header.Get("X-Hmac-Signature")), []byte(want)) {
			t.Errorf("webhook %s with signature %q, want /hooks/easypost signed %q", r.URL.Path, r.Header.Get("X-Hmac-Signature"), want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		events <- ev
	}))
	defer receiver.Close()
	sb := sandbox.New(sandbox.Options{WebhookURL: receiver.URL, WebhookSecret: webhookSecret, WebhookDelay: time.Millisecond})
	defer sb.Close()
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()

	cfg := connectors.ConnectionConfig{Connector: "easypost", BaseURL: srv.URL + "/easypost",
		Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:EASYPOST_API_KEY"}}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return "EZTK_sandbox_key", nil }, connectors.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := easypost.Connector()
	call := func(action, key string, params map[string]any) (map[string]any, error) {
		t.Helper()
		out, err := c.Action(action).Do(context.Background(), &connectors.Call{Connection: "carrier", Config: cfg, Client: client, Params: params, IdempotencyKey: key})
		if err != nil {
			return nil, err
		}
		return out.(map[string]any), nil
	}
	must := func(out map[string]any, err error) map[string]any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	shp := must(call("create_shipment", "order-1/ship", map[string]any{"to_address": toAddress, "from_address": fromAddress, "parcel": parcel, "reference": "order-1"}))
	id, _ := shp["id"].(string)
	rates, _ := shp["rates"].([]any)
	if len(id) < 5 || id[:4] != "shp_" || len(rates) < 2 {
		t.Fatalf("shipment %v: want an shp_ id and rates", shp)
	}
	cheapestID, cheapestRate := "", 1e9
	for _, r := range rates {
		rate := r.(map[string]any)
		amount, _ := strconv.ParseFloat(rate["rate"].(string), 64)
		if amount < cheapestRate {
			cheapestID, cheapestRate = rate["id"].(string), amount
		}
		for _, f := range []string{"id", "carrier", "service", "rate", "currency"} {
			if rate[f] == nil {
				t.Errorf("rate %v has no %s", rate, f)
			}
		}
	}
	// A create retried with the same key replays the first answer.
	if again := must(call("create_shipment", "order-1/ship", map[string]any{"to_address": toAddress, "from_address": fromAddress, "parcel": parcel, "reference": "order-1"})); again["id"] != id {
		t.Errorf("a replayed create made shipment %v, want %v", again["id"], id)
	}

	bought := must(call("buy_shipment", "order-1/buy", map[string]any{"id": id}))
	selected, _ := bought["selected_rate"].(map[string]any)
	label, _ := bought["postage_label"].(map[string]any)
	code, _ := bought["tracking_code"].(string)
	if selected["id"] != cheapestID || label["label_url"] == nil || len(code) < 3 || code[:2] != "EZ" {
		t.Fatalf("bought %v: want the cheapest rate %s, a label URL and an EZ tracking code", bought, cheapestID)
	}
	// The same step again: with the rate named, the key replays; without,
	// the shipment is seen bought. Neither buys twice.
	if again := must(call("buy_shipment", "order-1/buy", map[string]any{"id": id, "rate_id": cheapestID})); again["tracking_code"] != code {
		t.Errorf("replayed buy gave tracking code %v, want %s", again["tracking_code"], code)
	}
	if again := must(call("buy_shipment", "order-1/buy-replayed", map[string]any{"id": id})); again["tracking_code"] != code {
		t.Errorf("buy of a bought shipment gave tracking code %v, want %s", again["tracking_code"], code)
	}
	_, err = call("buy_shipment", "order-2/buy", map[string]any{"id": id, "rate_id": cheapestID})
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "easypost.SHIPMENT.POSTAGE.EXISTS" || ce.Retryable {
		t.Errorf("buying a bought shipment under a new key: %v, want permanent easypost.SHIPMENT.POSTAGE.EXISTS", err)
	}

	tracker := must(call("get_tracker", "", map[string]any{"tracking_code": code}))
	if tracker["status"] != "in_transit" || tracker["shipment_id"] != id {
		t.Errorf("tracker %v: want in_transit for %s", tracker, id)
	}
	select {
	case ev := <-events:
		result, _ := ev["result"].(map[string]any)
		if ev["description"] != "tracker.updated" || result["tracking_code"] != code || result["status"] != "in_transit" || result["shipment_id"] != id {
			t.Errorf("event %v: want tracker.updated in_transit for %s", ev, code)
		}
		if evID, _ := ev["id"].(string); len(evID) < 4 || evID[:4] != "evt_" {
			t.Errorf("event id %q, want evt_…", evID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no tracking webhook")
	}

	refunded := must(call("refund_shipment", "order-1/ship/undo", map[string]any{"id": id}))
	if refunded["refund_status"] != "submitted" {
		t.Errorf("refund_status = %v, want submitted", refunded["refund_status"])
	}
	must(call("refund_shipment", "order-1/ship/undo", map[string]any{"id": id}))
	must(call("refund_shipment", "order-1/ship/undo-again", map[string]any{"id": id}))

	_, err = call("get_tracker", "", map[string]any{"tracking_code": "EZ0000000000"})
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "easypost.NOT_FOUND" || ce.Retryable {
		t.Errorf("unknown tracking code: %v, want permanent easypost.NOT_FOUND", err)
	}
	_, err = call("buy_shipment", "k", map[string]any{"id": "shp_missing"})
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "easypost.NOT_FOUND" {
		t.Errorf("unknown shipment: %v, want easypost.NOT_FOUND", err)
	}

	sb.Close()
	want := map[string]int{"easypost.shipments.created": 1, "easypost.shipments.bought": 1, "easypost.shipments.refunded": 1, "webhooks.delivered": 1}
	got := sb.Stats().Counts
	for k, v := range want {
		if got[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestSandboxAuth(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	tests := []struct {
		name string
		auth *connectors.AuthConfig
		ok   bool
	}{
		{name: "none", auth: nil},
		{name: "bearer not a key", auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:BAD"}},
		{name: "bearer", auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:KEY"}, ok: true},
		{name: "basic with the key as password", auth: &connectors.AuthConfig{Kind: connectors.AuthBasic, Username: "relay", Password: "env:KEY"}, ok: true},
		{name: "basic with the key as username", auth: &connectors.AuthConfig{Kind: connectors.AuthBasic, Username: "EZAK_live_1", Password: "env:BAD"}, ok: true},
	}
	secrets := map[string]string{"env:KEY": "EZTK_test_1", "env:BAD": "sk_not_easypost"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := connectors.ConnectionConfig{BaseURL: srv.URL + "/easypost", Auth: tt.auth}
			client, err := connectors.NewClient(cfg, func(ref string) (string, error) { return secrets[ref], nil }, connectors.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = easypost.Connector().Action("get_tracker").Do(context.Background(), &connectors.Call{Config: cfg, Client: client, Params: map[string]any{"tracking_code": "EZ1"}})
			ce, _ := connectors.AsError(err)
			switch {
			case tt.ok && (ce == nil || ce.Type != "easypost.NOT_FOUND"):
				t.Errorf("error = %v, want easypost.NOT_FOUND (authenticated, no such tracker)", err)
			case !tt.ok && (ce == nil || ce.Type != "easypost.APIKEY.REQUIRED" || ce.Status != 401):
				t.Errorf("error = %v, want 401 easypost.APIKEY.REQUIRED", err)
			}
		})
	}
}
