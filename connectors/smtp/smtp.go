// Package smtp is the email connector: it sends a message through an SMTP
// server (submission).
//
// The connection's base_url is smtp://host:port (port 587 by default;
// STARTTLS when the server offers it) or smtps://host:port (port 465 by
// default; TLS from the start). With `auth: {kind: basic, username: …,
// password: env:…}` it logs in with AUTH PLAIN, which it refuses to do over
// an unencrypted connection to anything but localhost.
//
// The Message-ID is derived from the call's idempotency key, so every
// attempt of a step sends the same one and receivers can drop duplicates.
// A 4xx reply is a retryable error of type smtp.<code>, a 5xx reply a
// permanent one; network failures are retryable. The server is dialed
// through the connection's client, under the worker's network policy
// (connectors.ClientOptions.NetPolicy); a refused address is a permanent
// egress_denied error.
package smtp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/netguard"
)

// DefaultTimeout bounds one SMTP session when the connection sets none.
const DefaultTimeout = 30 * time.Second

// Connector returns the `smtp` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name:       "smtp",
		Summary:    "Send email through an SMTP server (smtp:// with STARTTLS, or smtps://).",
		Actions:    []*connectors.Action{sendEmailAction()},
		URLSchemes: []string{"smtp", "smtps"},
	}
}

func sendEmailAction() *connectors.Action {
	return &connectors.Action{
		Name:    "send_email",
		Summary: "Send one email; the output is {message_id, accepted}.",
		Params: []connectors.Param{
			{Name: "from", Type: "string", Required: true, Summary: `Sender, "Name <address>" or an address.`},
			{Name: "to", Type: "any", Required: true, Summary: "Recipients: a string (comma-separated addresses) or an array of strings."},
			{Name: "subject", Type: "string", Required: true, Summary: "Subject line (UTF-8)."},
			{Name: "text", Type: "string", Summary: "Plain-text body; text or html (or both) is required."},
			{Name: "html", Type: "string", Summary: "HTML body; sent as an alternative to text when both are given."},
			{Name: "reply_to", Type: "string", Summary: "Reply-To address."},
			{Name: "headers", Type: "object", Summary: "Extra headers (X-…); the standard ones are set by relay."},
		},
		Do: sendEmail,
	}
}

// message is a validated send_email call.
type message struct {
	from      *mail.Address
	to        []*mail.Address
	replyTo   *mail.Address
	subject   string
	text      string
	html      string
	headers   map[string]string
	messageID string
}

