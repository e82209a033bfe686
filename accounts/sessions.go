package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session is one signed-in browser. Its cookie holds a random secret; Redis
// keeps only the secret's SHA-256, so a copy of Redis opens no session.
type Session struct {
	// ID is the first 16 hex digits of the secret's hash: enough to name the
	// session in a list and revoke it, no use to open it.
	ID string
	// Subject is who holds it: "account:<login>" or "token:<name>".
	Subject string
	// Token is, for a session opened with a bearer token, the start of the
	// token's SHA-256, so the session ends when the token leaves the
	// configuration.
	Token string
	// SSO means it was opened through the council's identity provider, so
	// signing out is sent on to end the provider's session too.
	SSO     bool
	Created time.Time
	Seen    time.Time
	Expires time.Time
	Addr    string // the client address it was opened from
	Agent   string // the browser it was opened in, as it named itself
	hash    string
}

// ErrNoSession means the cookie names no live session.
var ErrNoSession = errors.New("no such session")

// Sessions keeps console sessions in Redis, each expiring with its cookie.
type Sessions struct {
	rdb redis.UniversalClient
	ns  string
}

// NewSessions returns a session store over rdb.
func NewSessions(rdb redis.UniversalClient, prefix string) *Sessions {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Sessions{rdb: rdb, ns: prefix + "acct:"}
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Open starts a session for s.Subject lasting life from now and returns the
// cookie's secret.
func (m *Sessions) Open(ctx context.Context, s Session, now time.Time, life time.Duration) (secret string, _ Session, err error) {
	secret = rand.Text() + rand.Text() // 256 bits
	s.hash = hashSecret(secret)
	s.ID = s.hash[:16]
	s.Created, s.Seen, s.Expires = now, now, now.Add(life)
	s.Agent = truncate(s.Agent, 200)
	sso := ""
	if s.SSO {
		sso = "1"
	}
	key := m.ns + "session:" + s.hash
	pipe := m.rdb.TxPipeline()
	pipe.HSet(ctx, key, map[string]any{
		"subject": s.Subject, "token": s.Token, "created": s.Created.UnixMilli(), "seen": s.Seen.UnixMilli(),
		"expires": s.Expires.UnixMilli(), "addr": s.Addr, "agent": s.Agent, "sso": sso,
	})
	// Redis expires the key by its own clock; Check compares Expires with the
	// caller's, so a test's clock works too.
	pipe.PExpire(ctx, key, life)
	pipe.SAdd(ctx, m.ns+"sessions:"+s.Subject, s.hash)
	pipe.PExpire(ctx, m.ns+"sessions:"+s.Subject, life)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", Session{}, fmt.Errorf("open a session: %w", err)
	}
	return secret, s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// seenEvery is how stale a session's last-seen time may be: it is written at
// most this often, not on every request.
const seenEvery = time.Minute

// Check returns the live session the cookie's secret opens.
func (m *Sessions) Check(ctx context.Context, secret string, now time.Time) (Session, error) {
	if secret == "" {
		return Session{}, ErrNoSession
	}
	hash := hashSecret(secret)
	vals, err := m.rdb.HGetAll(ctx, m.ns+"session:"+hash).Result()
	if err != nil {
		return Session{}, fmt.Errorf("read a session: %w", err)
	}
	s, ok := parseSession(hash, vals)
	if !ok || !now.Before(s.Expires) {
		return Session{}, ErrNoSession
	}
	if now.Sub(s.Seen) >= seenEvery {
		// Only an existing session is touched: one ended meanwhile stays ended.
		_ = touchScript.Run(ctx, m.rdb, []string{m.ns + "session:" + hash}, now.UnixMilli()).Err()
		s.Seen = now
	}
	return s, nil
}

var touchScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
return 0
`)

func parseSession(hash string, v map[string]string) (Session, bool) {
	if v["subject"] == "" {
		return Session{}, false
	}
	ms := func(k string) time.Time {
		n, _ := strconv.ParseInt(v[k], 10, 64)
		return time.UnixMilli(n).UTC()
	}
	return Session{ID: hash[:16], hash: hash, Subject: v["subject"], Token: v["token"], SSO: v["sso"] == "1", Created: ms("created"),
		Seen: ms("seen"), Expires: ms("expires"), Addr: v["addr"], Agent: v["agent"]}, true
}

// End ends the session the cookie's secret opens (signing out).
func (m *Sessions) End(ctx context.Context, secret string) error {
	hash := hashSecret(secret)
	subject, err := m.rdb.HGet(ctx, m.ns+"session:"+hash, "subject").Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end a session: %w", err)
	}
	return m.remove(ctx, subject, hash)
}

func (m *Sessions) remove(ctx context.Context, subject string, hashes ...string) error {
	if len(hashes) == 0 {
		return nil
	}
	pipe := m.rdb.TxPipeline()
	for _, h := range hashes {
		pipe.Del(ctx, m.ns+"session:"+h)
		pipe.SRem(ctx, m.ns+"sessions:"+subject, h)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("end sessions of %s: %w", subject, err)
	}
	return nil
}

// List returns subject's live sessions, newest first.
func (m *Sessions) List(ctx context.Context, subject string, now time.Time) ([]Session, error) {
	hashes, err := m.rdb.SMembers(ctx, m.ns+"sessions:"+subject).Result()
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", subject, err)
	}
	pipe := m.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(hashes))
	for i, h := range hashes {
		cmds[i] = pipe.HGetAll(ctx, m.ns+"session:"+h)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list sessions of %s: %w", subject, err)
	}
	var out []Session
	var gone []string
	for i, c := range cmds {
		s, ok := parseSession(hashes[i], c.Val())
		if !ok || !now.Before(s.Expires) {
			gone = append(gone, hashes[i])
			continue
		}
		out = append(out, s)
	}
	_ = m.remove(ctx, subject, gone...)
	slices.SortFunc(out, func(a, b Session) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Revoke ends subject's session with the given ID; with no ID, every one of
// subject's sessions. It returns how many ended.
func (m *Sessions) Revoke(ctx context.Context, subject, id string, now time.Time) (int, error) {
	live, err := m.List(ctx, subject, now)
	if err != nil {
		return 0, err
	}
	var hashes []string
	for _, s := range live {
		if id == "" || s.ID == id {
			hashes = append(hashes, s.hash)
		}
	}
	return len(hashes), m.remove(ctx, subject, hashes...)
}
