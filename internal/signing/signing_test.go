package signing

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"accepted"}`)
	signed := func(secret string, at time.Time, b []byte) http.Header {
		h := http.Header{}
		Headers(h, secret, b, at)
		return h
	}
	edit := func(h http.Header, k, v string) http.Header { h.Set(k, v); return h }
	for _, tt := range []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		want   error
		header string
	}{
		{"good", "s3cret", signed("s3cret", now, body), body, nil, ""},
		{"good, timestamp within the window", "s3cret", signed("s3cret", now.Add(-Window+time.Second), body), body, nil, ""},
		{"bad signature: another secret", "s3cret", signed("other", now, body), body, ErrBadSignature, HeaderSignature},
		{"bad signature: body changed", "s3cret", signed("s3cret", now, body), append(body, ' '), ErrBadSignature, HeaderSignature},
		{"bad signature: nonce changed", "s3cret", edit(signed("s3cret", now, body), HeaderNonce, "0123456789abcdef0123"), body, ErrBadSignature, HeaderSignature},
		{"bad signature: timestamp changed", "s3cret", edit(signed("s3cret", now.Add(-time.Minute), body), HeaderTimestamp, strconv.FormatInt(now.Unix(), 10)), body, ErrBadSignature, HeaderSignature},
		{"bad signature: not hex", "s3cret", edit(signed("s3cret", now, body), HeaderSignature, "sha256=zz"), body, ErrBadSignature, HeaderSignature},
		{"no secret configured", "", signed("", now, body), body, ErrBadSignature, HeaderSignature},
		{"old timestamp", "s3cret", signed("s3cret", now.Add(-Window-time.Second), body), body, ErrStale, HeaderTimestamp},
		{"timestamp from the future", "s3cret", signed("s3cret", now.Add(Window+time.Second), body), body, ErrStale, HeaderTimestamp},
		{"timestamp not a number", "s3cret", edit(signed("s3cret", now, body), HeaderTimestamp, "yesterday"), body, ErrBadSignature, HeaderTimestamp},
		{"short nonce", "s3cret", edit(signed("s3cret", now, body), HeaderNonce, "abc"), body, ErrBadSignature, HeaderNonce},
	} {
		_, err := Verify(ctx, tt.secret, tt.h, tt.body, now, &MemoryNonces{})
		var e *Error
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: Verify = %v, want nil", tt.name, err)
		case tt.want != nil && (!errors.Is(err, tt.want) || !errors.As(err, &e) || e.Header != tt.header):
			t.Errorf("%s: Verify = %v, want %v naming %s", tt.name, err, tt.want, tt.header)
		}
	}
}

func TestVerifyRefusesAReplayedNonce(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	seen := &MemoryNonces{}
	body := []byte("changes")
	h := http.Header{}
	nonce := Headers(h, "s3cret", body, now)
	if got, err := Verify(ctx, "s3cret", h, body, now, seen); err != nil || got != nonce {
		t.Fatalf("first call: Verify = %q, %v; want %q, nil", got, err, nonce)
	}
	if _, err := Verify(ctx, "s3cret", h, body, now.Add(time.Minute), seen); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same call again: Verify = %v, want %v", err, ErrReplayed)
	}
	// Signed again, it is a new call with a new nonce.
	h2 := http.Header{}
	Headers(h2, "s3cret", body, now)
	if _, err := Verify(ctx, "s3cret", h2, body, now, seen); err != nil {
		t.Fatalf("a new call with the same body: Verify = %v, want nil", err)
	}
}

func TestMemoryNoncesForgetAfterTwiceTheWindow(t *testing.T) {
	now := time.Now()
	n := &MemoryNonces{Now: func() time.Time { return now }}
	if ok, _ := n.Claim(context.Background(), "nonce-1"); !ok {
		t.Fatal("first claim refused")
	}
	now = now.Add(2*Window - time.Second)
	if ok, _ := n.Claim(context.Background(), "nonce-1"); ok {
		t.Fatal("a nonce was forgotten within twice the window")
	}
	now = now.Add(2 * time.Second)
	if ok, _ := n.Claim(context.Background(), "nonce-1"); !ok {
		t.Fatal("a nonce was kept past twice the window")
	}
}

// A receiver in another language can check its implementation against this.
func TestSignKnownVector(t *testing.T) {
	// printf '%s' '1767225600.0123456789abcdef.{"event":"escalation"}' | openssl dgst -sha256 -hmac demo-webhook-secret
	const want = "sha256=e76bfaa7fb912f5dfb12d734f39fcd94f49810fbc459e761da406e0566c9ae0f"
	if got := Sign("demo-webhook-secret", "1767225600", "0123456789abcdef", []byte(`{"event":"escalation"}`)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
