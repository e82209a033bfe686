package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
)

// The headers of a webhook request.
const (
	HeaderTimestamp   = "X-Casebridge-Timestamp" // Unix seconds when it was sent
	HeaderSignature   = "X-Casebridge-Signature" // "sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>"
	HeaderIdempotency = "Idempotency-Key"        // the notice's Key, the same on every attempt
	userAgent         = "casebridge-notify/1"
)

// Payload is the JSON body of a webhook request.
type Payload struct {
	Event      string         `json:"event"` // "escalation"
	Key        string         `json:"key"`
	Ref        string         `json:"ref"`
	Level      string         `json:"level"`
	Department string         `json:"department,omitempty"`
	Team       string         `json:"team,omitempty"`
	Category   string         `json:"category,omitempty"`
	Status     cases.Status   `json:"status,omitempty"`
	Priority   cases.Priority `json:"priority,omitempty"`
	DueAt      time.Time      `json:"due_at,omitzero"`
	At         time.Time      `json:"at"`
	Link       string         `json:"link,omitempty"`
	Subject    string         `json:"subject"`
	Text       string         `json:"text"`
}

func (n Notice) payload() Payload {
	return Payload{
		Event: "escalation", Key: n.Key, Ref: n.Ref, Level: n.Level,
		Department: n.Department, Team: n.Team, Category: n.Category,
		Status: n.Status, Priority: n.Priority, DueAt: n.DueAt, At: n.At, Link: n.Link,
		Subject: n.Subject, Text: n.Body,
	}
}

// post sends the notice to a webhook as a signed JSON POST.
func (d *Dispatcher) post(ctx context.Context, w config.Webhook, n Notice) (reason string, err error) {
	if w.URL == "" {
		return fmt.Sprintf("webhook %s has no url (notifications.webhooks)", w.Name), nil
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", permanent(fmt.Errorf("webhook %s: url is not an http(s) URL", w.Name))
	}
	secret := w.Secret
	if secret == "" && w.SecretEnv != "" {
		secret = d.getenv(w.SecretEnv)
	}
	if secret == "" {
		return "", permanent(fmt.Errorf("webhook %s: no secret to sign with: set secret, or secret_env and that variable", w.Name))
	}
	body, err := json.Marshal(n.payload())
	if err != nil {
		return "", permanent(fmt.Errorf("webhook %s: %w", w.Name, err))
	}
	ts := strconv.FormatInt(d.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return "", permanent(fmt.Errorf("webhook %s: %w", w.Name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, string(body)))
	req.Header.Set(HeaderIdempotency, n.Key)

	resp, err := d.HTTP.Do(req)
	if err != nil {
		// The URL may carry a token of its own, and errors end up in the
		// outbox and the workflow's history: name the webhook instead.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return "", nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return "", fmt.Errorf("webhook %s: %s", w.Name, resp.Status)
	case code >= 300 && code < 400:
		return "", permanent(fmt.Errorf("webhook %s: %s: redirects are not followed; configure the new url", w.Name, resp.Status))
	default:
		return "", permanent(fmt.Errorf("webhook %s: %s", w.Name, resp.Status))
	}
}

// Sign returns the X-Casebridge-Signature value for a request:
// "sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret.
// Signing the timestamp with the body stops a captured request being replayed
// later under a fresh timestamp.
func Sign(secret, timestamp, body string) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp, body string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Signature errors; VerifySignature's errors wrap one of them.
var (
	ErrBadSignature   = errors.New("bad signature")
	ErrStaleSignature = errors.New("stale signature")
)

// DefaultMaxSkew is how far a request's timestamp may be from now when
// VerifySignature is given no bound.
const DefaultMaxSkew = 5 * time.Minute

// VerifySignature checks a signed request as a receiver gets it: the
// X-Casebridge-Timestamp value, the raw body and the X-Casebridge-Signature
// value. It compares in constant time and refuses a timestamp more than
// maxSkew (DefaultMaxSkew when ≤ 0) from now either way, so a captured request
// cannot be replayed later. Receivers should still drop a repeated
// Idempotency-Key: a retry is a new request with the same key.
func VerifySignature(secret, timestamp, body, header string, now time.Time, maxSkew time.Duration) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret to check it with", ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: header is not sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: header is not sha256=<64 hex digits>", ErrBadSignature)
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return fmt.Errorf("%w: it does not match the body and timestamp", ErrBadSignature)
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if skew := now.Sub(time.Unix(sec, 0)).Abs(); skew > maxSkew {
		return fmt.Errorf("%w: timestamp is %s from now, more than %s", ErrStaleSignature, skew.Round(time.Second), maxSkew)
	}
	return nil
}