func sendEmail(ctx context.Context, call *connectors.Call) (any, error) {
	p, err := connectors.ParamDefaults(sendEmailAction(), call.Params)
	if err != nil {
		return nil, err
	}
	m, err := parseMessage(p, call.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	server, err := parseServer(call.Config.BaseURL)
	if err != nil {
		return nil, connectors.Permanent("invalid_connection", "smtp send_email on connection %q: %v", call.Connection, err)
	}
	data, err := m.bytes(time.Now())
	if err != nil {
		return nil, connectors.Permanent("invalid_params", "smtp send_email: building the message: %v", err)
	}
	timeout := cmp.Or(call.Config.Timeout, DefaultTimeout)
	if err := deliver(ctx, call, server, timeout, m, data); err != nil {
		if call.Client != nil {
			err.Message = call.Client.Redact(err.Message)
		}
		return nil, err
	}
	accepted := make([]any, len(m.to))
	for i, a := range m.to {
		accepted[i] = a.Address
	}
	return map[string]any{"message_id": m.messageID, "accepted": accepted}, nil
}

// server is where to deliver.
type server struct {
	host     string
	addr     string // host:port
	implicit bool   // smtps: TLS from the first byte
}

func parseServer(raw string) (server, error) {
	if raw == "" {
		return server{}, errors.New("base_url is empty; use smtp://host:port or smtps://host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return server{}, fmt.Errorf("base_url %q: %v", raw, err)
	}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port = "465"
	default:
		return server{}, fmt.Errorf("base_url %q: scheme must be smtp or smtps", raw)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return server{}, fmt.Errorf("base_url %q: want %s://host:port with no path or credentials", raw, u.Scheme)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return server{host: u.Hostname(), addr: net.JoinHostPort(u.Hostname(), port), implicit: u.Scheme == "smtps"}, nil
}

// deliver runs one SMTP session.
func deliver(ctx context.Context, call *connectors.Call, srv server, timeout time.Duration, m *message, data []byte) *connectors.Error {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// The client's dialer enforces the worker's network policy.
	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	conn, err := call.Client.DialContext(dialCtx, "tcp", srv.addr)
	cancel()
	if err != nil {
		return classify(ctx, "connecting to "+srv.addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return classify(ctx, "connecting to "+srv.addr, err)
	}
	tlsConfig := &tls.Config{ServerName: srv.host, MinVersion: tls.VersionTLS12}
	if srv.implicit {
		conn = tls.Client(conn, tlsConfig)
	}
	c, err := smtp.NewClient(conn, srv.host)
	if err != nil {
		return classify(ctx, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return classify(ctx, "EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !srv.implicit {
		if err := c.StartTLS(tlsConfig); err != nil {
			return classify(ctx, "STARTTLS", err)
		}
	}
	if user, pass, ok := call.Client.BasicCredentials(); ok {
		if ok, _ := c.Extension("AUTH"); !ok {
			return connectors.Permanent("smtp.auth_unsupported", "smtp send_email: %s does not offer AUTH, but the connection has credentials", srv.addr)
		}
		if _, encrypted := c.TLSConnectionState(); !encrypted && !localhost(srv.host) {
			return connectors.Permanent("smtp.insecure_auth", "smtp send_email: %s offers no TLS; refusing to send the password in the clear (use smtps:// or a server with STARTTLS)", srv.addr)
		}
		if err := c.Auth(smtp.PlainAuth("", user, pass, srv.host)); err != nil {
			return classify(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return classify(ctx, "MAIL FROM", err)
	}
	for _, to := range m.to {
		if err := c.Rcpt(to.Address); err != nil {
			return classify(ctx, "RCPT TO "+to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classify(ctx, "DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return classify(ctx, "sending the message", err)
	}
	if err := w.Close(); err != nil {
		return classify(ctx, "end of DATA", err)
	}
	// The server has taken the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// localhost is where net/smtp allows AUTH PLAIN without TLS.
func localhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t\r\n") {
		return h
	}
	return "localhost"
}

// classify turns a failure of one SMTP stage into an *Error: a 4xx reply is
// transient, a 5xx reply permanent, both typed smtp.<code>; a refusal by
// the network policy (egress_denied) and certificate failures are
// permanent; network failures and the rest transient.
func classify(ctx context.Context, stage string, err error) *connectors.Error {
	var (
		reply     *textproto.Error
		certErr   *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		headerErr tls.RecordHeaderError
		netErr    net.Error
	)
	e := &connectors.Error{Type: "network", Retryable: true}
	switch {
	case netguard.IsRefused(err):
		e.Type, e.Retryable = connectors.ErrorTypeEgressDenied, false
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Type = "timeout"
	case ctx.Err() != nil:
		e.Type = "canceled"
	case errors.As(err, &reply):
		e.Type = "smtp." + strconv.Itoa(reply.Code)
		e.Retryable = reply.Code < 500 || reply.Code >= 600
	case errors.As(err, &certErr), errors.As(err, &authority), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &headerErr):
		e.Type, e.Retryable = "tls", false
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Type = "timeout"
	}
	e.Message = fmt.Sprintf("smtp send_email: %s: %v", stage, err)
	if ctx.Err() != nil {
		e.Message = fmt.Sprintf("smtp send_email: %s: %v", stage, ctx.Err())
	}
	return e
}

// reserved headers are set from the parameters, never from headers.
var reserved = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true, "Subject": true, "Date": true,
	"Message-Id": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
	"Sender": true, "Return-Path": true,
}

// parseMessage checks the parameters of a send_email call; its errors
// are invalid_params.
func parseMessage(params map[string]any, key string) (*message, error) {
	p := connectors.ReadParams("smtp", "send_email", params)
	m := &message{headers: map[string]string{}}
	from, err := p.RequiredString("from")
	if err != nil {
		return nil, err
	}
	if m.from, err = mail.ParseAddress(from); err != nil {
		return nil, p.Invalid("from %q: %v", from, err)
	}
	switch to := p.Any("to").(type) {
	case string:
		if m.to, err = mail.ParseAddressList(to); err != nil {
			return nil, p.Invalid("to %q: %v", to, err)
		}
	case []any:
		for i, v := range to {
			s, ok := v.(string)
			if !ok {
				return nil, p.Mistyped(fmt.Sprintf("to[%d]", i), "a string", v)
			}
			a, err := mail.ParseAddress(s)
			if err != nil {
				return nil, p.Invalid("to[%d] %q: %v", i, s, err)
			}
			m.to = append(m.to, a)
		}
	default:
		return nil, p.Mistyped("to", "a string or an array of strings", to)
	}
	if len(m.to) == 0 {
		return nil, p.Invalid("to has no address")
	}
	if m.subject, err = p.String("subject"); err != nil {
		return nil, err
	}
	if strings.ContainsAny(m.subject, "\r\n") {
		return nil, p.Invalid("subject must be one line")
	}
	if m.text, err = p.String("text"); err != nil {
		return nil, err
	}
	if m.html, err = p.String("html"); err != nil {
		return nil, err
	}
	if m.text == "" && m.html == "" {
		return nil, p.Invalid("text or html is required")
	}
	replyTo, err := p.String("reply_to")
	if err != nil {
		return nil, err
	}
	if replyTo != "" {
		if m.replyTo, err = mail.ParseAddress(replyTo); err != nil {
			return nil, p.Invalid("reply_to %q: %v", replyTo, err)
		}
	}
	headers, err := p.Object("headers")
	if err != nil {
		return nil, err
	}
	for name, v := range headers {
		s, ok := v.(string)
		if !ok {
			return nil, p.Mistyped(fmt.Sprintf("header %q", name), "a string", v)
		}
		if !validHeaderName(name) || strings.ContainsAny(s, "\r\n") {
			return nil, p.Invalid("header %q: invalid name or a value with a line break", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if reserved[canon] {
			return nil, p.Invalid("header %q is set by relay; use the action's parameters", name)
		}
		m.headers[canon] = s
	}
	m.messageID = MessageID(key)
	return m, nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return false
		}
	}
	return true
}

// MessageID is the Message-ID of a message sent with an idempotency key:
// `<key@relay>`, with the characters a Message-ID may not hold written as
// =XX. Without a key it is random.
func MessageID(key string) string {
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return "<" + hex.EncodeToString(b) + "@relay>"
	}
	var sb strings.Builder
	for i := 0; i < len(key); i++ {
		ch := key[i]
		dotOK := ch == '.' && i > 0 && i < len(key)-1 && key[i-1] != '.'
		if (atext(ch) && ch != '=') || dotOK {
			sb.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&sb, "=%02X", ch)
	}
	return "<" + sb.String() + "@relay>"
}

// atext reports whether ch may appear in a dot-atom (RFC 5322 3.2.3).
func atext(ch byte) bool {
	switch {
	case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", ch) >= 0
}

// bytes renders the message with CRLF line endings.
func (m *message) bytes(now time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", m.from.String())
	to := make([]string, len(m.to))
	for i, a := range m.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	if m.replyTo != nil {
		header("Reply-To", m.replyTo.String())
	}
	header("Subject", mime.QEncoding.Encode("utf-8", m.subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", m.messageID)
	header("MIME-Version", "1.0")
	names := make([]string, 0, len(m.headers))
	for k := range m.headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		header(k, mime.QEncoding.Encode("utf-8", m.headers[k]))
	}

	if m.text == "" || m.html == "" {
		typ, body := "text/plain", m.text
		if m.text == "" {
			typ, body = "text/html", m.html
		}
		header("Content-Type", typ+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, body); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.text}, {"text/html", m.html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w io.Writer, body string) error {
	qp := quotedprintable.NewWriter(w)
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	return qp.Close()
}
