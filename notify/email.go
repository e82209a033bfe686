package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// MessageID is the Message-ID of the email for a notice key: the same on every
// attempt, so a mail system (or a person) can drop the duplicate a crash
// between sending and recording can cause.
func MessageID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:16]) + "@casebridge>"
}

// email sends the notice by SMTP to one address.
func (d *Dispatcher) email(ctx context.Context, to string, n Notice) (reason string, err error) {
	s := d.cfg.Notifications.SMTP
	if s.Addr == "" {
		return "no SMTP server is configured (notifications.smtp.addr)", nil
	}
	bad := func(format string, args ...any) (string, error) {
		return "", permanent(fmt.Errorf("smtp: "+format, args...))
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return bad("from %q: %v", s.From, err)
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return bad("addr %q: %v", s.Addr, err)
	}
	password := s.Password
	if password == "" && s.PasswordEnv != "" {
		password = d.getenv(s.PasswordEnv)
	}
	if s.Username != "" && password == "" {
		return bad("username is set but no password: set password, or password_env and that variable")
	}
	// net/smtp refuses to send a password in the clear except to localhost;
	// say so here rather than as a puzzling error on every attempt.
	if s.Username != "" && !s.StartTLS && host != "localhost" && host != "127.0.0.1" && host != "::1" {
		return bad("a username needs starttls: true, to keep the password off the wire in clear")
	}
	msg := message(from, to, n, d.Now())

	ctx, cancel := context.WithTimeout(ctx, d.SMTPTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return "", fmt.Errorf("smtp: %w", err)
	}
	// net/smtp takes no context: the deadline bounds the conversation, and
	// cancelling ctx cuts it short.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return "", smtpError("greeting", err) // NewClient has closed conn

	}
	defer c.Close()
	if s.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return bad("%s does not offer STARTTLS, and starttls is on", s.Addr)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if d.TLS != nil {
			tc = d.TLS.Clone()
		}
		tc.ServerName = host
		if err := c.StartTLS(tc); err != nil {
			return "", smtpError("starttls", err)
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return bad("%s does not offer AUTH, and a username is set", s.Addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, password, host)); err != nil {
			return "", smtpError("auth", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return "", smtpError("mail from", err)
	}
	if err := c.Rcpt(to); err != nil {
		return "", smtpError("rcpt to", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", smtpError("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", smtpError("data", err)
	}
	if err := w.Close(); err != nil {
		return "", smtpError("data", err)
	}
	_ = c.Quit() // the server has taken the message; a failed QUIT changes nothing
	return "", nil
}

// smtpError sorts an SMTP failure: a 5xx reply or an untrusted certificate
// will not change on a retry; a 4xx reply or a network failure may.
func smtpError(step string, err error) error {
	err = fmt.Errorf("smtp %s: %w", step, err)
	var reply *textproto.Error
	var cert *tls.CertificateVerificationError
	if errors.As(err, &reply) && reply.Code >= 500 || errors.As(err, &cert) {
		return permanent(err)
	}
	return err
}

// message is the RFC 5322 message for a notice: plain text in UTF-8, quoted-
// printable so every line is short and 7-bit whatever the text holds.
func message(from *mail.Address, to string, n Notice, now time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", from.String())
	header("To", (&mail.Address{Address: to}).String())
	b.WriteString(fold("Subject: "+mime.QEncoding.Encode("utf-8", oneLine(n.Subject))) + "\r\n")
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", MessageID(n.Key))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// Asks mail systems not to send out-of-office replies to casebridge (RFC 3834).
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(n.Body, "\r\n", "\n"))) // writes to a buffer cannot fail
	_ = qp.Close()
	return b.Bytes()
}

// fold breaks a header line at spaces so its lines keep under 78 characters
// where they can (RFC 5322 section 2.1.1). Unfolding gives the line back,
// and encoded words split this way decode as one.
func fold(line string) string {
	var b strings.Builder
	width := 0
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			if width+1+len(word) > 78 {
				b.WriteString("\r\n")
				width = 0
			}
			b.WriteByte(' ')
			width++
		}
		b.WriteString(word)
		width += len(word)
	}
	return b.String()
}

// oneLine folds line breaks into spaces, so no text can add a header.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
