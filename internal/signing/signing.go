// Package signing signs and checks the HTTP calls casebridge exchanges with
// systems it trusts by a shared secret: hand-offs to partner agencies and
// their callbacks, escalation webhooks, and back offices' webhook calls. One
// scheme serves all of them: HMAC-SHA256 over "<timestamp>.<nonce>.<body>",
// sent as three headers; a receiver refuses a call whose timestamp is outside
// the replay window, whose signature does not match (compared in constant
// time), or whose nonce it has seen before.
package signing

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed call.
const (
	HeaderTimestamp = "X-Casebridge-Timestamp" // Unix seconds when it was sent
	HeaderNonce     = "X-Casebridge-Nonce"     // 16 to 128 characters, new for every call
	HeaderSignature = "X-Casebridge-Signature" // "sha256=" + hex HMAC-SHA256 of "<timestamp>.<nonce>.<body>"
)

// Window is how far a call's timestamp may be from the receiver's clock,
// either way. A receiver keeps each nonce for twice as long.
const Window = 5 * time.Minute

// Why a call is refused; Check's and Verify's errors wrap one of them and are
// an *Error naming the header at fault.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrStale        = errors.New("timestamp outside the replay window")
	ErrReplayed     = errors.New("nonce already used")
)

// Error is a refused call: the header at fault and why.
type Error struct {
	Header string
	Reason string
	Err    error // ErrBadSignature, ErrStale or ErrReplayed
}

func (e *Error) Error() string { return e.Header + ": " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Sign returns the X-Casebridge-Signature value of a call.
func Sign(secret, timestamp, nonce string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, nonce, body))
}

func mac(secret, timestamp, nonce string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "." + nonce + "."))
	m.Write(body)
	return m.Sum(nil)
}

// Headers signs body at now with a fresh nonce and sets the three headers
// on h. It returns the nonce.
func Headers(h http.Header, secret string, body []byte, now time.Time) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, Sign(secret, ts, nonce, body))
	return nonce
}

// Check checks a call's signature and timestamp as it arrived (its headers
// and raw body) and returns its nonce, which the caller must then use once
// (Verify does both).
func Check(secret string, h http.Header, body []byte, now time.Time) (nonce string, err error) {
	if secret == "" {
		return "", &Error{HeaderSignature, "no secret is configured to check it with", ErrBadSignature}
	}
	ts, nonce, sig := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", &Error{HeaderTimestamp, "must be Unix seconds", ErrBadSignature}
	}
	if len(nonce) < 16 || len(nonce) > 128 {
		return "", &Error{HeaderNonce, "must be 16 to 128 characters", ErrBadSignature}
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return "", &Error{HeaderSignature, "must be sha256=<64 hex digits>", ErrBadSignature}
	}
	if !hmac.Equal(got, mac(secret, ts, nonce, body)) {
		return "", &Error{HeaderSignature, "does not match the timestamp, nonce and body", ErrBadSignature}
	}
	if skew := now.Sub(time.Unix(sec, 0)).Abs(); skew > Window {
		return "", &Error{HeaderTimestamp, fmt.Sprintf("%s from now, outside the %s window", skew.Round(time.Second), Window), ErrStale}
	}
	return nonce, nil
}

// Nonces remembers the nonces a receiver has accepted.
type Nonces interface {
	// Claim records a nonce, reporting false if it was recorded before.
	Claim(ctx context.Context, nonce string) (bool, error)
}

// Verify checks a call as Check does, then claims its nonce in seen: a call
// replayed within the window is refused. It returns the nonce.
func Verify(ctx context.Context, secret string, h http.Header, body []byte, now time.Time, seen Nonces) (string, error) {
	nonce, err := Check(secret, h, body, now)
	if err != nil {
		return "", err
	}
	return nonce, Claim(ctx, seen, nonce)
}

// Claim claims a checked call's nonce in seen: a nonce used before is
// refused (ErrReplayed). Verify claims at once; a receiver that checks the
// body first claims after, so a refused call does not use its nonce up.
func Claim(ctx context.Context, seen Nonces, nonce string) error {
	first, err := seen.Claim(ctx, nonce)
	if err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	if !first {
		return &Error{HeaderNonce, "already used; send each call with a new nonce", ErrReplayed}
	}
	return nil
}
