package smtp

import (
	"context"
	"net"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/netguard"
	"github.com/relay-dev/relay/sandbox"
)

// startSandbox serves the sandbox SMTP server on 127.0.0.1.
func startSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sb.ServeSMTP(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeSMTP: %v", err)
		}
	})
	return sb, ln.Addr().String()
}

// send calls send_email. The client carries the connection's auth; its
// base_url stays empty because the HTTP client accepts only http(s).
func send(t *testing.T, baseURL string, auth *connectors.AuthConfig, key string, params map[string]any) (map[string]any, error) {
	t.Helper()
	client, err := connectors.NewClient(connectors.ConnectionConfig{Connector: "smtp", Auth: auth},
		func(string) (string, error) { return "p4ssw0rd-smtp", nil }, connectors.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connectors.ConnectionConfig{Connector: "smtp", BaseURL: baseURL, Auth: auth, Timeout: 5 * time.Second}
	a := Connector().Action("send_email")
	p, err := connectors.ParamDefaults(a, params)
	if err != nil {
		return nil, err
	}
	out, err := a.Do(context.Background(), &connectors.Call{Connection: "mail", Config: cfg, Client: client, Params: p, IdempotencyKey: key})
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

var basicAuth = &connectors.AuthConfig{Kind: connectors.AuthBasic, Username: "relay-mailer", Password: "env:SMTP_PASSWORD"}

func TestSendToSandbox(t *testing.T) {
	sb, addr := startSandbox(t)
	params := map[string]any{
		"from":     "Relay Shop <shop@example.com>",
		"to":       []any{"Ada Lovelace <ada@example.com>", "ops@example.com"},
		"subject":  "Your order 1001 has shipped — café edition",
		"text":     "Tracking: EZ4000001000\n.\nThanks!",
		"html":     "<p>Tracking: <b>EZ4000001000</b></p>",
		"reply_to": "support@example.com",
		"headers":  map[string]any{"X-Order-ID": "1001"},
	}
	out, err := send(t, "smtp://"+addr, basicAuth, "order-1001/lines[0].notify", params)
	if err != nil {
		t.Fatal(err)
	}
	wantID := "<order-1001/lines=5B0=5D.notify@relay>"
	if out["message_id"] != wantID || len(out["accepted"].([]any)) != 2 {
		t.Errorf("output %v, want message_id %s and two recipients", out, wantID)
	}
	// The same step again sends the same Message-ID: the receiver drops it.
	if _, err := send(t, "smtp://"+addr, basicAuth, "order-1001/lines[0].notify", params); err != nil {
		t.Fatal(err)
	}
	msgs := sb.SMTPMessages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "shop@example.com" || strings.Join(m.To, ",") != "ada@example.com,ops@example.com" || m.AuthUser != "relay-mailer" ||
		m.MessageID != wantID || m.Subject != params["subject"] {
		t.Errorf("message %+v", m)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Reply-To": "<support@example.com>", "X-Order-Id": "1001", "Mime-Version": "1.0"} {
		if got := parsed.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if ct := parsed.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative; boundary=") {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.Contains(m.Data, "Tracking: EZ4000001000\r\n.\r\nThanks!") || !strings.Contains(m.Data, "<b>EZ4000001000</b>") {
		t.Errorf("body lost a part or its lone dot:\n%s", m.Data)
	}
	counts := sb.Stats().Counts
	if counts["smtp.messages.received"] != 1 || counts["smtp.messages.duplicates"] != 1 {
		t.Errorf("counts %v, want 1 received, 1 duplicate", counts)
	}
}

func TestSendWithoutAuth(t *testing.T) {
	sb, addr := startSandbox(t)
	if _, err := send(t, "smtp://"+addr, nil, "k-1", map[string]any{"from": "a@example.com", "to": "b@example.com, c@example.com", "subject": "hi", "text": "x"}); err != nil {
		t.Fatal(err)
	}
	if msgs := sb.SMTPMessages(); len(msgs) != 1 || len(msgs[0].To) != 2 || msgs[0].AuthUser != "" {
		t.Errorf("messages %+v", msgs)
	}
}

func TestErrors(t *testing.T) {
	_, addr := startSandbox(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ok := map[string]any{"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}
	with := func(k string, v any) map[string]any {
		p := map[string]any{}
		for k, v := range ok {
			p[k] = v
		}
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name          string
		baseURL       string
		params        map[string]any
		wantType      string
		wantRetryable bool
	}{
		{name: "550 is permanent", baseURL: "smtp://" + addr, params: with("to", "fail-550@example.com"), wantType: "smtp.550"},
		{name: "451 is transient", baseURL: "smtp://" + addr, params: with("to", []any{"b@example.com", "fail-451@example.com"}), wantType: "smtp.451", wantRetryable: true},
		{name: "connection refused is transient", baseURL: "smtp://" + closed, params: ok, wantType: "network", wantRetryable: true},
		{name: "http base_url", baseURL: "http://" + addr, params: ok, wantType: "invalid_connection"},
		{name: "no base_url", baseURL: "", params: ok, wantType: "invalid_connection"},
		{name: "base_url with a path", baseURL: "smtp://" + addr + "/x", params: ok, wantType: "invalid_connection"},
		{name: "no body", baseURL: "smtp://" + addr, params: with("text", nil), wantType: "invalid_params"},
		{name: "bad from", baseURL: "smtp://" + addr, params: with("from", "not an address"), wantType: "invalid_params"},
		{name: "bad to", baseURL: "smtp://" + addr, params: with("to", []any{"b@example.com", 3.0}), wantType: "invalid_params"},
		{name: "to an object", baseURL: "smtp://" + addr, params: with("to", map[string]any{}), wantType: "invalid_params"},
		{name: "empty to", baseURL: "smtp://" + addr, params: with("to", []any{}), wantType: "invalid_params"},
		{name: "subject with newline", baseURL: "smtp://" + addr, params: with("subject", "a\r\nBcc: x@example.com"), wantType: "invalid_params"},
		{name: "header injection", baseURL: "smtp://" + addr, params: with("headers", map[string]any{"X-A": "1\r\nBcc: x@example.com"}), wantType: "invalid_params"},
		{name: "reserved header", baseURL: "smtp://" + addr, params: with("headers", map[string]any{"message-id": "<x@y>"}), wantType: "invalid_params"},
		{name: "missing subject", baseURL: "smtp://" + addr, params: with("subject", nil), wantType: "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := send(t, tt.baseURL, basicAuth, "k", tt.params)
			ce, ok := connectors.AsError(err)
			if !ok || ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable {
				t.Fatalf("error = %#v, want %s retryable=%v", err, tt.wantType, tt.wantRetryable)
			}
			if strings.Contains(ce.Message, "p4ssw0rd-smtp") {
				t.Errorf("message shows the password: %s", ce.Message)
			}
		})
	}
}

// TestNetPolicy checks that the server is dialed under the worker's network
// policy: a refused address is a permanent egress_denied error and no
// connection reaches it.
func TestNetPolicy(t *testing.T) {
	params := map[string]any{"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}
	tests := []struct {
		name      string
		policy    *netguard.Policy
		wantType  string // "" means delivered
		wantConns int64
	}{
		{name: "loopback refused", policy: &netguard.Policy{}, wantType: connectors.ErrorTypeEgressDenied},
		{name: "not in the allowlist", policy: &netguard.Policy{Allow: []string{"smtp.example.com:587"}}, wantType: connectors.ErrorTypeEgressDenied},
		{name: "loopback allowed", policy: &netguard.Policy{AllowPrivate: true}, wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			counted := &countingListener{Listener: ln}
			sb := sandbox.New(sandbox.Options{})
			done := make(chan struct{})
			go func() { defer close(done); _ = sb.ServeSMTP(counted) }()
			t.Cleanup(func() { ln.Close(); <-done })

			cfg := connectors.ConnectionConfig{Connector: "smtp", BaseURL: "smtp://" + ln.Addr().String(), Timeout: 5 * time.Second}
			client, err := connectors.NewClient(connectors.ConnectionConfig{Connector: "smtp"}, nil, connectors.ClientOptions{NetPolicy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			a := Connector().Action("send_email")
			p, err := connectors.ParamDefaults(a, params)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Do(context.Background(), &connectors.Call{Connection: "mail", Config: cfg, Client: client, Params: p, IdempotencyKey: "k"})
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			} else if ce, ok := connectors.AsError(err); !ok || ce.Type != tt.wantType || ce.Retryable {
				t.Fatalf("error = %#v, want permanent %s", err, tt.wantType)
			}
			if n := counted.accepted.Load(); n != tt.wantConns {
				t.Errorf("listener accepted %d connections, want %d", n, tt.wantConns)
			}
		})
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestRefusesCleartextAuth checks that a password is never sent unencrypted
// to a server other than localhost: the sandbox offers no TLS.
func TestRefusesCleartextAuth(t *testing.T) {
	// 127.0.0.2 is loopback on Linux, but not "localhost" to the connector.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	sb := sandbox.New(sandbox.Options{})
	go sb.ServeSMTP(ln)
	defer ln.Close()
	params := map[string]any{"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}
	_, err = send(t, "smtp://"+ln.Addr().String(), basicAuth, "k", params)
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "smtp.insecure_auth" || ce.Retryable {
		t.Errorf("error = %v, want permanent smtp.insecure_auth", err)
	}
	if _, err := send(t, "smtp://"+ln.Addr().String(), nil, "k", params); err != nil {
		t.Errorf("without credentials: %v", err)
	}
	if n := len(sb.SMTPMessages()); n != 1 {
		t.Errorf("messages = %d, want 1 (the one sent without credentials)", n)
	}
}

func TestCanceled(t *testing.T) {
	// A server that accepts and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var open []net.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open = append(open, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	a := Connector().Action("send_email")
	client, err := connectors.NewClient(connectors.ConnectionConfig{Connector: "smtp"}, nil, connectors.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Do(ctx, &connectors.Call{
		Client: client,
		Config: connectors.ConnectionConfig{BaseURL: "smtp://" + ln.Addr().String()},
		Params: map[string]any{"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"},
	})
	ce, ok := connectors.AsError(err)
	if !ok || ce.Type != "timeout" || !ce.Retryable {
		t.Errorf("error = %v, want retryable timeout", err)
	}
}

func TestMessageID(t *testing.T) {
	tests := map[string]string{
		"order-1/notify":             "<order-1/notify@relay>",
		"wf/lines[3].charge":         "<wf/lines=5B3=5D.charge@relay>",
		".a..b.":                     "<=2Ea.=2Eb=2E@relay>",
		"has space@and<angle>=equal": "<has=20space=40and=3Cangle=3E=3Dequal@relay>",
	}
	for key, want := range tests {
		if got := MessageID(key); got != want {
			t.Errorf("MessageID(%q) = %s, want %s", key, got, want)
		}
		if _, err := mail.ParseAddress(MessageID(key)); err != nil {
			t.Errorf("MessageID(%q) = %s is not a valid msg-id: %v", key, MessageID(key), err)
		}
	}
	if a, b := MessageID(""), MessageID(""); a == b || !strings.HasSuffix(a, "@relay>") {
		t.Errorf("random Message-IDs %s, %s", a, b)
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		in       string
		addr     string
		implicit bool
		bad      bool
	}{
		{in: "smtp://mail.example.com", addr: "mail.example.com:587"},
		{in: "smtp://mail.example.com:25", addr: "mail.example.com:25"},
		{in: "smtps://mail.example.com", addr: "mail.example.com:465", implicit: true},
		{in: "smtp://[::1]:2525", addr: "[::1]:2525"},
		{in: "smtp://user:pw@mail.example.com", bad: true},
		{in: "https://mail.example.com", bad: true},
		{in: "smtp://", bad: true},
	}
	for _, tt := range tests {
		got, err := parseServer(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && (got.addr != tt.addr || got.implicit != tt.implicit)) {
			t.Errorf("parseServer(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestSingleParts(t *testing.T) {
	for _, tc := range []struct{ text, html, wantType string }{
		{text: "hello\nworld", wantType: "text/plain; charset=utf-8"},
		{html: "<p>hello</p>", wantType: "text/html; charset=utf-8"},
	} {
		m, err := parseMessage(map[string]any{"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": tc.text, "html": tc.html}, "k")
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.bytes(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if got := parsed.Header.Get("Content-Type"); got != tc.wantType {
			t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
		}
		if got := parsed.Header.Get("Date"); got != "Thu, 02 Jan 2025 03:04:05 +0000" {
			t.Errorf("Date = %q", got)
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\r\n", ""), "\n") {
			t.Errorf("bare LF in %q", b)
		}
	}
}
