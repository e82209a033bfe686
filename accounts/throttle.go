// Package accounts keeps who may use the staff console and API: staff
// accounts with hashed passwords, the sessions they open, the throttle that
// slows guessing, and the audit trail of sign-ins and changes. Sessions and
// throttle counters live in Redis only (losing them signs people out or
// forgets a count); accounts are kept in Redis for reading and in Temporal as
// the durable copy (see Archive), so losing Redis loses no account.
//
// Key layout, with P = prefix + "acct:" (prefix defaults to "cb:"):
//
//	P fail:<key>          string: failures of key within the window (key is "login:<name>" or "addr:<ip>")
//	P lock:<key>          string: set while key is locked out; its TTL is the back-off left
//	P session:<hash>      hash: one session; hash is the hex SHA-256 of the cookie's secret
//	P sessions:<subject>  set of the session hashes a subject holds
package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "cb:"

// Limit is how many failures a throttle key takes within Window before it is
// locked out, and for how long: Base after the Limit-th failure, doubling with
// each failure after it, up to Max.
type Limit struct {
	Limit  int
	Window time.Duration
	Base   time.Duration
	Max    time.Duration
}

// Limits of the two kinds of key: a person's sign-in name is locked after a
// few failures; an address, which a whole council office may share behind
// one gateway, after more.
var (
	PerLogin   = Limit{Limit: 5, Window: time.Hour, Base: 30 * time.Second, Max: 15 * time.Minute}
	PerAddress = Limit{Limit: 20, Window: time.Hour, Base: 30 * time.Second, Max: 15 * time.Minute}
)

// LoginKey and AddressKey name throttle keys.
func LoginKey(name string) string   { return "login:" + name }
func AddressKey(addr string) string { return "addr:" + addr }

// Throttle counts failed sign-ins and wrong tokens in Redis, so every api
// replica sees the same counts, and locks a key out with back-off.
type Throttle struct {
	rdb redis.UniversalClient
	ns  string
}

// NewThrottle returns a throttle over rdb.
func NewThrottle(rdb redis.UniversalClient, prefix string) *Throttle {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Throttle{rdb: rdb, ns: prefix + "acct:"}
}

// Locked returns how much longer the longest lock of keys lasts; 0 means
// none is locked.
func (t *Throttle) Locked(ctx context.Context, keys ...string) (time.Duration, error) {
	pipe := t.rdb.Pipeline()
	cmds := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.PTTL(ctx, t.ns+"lock:"+k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("read sign-in locks: %w", err)
	}
	var most time.Duration
	for _, c := range cmds {
		most = max(most, c.Val()) // -2 (no key) and -1 (no TTL, never set) count as none
	}
	return most, nil
}

// failScript counts a failure and, at the limit, locks the key for the
// back-off: base × 2^(failures − limit), at most max. The count is kept for
// the window after the last failure, so a patient guesser backs off further.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local limit = tonumber(ARGV[2])
if n < limit then return 0 end
local lock = tonumber(ARGV[3]) * 2 ^ math.min(n - limit, 30)
lock = math.min(lock, tonumber(ARGV[4]))
redis.call('SET', KEYS[2], n, 'PX', lock)
return lock
`)

// Fail records a failure of key and returns the lock it earned (0 for none yet).
func (t *Throttle) Fail(ctx context.Context, key string, l Limit) (time.Duration, error) {
	ms, err := failScript.Run(ctx, t.rdb, []string{t.ns + "fail:" + key, t.ns + "lock:" + key},
		l.Window.Milliseconds(), l.Limit, l.Base.Milliseconds(), l.Max.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("count a failed sign-in: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Clear forgets key's failures and lock: after a successful sign-in, or an
// admin unlocking an account.
func (t *Throttle) Clear(ctx context.Context, key string) error {
	return t.rdb.Del(ctx, t.ns+"fail:"+key, t.ns+"lock:"+key).Err()
}
