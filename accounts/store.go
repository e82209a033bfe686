package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Archive keeps accounts where losing Redis cannot reach them
// (accountarchive, in Temporal).
type Archive interface {
	// Keep records an account at its version; keeping one twice is harmless.
	Keep(ctx context.Context, a Account) error
	// All returns every account kept, each at its latest version.
	All(ctx context.Context) ([]Account, error)
}

// Store keeps accounts in Redis for reading, and each change first in its
// Archive, so that Redis lost (a FLUSHALL, a lost AOF) loses no account: Sync
// puts back what the archive has.
//
//	P account:<login>   string: the account's JSON
//	P logins            set of every login
type Store struct {
	rdb     redis.UniversalClient
	ns      string
	archive Archive
}

// NewStore returns an account store over rdb recording in archive (nil only
// in tests that do not lose Redis).
func NewStore(rdb redis.UniversalClient, prefix string, archive Archive) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, ns: prefix + "acct:", archive: archive}
}

// Get reads an account.
func (s *Store) Get(ctx context.Context, login string) (*Account, error) {
	b, err := s.rdb.Get(ctx, s.ns+"account:"+login).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", login, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read account %s: %w", login, err)
	}
	var a Account
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("read account %s: %w", login, err)
	}
	return &a, nil
}

// List returns every account, by login.
func (s *Store) List(ctx context.Context) ([]Account, error) {
	logins, err := s.rdb.SMembers(ctx, s.ns+"logins").Result()
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	slices.Sort(logins)
	out := make([]Account, 0, len(logins))
	for _, l := range logins {
		a, err := s.Get(ctx, l)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, nil
}

// putScript writes an account if Redis holds the version it was changed
// from (0: none), or an older one than it (restoring from the archive).
var putScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = cjson.decode(cur)['version'] end
local want = tonumber(ARGV[2])
if ARGV[3] == 'restore' then
  if v >= want then return 0 end
elseif v ~= want - 1 then
  return -v - 1
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`)

// Put saves a change to an account made from version a.Version (0 for a new
// account): the archive first, so no account lives only in Redis, then Redis.
// A change to a version Redis no longer has is ErrConflict (ErrExists for a
// new account whose login is taken).
func (s *Store) Put(ctx context.Context, a Account, by string, now time.Time) (Account, error) {
	from := a.Version
	if cur, err := s.Get(ctx, a.Login); err == nil && cur.Version != from {
		if from == 0 {
			return Account{}, ErrExists
		}
		return Account{}, ErrConflict
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, err
	} else if err != nil && from != 0 {
		return Account{}, fmt.Errorf("%s: %w", a.Login, ErrNotFound)
	}
	a.Version, a.Updated, a.UpdatedBy = from+1, now.UTC(), by
	slices.Sort(a.Roles)
	if s.archive != nil {
		if err := s.archive.Keep(ctx, a); err != nil {
			return Account{}, fmt.Errorf("keep account %s: %w", a.Login, err)
		}
	}
	b, _ := json.Marshal(a)
	n, err := putScript.Run(ctx, s.rdb, []string{s.ns + "account:" + a.Login, s.ns + "logins"}, b, a.Version, "change", a.Login).Int64()
	if err != nil {
		return Account{}, fmt.Errorf("save account %s: %w", a.Login, err)
	}
	if n != 1 {
		return Account{}, ErrConflict
	}
	return a, nil
}

// Sync puts into Redis every account the archive keeps at a newer version
// than Redis has, and returns how many. Workers run it at start and now and
// then, as `casebridge reindex` does; accounts are only ever changed through
// Put, which keeps them in the archive first, so there is nothing to record
// the other way.
func (s *Store) Sync(ctx context.Context) (int, error) {
	if s.archive == nil {
		return 0, nil
	}
	kept, err := s.archive.All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range kept {
		b, _ := json.Marshal(a)
		put, err := putScript.Run(ctx, s.rdb, []string{s.ns + "account:" + a.Login, s.ns + "logins"}, b, a.Version, "restore", a.Login).Int64()
		if err != nil {
			return n, fmt.Errorf("restore account %s: %w", a.Login, err)
		}
		n += int(put)
	}
	return n, nil
}
