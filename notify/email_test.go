package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/sla"
)

// smtpServer is a small real SMTP server: EHLO, optional STARTTLS, optional
// AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, QUIT.
type smtpServer struct {
	addr       string
	tls        *tls.Config // offers STARTTLS when set
	user, pass string      // requires AUTH PLAIN when user is set (after STARTTLS, if offered)
	rcptReply  int         // refuses every RCPT with this code when set

	mu          sync.Mutex
	dataReplies []int      // replies to the next DATA commands; 250 after
	attempts    [][]byte   // every message sent with DATA, taken or refused
	accepted    []smtpMail // messages taken
}

type smtpMail struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 test.example ESMTP")
	var m smtpMail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"test.example"}
			if s.tls != nil && !m.tls {
				ext = append(ext, "STARTTLS")
			}
			if s.user != "" && (s.tls == nil || m.tls) {
				ext = append(ext, "AUTH PLAIN")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "STARTTLS":
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, m = tc, textproto.NewConn(tc), smtpMail{tls: true}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			dec, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(dec), "\x00")
			if mech != "PLAIN" || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			m.user = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.user != "" && m.user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			m.from = strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>")
			reply("250 2.1.0 ok")
		case "RCPT":
			if s.rcptReply != 0 {
				reply("%d 5.1.1 no such mailbox", s.rcptReply)
				continue
			}
			m.to = append(m.to, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 end data with <CR><LF>.<CR><LF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.attempts = append(s.attempts, data)
			code := 250
			if len(s.dataReplies) > 0 {
				code, s.dataReplies = s.dataReplies[0], s.dataReplies[1:]
			}
			if code == 250 {
				m.data = data
				s.accepted = append(s.accepted, m)
			}
			s.mu.Unlock()
			reply("%d message %s", code, map[bool]string{true: "queued", false: "refused"}[code == 250])
			m = smtpMail{tls: m.tls, user: m.user}
		case "RSET":
			m = smtpMail{tls: m.tls, user: m.user}
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 command not implemented")
		}
	}
}

func (s *smtpServer) mails() (accepted []smtpMail, attempts [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMail(nil), s.accepted...), append([][]byte(nil), s.attempts...)
}

// emailSetup points the configuration's SMTP at srv and returns a notice for
// the team lead of roads-north.
func emailSetup(t *testing.T, srv *smtpServer, smtp config.SMTP, env map[string]string) (*Dispatcher, *Store, Notice) {
	t.Helper()
	cfg := testConfig()
	smtp.Addr, smtp.From = srv.addr, "Casebridge <casebridge@council.example>"
	cfg.Notifications.SMTP = smtp
	d, store, _ := newDispatcher(t, cfg, env)
	n := notice("CB-7KQ2M9", 2, sla.TeamLead)
	n.Category = "Pavement café licence" // non-ASCII: the subject is RFC 2047 encoded
	return d, store, n
}

func TestEmailSentOnce(t *testing.T) {
	srv := startSMTP(t, &smtpServer{})
	d, store, n := emailSetup(t, srv, config.SMTP{}, nil)
	ctx := context.Background()

	var first Entry
	for i := range 2 {
		e, err := d.Deliver(ctx, n)
		if err != nil || e.Status != StatusSent || e.Attempts != 1 || e.Channel != ChannelEmail || e.Address != "north.lead@council.example" {
			t.Fatalf("Deliver #%d = %+v, %v; want sent by email to the team lead, one attempt", i+1, e, err)
		}
		first = e
	}
	accepted, _ := srv.mails()
	if len(accepted) != 1 {
		t.Fatalf("server took %d messages, want 1", len(accepted))
	}
	got := accepted[0]
	if got.from != "casebridge@council.example" || len(got.to) != 1 || got.to[0] != "north.lead@council.example" {
		t.Errorf("envelope = from %q to %q, want casebridge@council.example to north.lead@council.example", got.from, got.to)
	}

	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, got.data)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"From":                      `"Casebridge" <casebridge@council.example>`,
		"To":                        "<north.lead@council.example>",
		"Message-Id":                MessageID(n.Key),
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if v := h.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject %q is not RFC 2047 encoded", raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != first.Notice.Subject || !strings.Contains(subject, "café") {
		t.Errorf("Subject decodes to %q, %v; want %q", subject, err, first.Notice.Subject)
	}
	if date, err := h.Date(); err != nil || date.Sub(t0).Abs() > time.Second {
		t.Errorf("Date = %v, %v; want the dispatcher's clock, %v", date, err, t0)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	// The text shows times on the council's clock (Europe/London by default).
	if err != nil || string(body) != first.Notice.Body || !strings.Contains(string(body), "CB-7KQ2M9") || !strings.Contains(string(body), "09:00 GMT") {
		t.Errorf("body = %q, %v; want %q", body, err, first.Notice.Body)
	}

	box, err := store.Outbox(ctx, "North.Lead@council.example", 10, "")
	if err != nil || len(box) != 1 || box[0].Status != StatusSent {
		t.Errorf("Outbox(north.lead) = %+v, %v; want the sent notice", box, err)
	}
}

