package backoffice

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
)

// Inbound brings one back office's changes to the cases they concern: from
// its change feed (Poll, run by a Temporal Schedule) and from its webhook
// (Receive). Each change is signalled to its case until the case has had it
// once; the case itself applies a change once however often it arrives, so
// a change signalled twice (a crash between signal and record) does no harm.
type Inbound struct {
	System    string
	Connector Connector
	Map       config.StatusMap
	// Signal sends a change to the case with reference ref. It returns nil
	// for a case that no longer runs (its change has nowhere to go).
	Signal func(ctx context.Context, ref string, ch cases.JobChange) error
	Store  *Store
}

// Decoder reads changes a system posts to its webhook.
type Decoder interface {
	DecodeChanges(body []byte) ([]Change, error)
}

// maxPages bounds one poll, so a system with a long backlog is read in
// several polls instead of one long activity.
const maxPages = 20

// Poll reads the change feed from the cursor kept in Redis, delivering each
// page before moving the cursor past it, and reports how many changes it
// delivered.
func (in *Inbound) Poll(ctx context.Context) (int, error) {
	cursor, err := in.Store.Cursor(ctx, in.System)
	if err != nil {
		return 0, err
	}
	total := 0
	for range maxPages {
		p, err := in.Connector.Changes(ctx, cursor)
		if err != nil {
			return total, err
		}
		n, err := in.Deliver(ctx, p.Changes)
		total += n
		if err != nil {
			return total, err
		}
		if p.Next != "" && p.Next != cursor {
			if err := in.Store.SetCursor(ctx, in.System, p.Next); err != nil {
				return total, err
			}
			cursor = p.Next
		}
		if !p.More {
			break
		}
	}
	return total, nil
}

// Receive delivers the changes of a webhook call's body.
func (in *Inbound) Receive(ctx context.Context, body []byte) (int, error) {
	d, ok := in.Connector.(Decoder)
	if !ok {
		return 0, fmt.Errorf("back office %s takes no webhook", in.System)
	}
	changes, err := d.DecodeChanges(body)
	if err != nil {
		return 0, &BadInput{Err: err}
	}
	return in.Deliver(ctx, changes)
}

// BadInput is a webhook body the system's decoder refuses.
type BadInput struct{ Err error }

func (e *BadInput) Error() string { return e.Err.Error() }
func (e *BadInput) Unwrap() error { return e.Err }

// Deliver signals each change not yet delivered to its case, mapping the
// system's code through the status map, and records it as delivered.
func (in *Inbound) Deliver(ctx context.Context, changes []Change) (int, error) {
	n := 0
	for _, c := range changes {
		seen, err := in.Store.Seen(ctx, in.System, c.ID)
		if err != nil {
			return n, err
		}
		if seen {
			continue
		}
		jc := cases.JobChange{System: in.System, ID: c.ID, JobID: c.JobID, Code: c.Code, Note: c.Note, At: c.At.UTC()}
		if s, ok := in.Map.Map(c.Code); ok {
			jc.Status = s
		}
		if err := in.Signal(ctx, c.Ref, jc); err != nil {
			return n, fmt.Errorf("signal change %s to %s: %w", c.ID, c.Ref, err)
		}
		if err := in.Store.MarkSeen(ctx, in.System, c.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Store keeps what inbound changes need in Redis: each system's feed cursor,
// the changes delivered, and the webhook nonces used. Losing it costs only
// repeats, which the cases ignore.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewStore returns a store under prefix (e.g. "cb:").
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix + "bo:"}
}

// seenFor is how long a delivered change is remembered: far longer than any
// feed or webhook repeats it.
const seenFor = 30 * 24 * time.Hour

// Cursor returns the system's feed cursor ("" from the start).
func (s *Store) Cursor(ctx context.Context, system string) (string, error) {
	v, err := s.rdb.Get(ctx, s.prefix+"cursor:"+system).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// SetCursor moves the system's feed cursor.
func (s *Store) SetCursor(ctx context.Context, system, cursor string) error {
	return s.rdb.Set(ctx, s.prefix+"cursor:"+system, cursor, 0).Err()
}

// Seen reports whether a change has been delivered.
func (s *Store) Seen(ctx context.Context, system, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.prefix+"seen:"+system+":"+id).Result()
	return n > 0, err
}

// MarkSeen records a change as delivered.
func (s *Store) MarkSeen(ctx context.Context, system, id string) error {
	return s.rdb.Set(ctx, s.prefix+"seen:"+system+":"+id, "1", seenFor).Err()
}

// UseNonce records a webhook nonce, reporting false if it was used before.
func (s *Store) UseNonce(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	return s.rdb.SetNX(ctx, s.prefix+"nonce:"+system+":"+nonce, "1", ttl).Result()
}

// Webhook signatures: a system signs each call with HMAC-SHA256 over
// timestamp "." nonce "." body, hex-encoded, sent as X-Casebridge-Signature
// with X-Casebridge-Timestamp (Unix seconds) and X-Casebridge-Nonce.
const (
	HeaderTimestamp = "X-Casebridge-Timestamp"
	HeaderNonce     = "X-Casebridge-Nonce"
	HeaderSignature = "X-Casebridge-Signature"
	// Window is how far a call's timestamp may be from now.
	Window = 5 * time.Minute
)

// Sign is the signature of a webhook call.
func Sign(secret, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "." + nonce + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignatureError says which part of a webhook call's signature is wrong.
type SignatureError struct{ Header, Reason string }

func (e *SignatureError) Error() string { return e.Header + ": " + e.Reason }

// Verify checks a webhook call's signature and timestamp, and uses its nonce
// once: a call replayed, late, or signed with another secret is refused.
func (s *Store) Verify(ctx context.Context, system, secret, timestamp, nonce, signature string, body []byte, now time.Time) error {
	if secret == "" {
		return &SignatureError{Header: HeaderSignature, Reason: "this back office has no webhook secret configured"}
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return &SignatureError{Header: HeaderTimestamp, Reason: "must be Unix seconds"}
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return &SignatureError{Header: HeaderTimestamp, Reason: "outside the " + Window.String() + " window"}
	}
	if len(nonce) < 16 || len(nonce) > 128 {
		return &SignatureError{Header: HeaderNonce, Reason: "must be 16 to 128 characters"}
	}
	want := Sign(secret, timestamp, nonce, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return &SignatureError{Header: HeaderSignature, Reason: "does not match"}
	}
	first, err := s.UseNonce(ctx, system, nonce, 2*Window)
	if err != nil {
		return err
	}
	if !first {
		return &SignatureError{Header: HeaderNonce, Reason: "already used"}
	}
	return nil
}
