package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/config"
)

// Dispatcher delivers notices: it resolves each one, records it in the outbox,
// sends it on its channel and records the outcome.
type Dispatcher struct {
	cfg    *config.Config
	store  *Store
	getenv func(string) string
	loc    *time.Location

	// HTTP posts webhooks. NewDispatcher sets a 10 s timeout and no redirects:
	// a webhook that moved is a configuration mistake, and following it would
	// send the signed notice somewhere nobody configured.
	HTTP *http.Client
	// SMTPTimeout bounds a whole SMTP conversation.
	SMTPTimeout time.Duration
	// TLS, if set, is the base of the STARTTLS configuration (its ServerName is
	// always the SMTP host); nil trusts the system's roots.
	TLS *tls.Config
	// Now is the clock.
	Now func() time.Time
	Log *slog.Logger
}

// NewDispatcher returns a Dispatcher sending as cfg says and recording in
// store. getenv reads the environment variables the configuration names for
// secrets (os.Getenv in production).
func NewDispatcher(cfg *config.Config, store *Store, getenv func(string) string, log *slog.Logger) *Dispatcher {
	loc := time.UTC // only if the calendar is broken, which config.Check reports
	if cal, err := calendar.New(cfg.Calendar); err == nil {
		loc = cal.Location()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		cfg: cfg, store: store, getenv: getenv, loc: loc,
		HTTP: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		SMTPTimeout: 30 * time.Second,
		Now:         time.Now,
		Log:         log,
	}
}

// Deliver sends a notice once: idempotent by n.Key. A notice already sent is
// returned as it is, without sending it again; otherwise Deliver records it as
// queued under a lease (so two attempts running at once cannot both send),
// sends it, and records sent, failed or undeliverable.
//
// The error is nil when the notice was sent or is undeliverable (its channel is
// not configured; the entry says why). Otherwise IsPermanent tells a mistake no
// retry cures (configuration, a malformed notice, a receiver's 4xx or SMTP 5xx)
// from one a retry may (network, HTTP 5xx or 429, SMTP 4xx, Redis, another
// attempt holding the lease). An entry returned with an error records the
// failure.
//
// One duplicate window remains: a crash (or losing Redis) after the receiver
// has accepted the notice but before it is recorded as sent. The next attempt,
// once the lease has run out, sends it again. Receivers close that window
// themselves: every webhook carries Idempotency-Key: <Key>, and every email the
// Message-ID MessageID(Key), the same on every attempt.
func (d *Dispatcher) Deliver(ctx context.Context, n Notice) (Entry, error) {
	if err := n.validate(); err != nil {
		return Entry{}, permanent(fmt.Errorf("notice: %w", err))
	}
	n = n.withText(d.loc)
	target, failure := Resolve(d.cfg, n)
	if failure != nil {
		// Recorded all the same, under the recipient as written, so supervisors
		// see the notice that could not go anywhere.
		target = Target{Address: string(n.Recipient)}
	}
	token, err := leaseToken()
	if err != nil {
		return Entry{}, err
	}
	switch state, err := d.store.claim(ctx, n, target, d.Now(), token, d.lease()); {
	case err != nil:
		return Entry{}, err
	case state == claimedSent:
		return d.store.Get(ctx, n.Key)
	case state == claimBusy:
		return Entry{}, fmt.Errorf("notice %s: another attempt is sending it", n.Key)
	}

	var reason string
	if failure == nil {
		reason, failure = d.send(ctx, target, n)
	}
	status, text := StatusSent, ""
	switch {
	case failure != nil:
		status, text = StatusFailed, failure.Error()
	case reason != "":
		status, text = StatusUndeliverable, reason
	}
	// Record the outcome even if the activity's context has just ended: an
	// unrecorded send is the one way a notice goes out twice.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	recorded := d.store.finish(rctx, n.Key, status, text, d.Now(), token)
	var e Entry
	if recorded == nil {
		e, recorded = d.store.Get(rctx, n.Key)
	}
	if recorded != nil {
		if status != StatusSent {
			return Entry{}, errors.Join(failure, recorded)
		}
		// Delivered, so report success: an error would have Temporal retry,
		// and the retry send it again once the lease ran out.
		d.Log.WarnContext(ctx, "notice sent but not recorded", "key", n.Key, "error", recorded)
		return Entry{Key: n.Key, Address: target.Address, Channel: target.Channel, Status: StatusSent, Notice: n}, nil
	}
	return e, failure
}

// send delivers on the target's channel. A non-empty reason means the channel
// is not configured: nothing was sent, and retrying will not help.
func (d *Dispatcher) send(ctx context.Context, t Target, n Notice) (reason string, err error) {
	switch t.Channel {
	case ChannelWebhook:
		return d.post(ctx, t.Webhook, n)
	case ChannelEmail:
		return d.email(ctx, t.Address, n)
	default:
		return "", nil // the outbox is the delivery
	}
}

// lease is how long an attempt may hold a notice: longer than any send can
// take, so a live attempt never loses it, and short enough that the retry
// after a crashed attempt is not held up for long.
func (d *Dispatcher) lease() time.Duration {
	return max(d.HTTP.Timeout, d.SMTPTimeout) + 30*time.Second
}

func leaseToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
