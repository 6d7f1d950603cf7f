package stripe_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/stripe"
)

// TestStripeMock validates every action's request against stripe-mock,
// which checks paths, methods, parameter names and types against Stripe's
// OpenAPI spec. CI installs it (see .ci/run); elsewhere the test skips.
func TestStripeMock(t *testing.T) {
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		t.Skip("stripe-mock is not on PATH; install it with: go install github.com/stripe/stripe-mock@v0.203.0")
	}
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-http-addr", httpAddr, "-https-addr", httpsAddr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", httpAddr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s within 20s: %v\n%s", httpAddr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	cfg := connectors.ConnectionConfig{
		Connector: "stripe",
		BaseURL:   "http://" + httpAddr,
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:STRIPE_KEY"},
	}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return "sk_test_123", nil }, connectors.ClientOptions{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	call := func(action string, params map[string]any) (map[string]any, error) {
		a := stripe.Connector().Action(action)
		p, err := connectors.ParamDefaults(a, params)
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.Do(context.Background(), &connectors.Call{Connection: "stripe-mock", Config: cfg, Client: client, Params: p, IdempotencyKey: "relay-stripe-mock-" + action})
		if err != nil {
			return nil, err
		}
		return out.(map[string]any), nil
	}

	cases := []struct {
		action, object string
		params         map[string]any
	}{
		{"create_customer", "customer", map[string]any{"email": "ada@example.com", "name": "Ada Lovelace", "metadata": map[string]any{"crm_id": "42", "vip": true}}},
		{"create_payment_intent", "payment_intent", map[string]any{"amount": 2000, "currency": "usd", "customer": "cus_123", "metadata": map[string]any{"order_id": "order-1001"}, "description": "Order 1001"}},
		{"create_payment_intent", "payment_intent", map[string]any{"amount": 2000, "currency": "usd", "confirm": false, "capture_method": "automatic"}},
		{"confirm_payment_intent", "payment_intent", map[string]any{"id": "pi_123"}},
		{"capture_payment_intent", "payment_intent", map[string]any{"id": "pi_123"}},
		{"capture_payment_intent", "payment_intent", map[string]any{"id": "pi_123", "amount_to_capture": 1500}},
		{"cancel_payment_intent", "payment_intent", map[string]any{"id": "pi_123"}},
		{"retrieve_payment_intent", "payment_intent", map[string]any{"id": "pi_123"}},
		{"create_refund", "refund", map[string]any{"payment_intent": "pi_123"}},
		{"create_refund", "refund", map[string]any{"payment_intent": "pi_123", "amount": 500, "reason": "requested_by_customer"}},
	}
	covered := map[string]bool{}
	for i, tc := range cases {
		covered[tc.action] = true
		t.Run(strconv.Itoa(i)+"_"+tc.action, func(t *testing.T) {
			got, err := call(tc.action, tc.params)
			if err != nil {
				t.Fatalf("stripe-mock refused %s %v: %v", tc.action, tc.params, err)
			}
			if got["object"] != tc.object {
				t.Errorf("object = %v, want %s", got["object"], tc.object)
			}
		})
	}
	for _, a := range stripe.Connector().Actions {
		if !covered[a.Name] {
			t.Errorf("action %s is not checked against stripe-mock", a.Name)
		}
	}

	t.Run("a bad request is a Stripe error", func(t *testing.T) {
		_, err := call("create_refund", map[string]any{"payment_intent": "pi_123", "reason": "because"})
		ce, ok := connectors.AsError(err)
		if !ok || ce.Type != "stripe.invalid_request_error" || ce.Status != 400 || ce.Retryable {
			t.Errorf("error = %#v, want permanent stripe.invalid_request_error 400", err)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
