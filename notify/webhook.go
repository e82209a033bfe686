package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/signing"
)

// The headers of a webhook request besides the signature's (internal/signing:
// X-Casebridge-Timestamp, X-Casebridge-Nonce, X-Casebridge-Signature).
const (
	HeaderIdempotency = "Idempotency-Key" // the notice's Key, the same on every attempt
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return "", permanent(fmt.Errorf("webhook %s: %w", w.Name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	signing.Headers(req.Header, secret, body, d.Now())
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
