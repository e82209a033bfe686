// Package partners speaks to partner agencies (the police, a utility, a
// housing association): it posts a signed hand-off to a partner's webhook and
// checks the signed callbacks partners send back, both signed as
// internal/signing says (HMAC-SHA256 over timestamp, nonce and body, a replay
// window, each nonce once). Sim is a partner agency that
// behaves like one, for `dev` and tests.
package partners

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
	"github.com/casebridge/casebridge/notify"
)

// The headers of a hand-off besides the signature's (internal/signing): the
// same as escalation webhooks carry.
const (
	HeaderIdempotency = notify.HeaderIdempotency
	userAgent         = "casebridge-partners/1"
)

// Handoff is the JSON body of a hand-off POST. It carries what the partner
// needs to act (what, where, when) and not the reporter's contact details:
// the council stays the citizen's point of contact.
type Handoff struct {
	Event       string    `json:"event"` // "handoff"
	ID          string    `json:"handoff"`
	Ref         string    `json:"ref"`
	Partner     string    `json:"partner"`
	Category    string    `json:"category"`
	ServiceCode string    `json:"service_code"`
	Title       string    `json:"title,omitempty"`
	Description string    `json:"description,omitempty"`
	Lat         *float64  `json:"lat,omitempty"`
	Long        *float64  `json:"long,omitempty"`
	Address     string    `json:"address,omitempty"`
	MediaURLs   []string  `json:"media_urls,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	At          time.Time `json:"handed_over_at"`
	// Deadline is when silence from the partner escalates the case.
	Deadline time.Time `json:"deadline"`
	// CallbackURL is where the partner POSTs its signed callbacks.
	CallbackURL string `json:"callback_url"`
}

// NewHandoff builds the body of a hand-off of one case.
func NewHandoff(id, ref, partner string, svc cases.Service, rep cases.Report, at time.Time) Handoff {
	return Handoff{
		Event: "handoff", ID: id, Ref: ref, Partner: partner, Category: svc.Name, ServiceCode: svc.Code,
		Title: rep.Title, Description: rep.Description, Lat: rep.Location.Lat, Long: rep.Location.Long,
		Address: rep.Location.Address, MediaURLs: rep.MediaURLs, ReceivedAt: rep.ReceivedAt, At: at,
	}
}

// Callback is the JSON body of a partner's callback.
type Callback struct {
	// Handoff is the hand-off's id, as the hand-off carried it.
	Handoff string `json:"handoff"`
	// Event is accepted, rejected, progress or completed.
	Event string `json:"event"`
	// Note says why (required for rejected), or what was done.
	Note string `json:"note,omitempty"`
	// Public puts a progress note on the citizen's report.
	Public bool `json:"public,omitempty"`
	// Nonce is the callback's X-Casebridge-Nonce (internal/signing); each is
	// accepted once, and the case applies a callback once by it.
	Nonce string `json:"-"`
}

// Poster posts hand-offs to partners' webhooks.
type Poster struct {
	Config *config.Config
	Getenv func(string) string
	HTTP   *http.Client
	Now    func() time.Time
	// CallbackBase is the public address of the api partners call back
	// (Council.PublicURL when empty).
	CallbackBase string
}

// errPermanent marks a hand-off no retry can deliver.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether no retry can deliver the hand-off.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// TakesHandoffs reports whether a partner is configured to receive hand-offs.
func TakesHandoffs(cfg *config.Config, code string) bool {
	p, ok := cfg.Partner(code)
	return ok && p.URL != ""
}

// Secret is the partner's signing secret, from the file or its environment
// variable.
func Secret(p config.Partner, getenv func(string) string) string {
	if p.Secret == "" && p.SecretEnv != "" && getenv != nil {
		return getenv(p.SecretEnv)
	}
	return p.Secret
}

// TakesHandoffs reports whether a partner is configured to receive hand-offs.
func (p *Poster) TakesHandoffs(code string) bool { return TakesHandoffs(p.Config, code) }

// CallbackURL is where a partner posts its callbacks.
func CallbackURL(base, partner string) string {
	u, err := url.JoinPath(base, "api", "v1", "partners", url.PathEscape(partner), "callbacks")
	if err != nil {
		return base + "/api/v1/partners/" + url.PathEscape(partner) + "/callbacks"
	}
	return u
}

// Post delivers a hand-off to its partner as a signed JSON POST, the hand-off
// id as its Idempotency-Key, and returns how long the partner may stay silent.
// A partner answering 2xx has it; 408, 429 and 5xx are worth a retry; anything
// else, or a partner configured without a url or secret, fails for good.
func (p *Poster) Post(ctx context.Context, h Handoff) (time.Duration, error) {
	pc, ok := p.Config.Partner(h.Partner)
	if !ok {
		return 0, &permanentError{fmt.Errorf("partner %s is not configured (partners)", h.Partner)}
	}
	if pc.URL == "" {
		return 0, &permanentError{fmt.Errorf("partner %s has no url to hand cases to", h.Partner)}
	}
	secret := Secret(pc, p.Getenv)
	if secret == "" {
		return 0, &permanentError{fmt.Errorf("partner %s: no secret to sign with: set secret, or secret_env and that variable", h.Partner)}
	}
	silence := pc.Silence()
	base := p.CallbackBase
	if base == "" {
		base = p.Config.Council.PublicURL
	}
	h.CallbackURL = CallbackURL(base, h.Partner)
	h.Deadline = h.At.Add(silence)
	body, err := json.Marshal(h)
	if err != nil {
		return 0, &permanentError{fmt.Errorf("partner %s: %w", h.Partner, err)}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pc.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{fmt.Errorf("partner %s: %w", h.Partner, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	signing.Headers(req.Header, secret, body, now())
	req.Header.Set(HeaderIdempotency, h.ID)
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token; name the partner instead
		}
		return 0, fmt.Errorf("partner %s: %w", h.Partner, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return silence, nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return 0, fmt.Errorf("partner %s: %s", h.Partner, resp.Status)
	default:
		return 0, &permanentError{fmt.Errorf("partner %s refused the hand-off: %s", h.Partner, resp.Status)}
	}
}
