package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/signing"
)

// ErrUnknownPartner refuses a callback from a partner not configured. Verify's
// other errors wrap signing's (ErrBadSignature, ErrStale, ErrReplayed) or are
// a *cases.InputError naming the field at fault.
var ErrUnknownPartner = errors.New("unknown partner")

// Nonces remembers the nonces partners have used, in Redis, so that every
// api process refuses a replayed callback.
type Nonces struct {
	rdb redis.UniversalClient
	ns  string
}

// NewNonces keeps nonces in Redis under prefix (e.g. "cb:").
func NewNonces(rdb redis.UniversalClient, prefix string) *Nonces {
	return &Nonces{rdb: rdb, ns: prefix + "partners:nonce:"}
}

// of is one partner's nonces.
func (n *Nonces) of(partner string) signing.RedisNonces {
	return signing.RedisNonces{RDB: n.rdb, Prefix: n.ns + partner + ":"}
}

// Verifier checks partners' callbacks.
type Verifier struct {
	Config *config.Config
	Getenv func(string) string
	Nonces *Nonces
	Now    func() time.Time
}

// Release forgets a callback's nonce, for a callback that could not be
// applied: the partner's retry of it must not be refused as a replay.
func (v *Verifier) Release(ctx context.Context, partner, nonce string) error {
	return v.Nonces.of(partner).Release(ctx, nonce)
}

// Verify checks a callback from partner as it arrived (its headers and raw
// body, signed as internal/signing says) and claims its nonce: a bad signature,
// a timestamp outside the window, a nonce seen before or a body that does not
// say what happened is refused, and nothing about the case is read. The
// signature is checked before anything in the body is trusted.
func (v *Verifier) Verify(ctx context.Context, partner string, h http.Header, body []byte) (Callback, error) {
	p, ok := v.Config.Partner(partner)
	if !ok || p.URL == "" {
		return Callback{}, fmt.Errorf("%w %q", ErrUnknownPartner, partner)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	nonce, err := signing.Check(Secret(p, v.Getenv), h, body, now())
	if err != nil {
		return Callback{}, err
	}
	var cb Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return Callback{}, &cases.InputError{Field: "body", Reason: "not a JSON callback: " + err.Error()}
	}
	if err := cases.CheckLine("handoff", cb.Handoff, cases.MaxID); err != nil || cb.Handoff == "" {
		return Callback{}, &cases.InputError{Field: "handoff", Reason: "the hand-off id the hand-off carried is required"}
	}
	if err := cases.CheckCallback(cb.Event, cb.Note); err != nil {
		return Callback{}, err
	}
	// Claimed only once the body is checked: a refused callback does not use
	// up its nonce.
	if err := signing.Claim(ctx, v.Nonces.of(partner), nonce); err != nil {
		return Callback{}, err
	}
	cb.Nonce = nonce
	return cb, nil
}
