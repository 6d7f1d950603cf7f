package sandbox

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The sandbox SMTP server: EHLO/HELO, AUTH PLAIN (any non-empty password),
// MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT; no TLS. Messages are kept as
// "smtp.messages", once per Message-ID: a message whose Message-ID was seen
// before is counted as a duplicate and not kept again, as a receiver that
// deduplicates would. A recipient whose local part is fail-NNN (NNN from
// 400 to 599) is refused with that reply code, to test error handling.
//
// Counters: smtp.messages.received, smtp.messages.duplicates.

const (
	smtpMaxLine     = 4096
	smtpMaxMessage  = 10 << 20
	smtpMaxRcpts    = 100
	smtpIdleTimeout = 2 * time.Minute
)

// SMTPMessage is one message the sandbox SMTP server accepted.
type SMTPMessage struct {
	ID        string   `json:"id"`
	From      string   `json:"from"` // MAIL FROM
	To        []string `json:"to"`   // RCPT TO
	MessageID string   `json:"message_id"`
	Subject   string   `json:"subject"`
	AuthUser  string   `json:"auth_user,omitempty"`
	// Data is the message as received, CRLF line endings, dots unstuffed.
	Data string `json:"data"`
}

// SMTPMessages returns the messages accepted so far, oldest first.
func (s *Server) SMTPMessages() []SMTPMessage {
	var out []SMTPMessage
	for _, m := range s.scan("smtp.messages", nil, false) {
		b, _ := json.Marshal(m)
		var msg SMTPMessage
		if json.Unmarshal(b, &msg) == nil {
			out = append(out, msg)
		}
	}
	return out
}

// ServeSMTP serves SMTP on ln until ln is closed; then it closes the
// sessions still open, waits for them, and returns nil.
func (s *Server) ServeSMTP(ln net.Listener) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("sandbox smtp: accepting: %w", err)
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				conn.Close()
			}()
			s.smtpSession(conn)
		}()
	}
}

// smtpSession is one client's conversation.
type smtpSession struct {
	s        *Server
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	helo     bool
	authUser string
	from     string
	inMail   bool
	rcpts    []string
}

var errLineTooLong = errors.New("line too long")

func (s *Server) smtpSession(conn net.Conn) {
	ss := &smtpSession{s: s, conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	ss.reply("220 sandbox.relay ESMTP relay sandbox ready")
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			ss.reply("500 5.5.6 Line too long")
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.helo = true
			ss.resetTx()
			ss.reply("250-sandbox.relay greets "+arg, "250-8BITMIME", "250-SIZE "+strconv.Itoa(smtpMaxMessage), "250-AUTH PLAIN", "250 ENHANCEDSTATUSCODES")
		case "HELO":
			ss.helo = true
			ss.resetTx()
			ss.reply("250 sandbox.relay")
		case "AUTH":
			ss.auth(arg)
		case "MAIL":
			ss.mail(arg)
		case "RCPT":
			ss.rcpt(arg)
		case "DATA":
			if !ss.data() {
				return
			}
		case "RSET":
			ss.resetTx()
			ss.reply("250 2.0.0 OK")
		case "NOOP":
			ss.reply("250 2.0.0 OK")
		case "QUIT":
			ss.reply("221 2.0.0 Bye")
			return
		case "VRFY":
			ss.reply("252 2.5.0 Cannot VRFY user")
		default:
			ss.reply("502 5.5.2 Command not recognized")
		}
	}
}

func (ss *smtpSession) reply(lines ...string) {
	for _, l := range lines {
		ss.w.WriteString(l + "\r\n")
	}
	_ = ss.conn.SetWriteDeadline(time.Now().Add(smtpIdleTimeout))
	_ = ss.w.Flush()
}

