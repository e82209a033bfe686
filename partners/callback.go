package partners

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/notify"
)

// Why a callback is refused; Verify's errors wrap one of them (or are a
// *cases.InputError naming the field at fault).
var (
	ErrUnknownPartner = errors.New("unknown partner")
	ErrBadSignature   = notify.ErrBadSignature
	ErrStale          = notify.ErrStaleSignature
	ErrReplayed       = errors.New("nonce already used")
)

// Window is how far a callback's timestamp may be from now either way.
const Window = notify.DefaultMaxSkew

// Nonces remembers the nonces partners have used, each for twice the replay
// window (a callback older than the window is refused for its timestamp).
type Nonces struct {
	rdb redis.UniversalClient
	ns  string
}

// NewNonces keeps nonces in Redis under prefix (e.g. "cb:").
func NewNonces(rdb redis.UniversalClient, prefix string) *Nonces {
	return &Nonces{rdb: rdb, ns: prefix + "partners:nonce:"}
}

func (n *Nonces) key(partner, nonce string) string {
	h := sha256.Sum256([]byte(nonce))
	return n.ns + partner + ":" + hex.EncodeToString(h[:16])
}

// Claim records a nonce, reporting ErrReplayed if it was seen before.
func (n *Nonces) Claim(ctx context.Context, partner, nonce string) error {
	ok, err := n.rdb.SetNX(ctx, n.key(partner, nonce), "1", 2*Window).Result()
	if err != nil {
		return fmt.Errorf("record partner nonce: %w", err)
	}
	if !ok {
		return ErrReplayed
	}
	return nil
}

// Release forgets a nonce whose callback could not be applied, so the
// partner's retry of it is not refused as a replay.
func (n *Nonces) Release(ctx context.Context, partner, nonce string) error {
	return n.rdb.Del(ctx, n.key(partner, nonce)).Err()
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
	return v.Nonces.Release(ctx, partner, nonce)
}

// Verify checks a callback from partner as it arrived (the timestamp and
// signature headers and the raw body) and claims its nonce: a bad signature,
// a timestamp outside the window, a nonce seen before or a body that does not
// say what happened is refused, and nothing about the case is read. The
// signature is checked before anything in the body is trusted.
func (v *Verifier) Verify(ctx context.Context, partner, timestamp, signature string, body []byte) (Callback, error) {
	p, ok := v.Config.Partner(partner)
	if !ok || p.URL == "" {
		return Callback{}, fmt.Errorf("%w %q", ErrUnknownPartner, partner)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := notify.VerifySignature(Secret(p, v.Getenv), timestamp, string(body), signature, now(), Window); err != nil {
		return Callback{}, err
	}
	var cb Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return Callback{}, &cases.InputError{Field: "body", Reason: "not a JSON callback: " + err.Error()}
	}
	if err := cases.CheckLine("handoff", cb.Handoff, cases.MaxID); err != nil || cb.Handoff == "" {
		return Callback{}, &cases.InputError{Field: "handoff", Reason: "the hand-off id the hand-off carried is required"}
	}
	if err := cases.CheckLine("nonce", cb.Nonce, cases.MaxID); err != nil || len(cb.Nonce) < 8 {
		return Callback{}, &cases.InputError{Field: "nonce", Reason: "a unique id of 8 to 100 characters is required"}
	}
	if err := cases.CheckCallback(cb.Event, cb.Note); err != nil {
		return Callback{}, err
	}
	if err := v.Nonces.Claim(ctx, partner, cb.Nonce); err != nil {
		return Callback{}, err
	}
	return cb, nil
}
