package sandbox

import (
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

func startSMTP(t *testing.T) (*Server, string, func() error) {
	t.Helper()
	s := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeSMTP(ln) }()
	stop := sync.OnceValue(func() error {
		ln.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("ServeSMTP did not return after the listener closed")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return s, ln.Addr().String(), stop
}

// session runs a scripted SMTP conversation: each step but the first (the
// greeting) sends a line, then expects a reply code unless it is 0.
func session(t *testing.T, addr string, steps []struct {
	send string
	code int
}) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, st := range steps {
		if i > 0 {
			if err := c.PrintfLine("%s", st.send); err != nil {
				t.Fatal(err)
			}
		}
		if st.code == 0 {
			continue
		}
		if _, msg, err := c.ReadResponse(st.code); err != nil {
			t.Fatalf("after %q: %v (%s)", st.send, err, msg)
		}
	}
}

type step = struct {
	send string
	code int
}

func TestSMTPConversation(t *testing.T) {
	s, addr, stop := startSMTP(t)
	msg := []step{
		{"", 220},
		{"EHLO client.test", 250},
		{"AUTH PLAIN AHJlbGF5AHNlY3JldA==", 235}, // \0relay\0secret
		{"MAIL FROM:<shop@example.com> BODY=8BITMIME", 250},
		{"RCPT TO:<ada@example.com>", 250},
		{"RCPT TO:<fail-550@example.com>", 550},
		{"RCPT TO:<fail-451@example.com>", 451},
		{"RCPT TO:<bob@example.com>", 250},
		{"NOOP", 250},
		{"DATA", 354},
		{"Message-ID: <order-1/notify@relay>", 0},
		{"Subject: =?utf-8?q?Caf=C3=A9_order?=", 0},
		{"", 0},
		{"..leading dot stays one dot", 0},
		{".", 250},
		{"MAIL FROM:<shop@example.com>", 250},
		{"RSET", 250},
		{"RCPT TO:<ada@example.com>", 503},
		{"BOGUS", 502},
		{"QUIT", 221},
	}
	session(t, addr, msg)
	// The same message again: a duplicate, not kept twice.
	session(t, addr, []step{
		{"", 220}, {"HELO client.test", 250}, {"MAIL FROM:<shop@example.com>", 250}, {"RCPT TO:<ada@example.com>", 250},
		{"DATA", 354}, {"Message-ID: <order-1/notify@relay>", 0}, {"", 0}, {"again", 0}, {".", 250}, {"QUIT", 221},
	})
	// Commands out of order.
	session(t, addr, []step{
		{"", 220}, {"MAIL FROM:<a@b>", 503}, {"EHLO x", 250}, {"DATA", 503}, {"MAIL FROM:a@b", 501}, {"AUTH LOGIN", 504}, {"QUIT", 221},
	})

	got := s.SMTPMessages()
	if len(got) != 1 {
		t.Fatalf("messages = %+v, want 1", got)
	}
	m := got[0]
	if m.From != "shop@example.com" || strings.Join(m.To, ",") != "ada@example.com,bob@example.com" ||
		m.MessageID != "<order-1/notify@relay>" || m.Subject != "Café order" || m.AuthUser != "relay" {
		t.Errorf("message = %+v", m)
	}
	if !strings.HasSuffix(m.Data, "\r\n\r\n.leading dot stays one dot\r\n") {
		t.Errorf("data = %q, want dots unstuffed and CRLF kept", m.Data)
	}
	counts := s.Stats().Counts
	if counts["smtp.messages.received"] != 1 || counts["smtp.messages.duplicates"] != 1 {
		t.Errorf("counts = %v, want 1 received and 1 duplicate", counts)
	}

	// An open session does not keep ServeSMTP from returning.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := stop(); err != nil {
		t.Fatalf("ServeSMTP = %v, want nil after the listener closed", err)
	}
}