// A server refusing a message for now gets it again with the same
// Message-ID, and only once it takes it.
func TestEmailRetryKeepsMessageID(t *testing.T) {
	srv := startSMTP(t, &smtpServer{dataReplies: []int{451}})
	d, _, n := emailSetup(t, srv, config.SMTP{}, nil)
	ctx := context.Background()

	e, err := d.Deliver(ctx, n)
	if err == nil || IsPermanent(err) || e.Status != StatusFailed || !strings.Contains(e.Error, "451") {
		t.Fatalf("Deliver against a 451 = %+v, %v; want failed and retryable", e, err)
	}
	for range 2 {
		if e, err := d.Deliver(ctx, n); err != nil || e.Status != StatusSent || e.Attempts != 2 {
			t.Fatalf("Deliver after the 451 = %+v, %v; want sent on attempt 2", e, err)
		}
	}
	accepted, attempts := srv.mails()
	if len(accepted) != 1 || len(attempts) != 2 {
		t.Fatalf("server took %d of %d messages, want 1 of 2", len(accepted), len(attempts))
	}
	for i, a := range attempts {
		msg, err := mail.ReadMessage(bytes.NewReader(a))
		if err != nil || msg.Header.Get("Message-Id") != MessageID(n.Key) {
			t.Errorf("attempt %d: Message-ID %q (%v), want %q", i+1, msg.Header.Get("Message-Id"), err, MessageID(n.Key))
		}
	}
}

// testCert is a certificate for 127.0.0.1 and the pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	hs := httptest.NewTLSServer(http.NotFoundHandler())
	defer hs.Close()
	return hs.TLS.Certificates[0], hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func TestEmailStartTLSAndAuth(t *testing.T) {
	cert, roots := testCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	smtpCfg := config.SMTP{StartTLS: true, Username: "casebridge", PasswordEnv: "SMTP_PASSWORD"}
	ctx := context.Background()

	t.Run("sent", func(t *testing.T) {
		srv := startSMTP(t, &smtpServer{tls: serverTLS, user: "casebridge", pass: "pw from env"})
		d, _, n := emailSetup(t, srv, smtpCfg, map[string]string{"SMTP_PASSWORD": "pw from env"})
		d.TLS = &tls.Config{RootCAs: roots}
		if e, err := d.Deliver(ctx, n); err != nil || e.Status != StatusSent {
			t.Fatalf("Deliver = %+v, %v; want sent", e, err)
		}
		accepted, _ := srv.mails()
		if len(accepted) != 1 || !accepted[0].tls || accepted[0].user != "casebridge" {
			t.Errorf("server took %+v; want one message over TLS from user casebridge", accepted)
		}
	})
	for _, tt := range []struct {
		name   string
		server *smtpServer
		env    map[string]string
		trust  bool
		want   string
	}{
		{"wrong password", &smtpServer{tls: serverTLS, user: "casebridge", pass: "right"}, map[string]string{"SMTP_PASSWORD": "wrong"}, true, "535"},
		{"no password", &smtpServer{tls: serverTLS, user: "casebridge", pass: "right"}, nil, true, "no password"},
		{"no STARTTLS offered", &smtpServer{user: "casebridge", pass: "right"}, map[string]string{"SMTP_PASSWORD": "right"}, true, "STARTTLS"},
		{"untrusted certificate", &smtpServer{tls: serverTLS, user: "casebridge", pass: "right"}, map[string]string{"SMTP_PASSWORD": "right"}, false, "certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.server)
			d, _, n := emailSetup(t, srv, smtpCfg, tt.env)
			if tt.trust {
				d.TLS = &tls.Config{RootCAs: roots}
			}
			e, err := d.Deliver(ctx, n)
			if !IsPermanent(err) || !strings.Contains(err.Error(), tt.want) || e.Status != StatusFailed {
				t.Errorf("Deliver = %+v, %v; want failed with a permanent error mentioning %q", e, err, tt.want)
			}
			if accepted, _ := srv.mails(); len(accepted) != 0 {
				t.Errorf("server took %d messages, want none", len(accepted))
			}
		})
	}
}