// readLine reads one line without its line ending.
func (ss *smtpSession) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(smtpIdleTimeout))
	var b []byte
	for {
		chunk, isPrefix, err := ss.r.ReadLine()
		if err != nil {
			return "", err
		}
		if len(b)+len(chunk) > smtpMaxLine {
			for isPrefix {
				if _, isPrefix, err = ss.r.ReadLine(); err != nil {
					return "", err
				}
			}
			return "", errLineTooLong
		}
		b = append(b, chunk...)
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (ss *smtpSession) resetTx() {
	ss.from, ss.inMail, ss.rcpts = "", false, nil
}

func (ss *smtpSession) auth(arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	switch {
	case !ss.helo:
		ss.reply("503 5.5.1 EHLO first")
		return
	case ss.authUser != "":
		ss.reply("503 5.5.1 Already authenticated")
		return
	case !strings.EqualFold(mech, "PLAIN"):
		ss.reply("504 5.5.4 Unrecognized authentication type")
		return
	}
	if initial == "" {
		ss.reply("334 ")
		line, err := ss.readLine()
		if err != nil {
			return
		}
		initial = line
	}
	if initial == "*" {
		ss.reply("501 5.0.0 Authentication cancelled")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		ss.reply("535 5.7.8 Authentication credentials invalid")
		return
	}
	ss.authUser = parts[1]
	ss.reply("235 2.7.0 Authentication successful")
}

// pathArg reads the address of `FROM:<a@b> PARAMS` or `TO:<a@b>`.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

func (ss *smtpSession) mail(arg string) {
	switch {
	case !ss.helo:
		ss.reply("503 5.5.1 EHLO first")
		return
	case ss.inMail:
		ss.reply("503 5.5.1 Nested MAIL command")
		return
	}
	addr, ok := pathArg(arg, "FROM:")
	if !ok {
		ss.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
		return
	}
	ss.from, ss.inMail = addr, true
	ss.reply("250 2.1.0 OK")
}

func (ss *smtpSession) rcpt(arg string) {
	if !ss.inMail {
		ss.reply("503 5.5.1 MAIL first")
		return
	}
	addr, ok := pathArg(arg, "TO:")
	if !ok || !strings.Contains(addr, "@") {
		ss.reply("501 5.5.4 Syntax: RCPT TO:<address>")
		return
	}
	if len(ss.rcpts) >= smtpMaxRcpts {
		ss.reply("452 4.5.3 Too many recipients")
		return
	}
	local, _, _ := strings.Cut(addr, "@")
	if code, ok := strings.CutPrefix(strings.ToLower(local), "fail-"); ok {
		if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
			ss.reply(fmt.Sprintf("%d %d.0.0 <%s> refused: the sandbox was asked to", n, n/100, addr))
			return
		}
	}
	ss.rcpts = append(ss.rcpts, addr)
	ss.reply("250 2.1.5 OK")
}

// data reads the message; false means the connection is gone.
func (ss *smtpSession) data() bool {
	if len(ss.rcpts) == 0 {
		ss.reply("503 5.5.1 RCPT first")
		return true
	}
	ss.reply("354 End data with <CR><LF>.<CR><LF>")
	var buf bytes.Buffer
	tooBig := false
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			tooBig = true
			continue
		}
		if err != nil {
			return false
		}
		if line == "." {
			break
		}
		line = strings.TrimPrefix(line, ".")
		if buf.Len()+len(line)+2 > smtpMaxMessage {
			tooBig = true
			continue
		}
		buf.WriteString(line)
		buf.WriteString("\r\n")
	}
	if tooBig {
		ss.resetTx()
		ss.reply("552 5.3.4 Message too big")
		return true
	}
	id := ss.s.smtpStore(ss.from, ss.rcpts, ss.authUser, buf.Bytes())
	ss.resetTx()
	ss.reply("250 2.0.0 OK queued as " + id)
	return true
}

// smtpStore keeps a message unless its Message-ID was seen, and returns
// the ID it is known by.
func (s *Server) smtpStore(from string, rcpts []string, authUser string, data []byte) string {
	var messageID, subject string
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		messageID = strings.TrimSpace(m.Header.Get("Message-ID"))
		subject = m.Header.Get("Subject")
		if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
			subject = dec
		}
		_, _ = io.Copy(io.Discard, m.Body)
	}
	s.smtpMu.Lock()
	defer s.smtpMu.Unlock()
	if messageID != "" {
		if seen := s.view("smtp.message_ids", messageID); seen != nil {
			s.Count("smtp.messages.duplicates")
			id, _ := seen["id"].(string)
			return id
		}
	}
	id := s.NewID("smtpmsg")
	to := make([]any, len(rcpts))
	for i, r := range rcpts {
		to[i] = r
	}
	s.Put("smtp.messages", id, map[string]any{
		"id": id, "from": from, "to": to, "message_id": messageID, "subject": subject,
		"auth_user": authUser, "data": string(data),
	})
	if messageID != "" {
		s.Put("smtp.message_ids", messageID, map[string]any{"id": id})
	}
	s.Count("smtp.messages.received")
	return id
}
