package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// Store is the outbox: every notice once per Key, with its address, channel,
// text and outcome, listed newest first per address and across all addresses.
//
// Key layout, with N = prefix + "notify:" (prefix defaults to "cb:"), outside
// the read model's "rm:" namespace: a reindex does not rebuild notices, so
// its Reset must not drop them, and the record of what was sent is what keeps
// a retry from sending it again:
//
//	N n:<key>          hash: key, notice (JSON), address, idx (the outbox key it is listed in),
//	                   channel, status, error, attempts, created, created_us, updated, sent,
//	                   lease, lease_until (ms) while an attempt is sending
//	N to:<address>     zset key → created µs: the address's outbox (address lower-cased),
//	                   the newest KeepPerAddress
//	N all              zset key → created µs: every address, the newest KeepRecent
//
// An entry that falls out of both lists is deleted, or, while an attempt is
// sending it, expires once the attempt has had time to record its outcome.
// The scripts build key names from stored data, so the store expects one
// Redis, not a Cluster.
type Store struct {
	rdb redis.UniversalClient
	ns  string
	// keep and keepRecent cap the lists; variables so tests can trim small.
	keep, keepRecent int
}

// The caps on the lists, so the outbox cannot grow without bound.
const (
	KeepPerAddress = 1000
	KeepRecent     = 10000
)

// Page sizes for Outbox and Recent.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// DefaultPrefix is the key prefix when NewStore is given none.
const DefaultPrefix = "cb:"

// NewStore returns the outbox kept under prefix + "notify:" ("" means DefaultPrefix).
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, ns: prefix + "notify:", keep: KeepPerAddress, keepRecent: KeepRecent}
}

func (s *Store) entryKey(key string) string { return s.ns + "n:" + key }
func (s *Store) recentKey() string          { return s.ns + "all" }

// outboxKey is the address's list. Addresses are lower-cased: mail systems
// treat them case-insensitively, and so should the outbox.
func (s *Store) outboxKey(address string) string {
	return s.ns + "to:" + strings.ToLower(strings.TrimSpace(address))
}

// Get returns the entry of a notice; the error wraps cases.ErrNotFound when
// there is none.
func (s *Store) Get(ctx context.Context, key string) (Entry, error) {
	m, err := s.rdb.HGetAll(ctx, s.entryKey(key)).Result()
	if err != nil {
		return Entry{}, fmt.Errorf("outbox: get %s: %w", key, err)
	}
	if len(m) == 0 {
		return Entry{}, fmt.Errorf("outbox: notice %s: %w", key, cases.ErrNotFound)
	}
	return decodeEntry(m)
}

// Outbox returns an address's notices, newest first. before is the Key of the
// last entry of the previous page ("" for the first page); a page shorter than
// limit is the last.
func (s *Store) Outbox(ctx context.Context, address string, limit int, before string) ([]Entry, error) {
	return s.page(ctx, s.outboxKey(address), limit, before)
}

// Recent returns the notices to every address, newest first, for supervisors;
// paged as Outbox.
func (s *Store) Recent(ctx context.Context, limit int, before string) ([]Entry, error) {
	return s.page(ctx, s.recentKey(), limit, before)
}

// pageScript reads a page after the cursor's member in one step, so entries
// added meanwhile cannot shift it. A cursor that is gone was trimmed, and so
// was everything older: the list is over.
var pageScript = redis.NewScript(`
local start = 0
if ARGV[1] ~= '' then
  local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not r then return {} end
  start = r + 1
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
`)