func TestEmailRefusedRecipient(t *testing.T) {
	srv := startSMTP(t, &smtpServer{rcptReply: 550})
	d, _, n := emailSetup(t, srv, config.SMTP{}, nil)
	e, err := d.Deliver(context.Background(), n)
	if !IsPermanent(err) || e.Status != StatusFailed || !strings.Contains(e.Error, "550") {
		t.Errorf("Deliver to a refused mailbox = %+v, %v; want failed, permanent, 550 recorded", e, err)
	}
}

// A server that cannot be reached is worth retrying.
func TestEmailServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := &smtpServer{addr: ln.Addr().String()}
	ln.Close()
	d, _, n := emailSetup(t, down, config.SMTP{}, nil)
	if e, err := d.Deliver(context.Background(), n); err == nil || IsPermanent(err) || e.Status != StatusFailed {
		t.Errorf("Deliver with the server down = %+v, %v; want failed and retryable", e, err)
	}
}

// Without an SMTP server the notice waits in the outbox, and Deliver reports
// success so the workflow does not retry it for ever.
func TestEmailUndeliverable(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	n := notice("CB-8", 1, "email:ops@council.example")
	e, err := d.Deliver(ctx, n)
	if err != nil || e.Status != StatusUndeliverable || !strings.Contains(e.Error, "smtp") {
		t.Fatalf("Deliver without SMTP = %+v, %v; want undeliverable, naming the smtp setting, no error", e, err)
	}
	box, err := store.Outbox(ctx, "ops@council.example", 10, "")
	if err != nil || len(box) != 1 || box[0].Notice.Subject == "" {
		t.Errorf("Outbox(ops) = %+v, %v; want the notice, readable", box, err)
	}
}

func TestMessageFormat(t *testing.T) {
	n := notice("CB-1", 1, sla.Assignee)
	n.Subject = "breach\r\nBcc: everyone@example.org"
	n.Body = "line one\nline two\r\n" + strings.Repeat("long ", 40) + "\n"
	msg := string(message(&mail.Address{Address: "cb@council.example"}, "a@council.example", n, t0))

	if bare := strings.Count(msg, "\n") - strings.Count(msg, "\r\n"); bare != 0 {
		t.Errorf("%d bare line feeds; every line must end in CRLF:\n%q", bare, msg)
	}
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "Bcc:") {
			t.Errorf("the subject added a header: %q", line)
		}
	}
	for _, line := range strings.Split(msg, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}
	// A long subject folds into short lines and reads back whole.
	for _, subject := range []string{
		strings.Repeat("Pavement café licence breach ", 6),
		strings.Repeat("Pavement cafe licence breach ", 6),
	} {
		n.Subject = subject
		msg := message(&mail.Address{Address: "cb@council.example"}, "a@council.example", n, t0)
		for _, line := range strings.Split(string(msg), "\r\n") {
			if len(line) > 78 {
				t.Errorf("line longer than 78 characters: %q", line)
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if want := strings.TrimSpace(subject); err != nil || got != want {
			t.Errorf("Subject reads back as %q, %v; want %q", got, err, want)
		}
	}

	if MessageID(n.Key) != MessageID(n.Key) || MessageID(n.Key) == MessageID(n.Key+"x") {
		t.Error("MessageID is not a stable function of the key")
	}
}
