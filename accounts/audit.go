package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kinds of audit event.
const (
	EventSignIn         = "sign_in"
	EventSignInFailed   = "sign_in_failed"
	EventSignOut        = "sign_out"
	EventLockedOut      = "locked_out"
	EventAccountCreated = "account_created"
	EventAccountChanged = "account_changed"
	EventPasswordReset  = "password_reset"
	// EventPasswordChanged is a person changing their own password.
	EventPasswordChanged = "password_changed"
	EventSessionRevoked  = "session_revoked"
	EventUnlocked        = "unlocked"
	EventTokenUsed       = "token_used"
)

// Event is one line of the audit trail. It names people by sign-in name and
// machines by token name, and never holds a password, a token, a cookie or
// anything a reporter wrote.
type Event struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor,omitempty"`  // who did it: "account:<login>", "token:<name>", or "" for nobody known
	Target string    `json:"target,omitempty"` // what it was done to: an account, a session
	Addr   string    `json:"addr,omitempty"`   // the client address
	Detail string    `json:"detail,omitempty"` // what changed, in words (roles, departments; never secrets)
}

// Audit keeps the audit trail in a Redis stream, the newest MaxAudit events,
// and writes each to the log too, so a council that ships its logs keeps the
// trail for as long as it keeps them.
//
//	P audit   stream of events
type Audit struct {
	rdb redis.UniversalClient
	ns  string
	log *slog.Logger
}

// MaxAudit is about how many events the stream keeps.
const MaxAudit = 200_000

// NewAudit returns an audit trail over rdb that also logs to log.
func NewAudit(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Audit {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Audit{rdb: rdb, ns: prefix + "acct:", log: log}
}

// Record adds an event. A trail that cannot be written is logged as an
// error, and the event with it: the action it records has happened.
func (a *Audit) Record(ctx context.Context, e Event) {
	a.log.Info("audit", "kind", e.Kind, "actor", e.Actor, "target", e.Target, "addr", e.Addr, "detail", e.Detail)
	err := a.rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.ns + "audit", MaxLen: MaxAudit, Approx: true, Values: map[string]any{
		"at": e.At.UnixMilli(), "kind": e.Kind, "actor": e.Actor, "target": e.Target, "addr": e.Addr, "detail": e.Detail,
	}}).Err()
	if err != nil {
		a.log.Error("audit trail: an event was not kept", "kind", e.Kind, "error", err)
	}
}

// AuditQuery chooses events: all of them match empty fields.
type AuditQuery struct {
	Kind, Actor, Target string
	Before              string // an event ID: events older than it (the next page)
	Limit               int
}

// Query returns the newest events matching q, newest first, reading at most
// 20 times the limit from the stream.
func (a *Audit) Query(ctx context.Context, q AuditQuery) ([]Event, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	end := "+"
	if q.Before != "" {
		end = "(" + q.Before
	}
	msgs, err := a.rdb.XRevRangeN(ctx, a.ns+"audit", end, "-", int64(q.Limit*20)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	var out []Event
	for _, m := range msgs {
		s := func(k string) string { v, _ := m.Values[k].(string); return v }
		ms, _ := strconv.ParseInt(s("at"), 10, 64)
		e := Event{ID: m.ID, At: time.UnixMilli(ms).UTC(), Kind: s("kind"), Actor: s("actor"), Target: s("target"), Addr: s("addr"), Detail: s("detail")}
		if (q.Kind != "" && e.Kind != q.Kind) || (q.Actor != "" && e.Actor != q.Actor) || (q.Target != "" && e.Target != q.Target) {
			continue
		}
		if out = append(out, e); len(out) == q.Limit {
			break
		}
	}
	return out, nil
}
