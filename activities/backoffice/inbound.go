package backoffice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/signing"
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

// Verify checks a webhook call as internal/signing says (its headers and raw
// body) and uses its nonce once: a call replayed, late, or signed with
// another secret is refused with a *signing.Error.
func (s *Store) Verify(ctx context.Context, system, secret string, h http.Header, body []byte, now time.Time) error {
	_, err := signing.Verify(ctx, secret, h, body, now, signing.RedisNonces{RDB: s.rdb, Prefix: s.prefix + "nonce:" + system + ":"})
	return err
}