func (s *Store) page(ctx context.Context, list string, limit int, before string) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	keys, err := pageScript.Run(ctx, s.rdb, []string{list}, before, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, s.entryKey(k))
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("outbox: load %d entries: %w", len(keys), err)
		}
	}
	out := make([]Entry, 0, len(keys))
	for _, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue // trimmed between the two reads
		}
		e, err := decodeEntry(cmd.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// claim outcomes.
const (
	claimed     = "go"   // the caller holds the lease: send
	claimedSent = "sent" // already delivered: do nothing
	claimBusy   = "busy" // another attempt holds an unexpired lease
)

// claimScript records the notice (once) and, unless it is sent or another
// attempt is sending it, hands the caller a lease to send it. It then trims
// both lists, deleting entries neither list holds any more (but not one
// being sent: that one lives on for twice the lease, so its outcome can be
// recorded and read back, then expires).
//
// KEYS: entry, its outbox, the recent list.
// ARGV: key, notice JSON, address, channel, now (RFC 3339), now µs, now ms,
// lease token, lease ms, keep per address, keep recent, entry key prefix.
var claimScript = redis.NewScript(`
local e = KEYS[1]
local st = redis.call('HGET', e, 'status')
if st == 'sent' then return 'sent' end
if tonumber(redis.call('HGET', e, 'lease_until') or '0') > tonumber(ARGV[7]) then return 'busy' end
if not st then
  redis.call('HSET', e, 'key', ARGV[1], 'notice', ARGV[2], 'created', ARGV[5], 'created_us', ARGV[6], 'attempts', 0)
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
end
local old = redis.call('HGET', e, 'idx')
if old and old ~= KEYS[2] then redis.call('ZREM', old, ARGV[1]) end
redis.call('HSET', e, 'address', ARGV[3], 'idx', KEYS[2], 'channel', ARGV[4], 'status', 'queued',
  'updated', ARGV[5], 'lease', ARGV[8], 'lease_until', tonumber(ARGV[7]) + tonumber(ARGV[9]))
redis.call('HINCRBY', e, 'attempts', 1)
redis.call('ZADD', KEYS[2], 'NX', redis.call('HGET', e, 'created_us'), ARGV[1])

local function trim(list, keep)
  local extra = redis.call('ZCARD', list) - keep
  if extra <= 0 then return end
  local gone = redis.call('ZRANGE', list, 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', list, 0, extra - 1)
  for _, k in ipairs(gone) do
    local ek = ARGV[12] .. k
    local own = redis.call('HGET', ek, 'idx')
    if not redis.call('ZSCORE', KEYS[3], k) and not (own and redis.call('ZSCORE', own, k)) then
      if tonumber(redis.call('HGET', ek, 'lease_until') or '0') > tonumber(ARGV[7]) then
        redis.call('PEXPIRE', ek, 2 * tonumber(ARGV[9]))
      else
        redis.call('DEL', ek)
      end
    end
  end
end
trim(KEYS[2], tonumber(ARGV[10]))
trim(KEYS[3], tonumber(ARGV[11]))
return 'go'
`)

func (s *Store) claim(ctx context.Context, n Notice, t Target, now time.Time, token string, lease time.Duration) (string, error) {
	doc, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("outbox: record %s: %w", n.Key, err)
	}
	keys := []string{s.entryKey(n.Key), s.outboxKey(t.Address), s.recentKey()}
	args := []any{n.Key, doc, t.Address, string(t.Channel), now.UTC().Format(time.RFC3339Nano), now.UnixMicro(), now.UnixMilli(),
		token, lease.Milliseconds(), s.keep, s.keepRecent, s.entryKey("")}
	res, err := claimScript.Run(ctx, s.rdb, keys, args...).Text()
	if err != nil {
		return "", fmt.Errorf("outbox: record %s: %w", n.Key, err)
	}
	return res, nil
}

// finishScript records an attempt's outcome. Sent always sticks (it is true
// whoever holds the lease); any other outcome only from the lease holder, so a
// slow attempt that lost its lease cannot overwrite the newer one's record.
//
// KEYS: entry. ARGV: status, error, now (RFC 3339), lease token.
var finishScript = redis.NewScript(`
local e = KEYS[1]
local st = redis.call('HGET', e, 'status')
if not st or st == 'sent' then return 0 end
if ARGV[1] ~= 'sent' and redis.call('HGET', e, 'lease') ~= ARGV[4] then return 0 end
redis.call('HSET', e, 'status', ARGV[1], 'error', ARGV[2], 'updated', ARGV[3])
if ARGV[1] == 'sent' then redis.call('HSET', e, 'sent', ARGV[3]) end
redis.call('HDEL', e, 'lease', 'lease_until')
return 1
`)

func (s *Store) finish(ctx context.Context, key string, st Status, errText string, now time.Time, token string) error {
	err := finishScript.Run(ctx, s.rdb, []string{s.entryKey(key)}, string(st), errText, now.UTC().Format(time.RFC3339Nano), token).Err()
	if err != nil {
		return fmt.Errorf("outbox: record %s as %s: %w", key, st, err)
	}
	return nil
}

func decodeEntry(m map[string]string) (Entry, error) {
	e := Entry{
		Key:     m["key"],
		Address: m["address"],
		Channel: Channel(m["channel"]),
		Status:  Status(m["status"]),
		Error:   m["error"],
	}
	bad := func(field string, err error) (Entry, error) {
		return Entry{}, fmt.Errorf("outbox: decode %s: %s: %w", e.Key, field, err)
	}
	var err error
	if e.Attempts, err = strconv.Atoi(m["attempts"]); err != nil {
		return bad("attempts", err)
	}
	if err := json.Unmarshal([]byte(m["notice"]), &e.Notice); err != nil {
		return bad("notice", err)
	}
	for field, t := range map[string]*time.Time{"created": &e.CreatedAt, "updated": &e.UpdatedAt, "sent": &e.SentAt} {
		if m[field] == "" {
			continue
		}
		if *t, err = time.Parse(time.RFC3339Nano, m[field]); err != nil {
			return bad(field, err)
		}
	}
	if e.Key == "" || e.Status == "" {
		return bad("key/status", errors.New("missing"))
	}
	return e, nil
}
