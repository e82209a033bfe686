package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisNonces keeps accepted nonces in Redis, each for twice the window (a
// call older than the window is refused for its timestamp), so that every
// api process refuses a replay. Prefix says whose nonces they are
// ("cb:partners:nonce:met-police:").
type RedisNonces struct {
	RDB    redis.UniversalClient
	Prefix string
}

func (n RedisNonces) key(nonce string) string {
	h := sha256.Sum256([]byte(nonce))
	return n.Prefix + hex.EncodeToString(h[:16])
}

// Claim records a nonce, reporting false if it was recorded before.
func (n RedisNonces) Claim(ctx context.Context, nonce string) (bool, error) {
	return n.RDB.SetNX(ctx, n.key(nonce), "1", 2*Window).Result()
}

// Release forgets a nonce whose call could not be acted on, so that the
// sender's retry of the same call is not refused as a replay.
func (n RedisNonces) Release(ctx context.Context, nonce string) error {
	return n.RDB.Del(ctx, n.key(nonce)).Err()
}

// MemoryNonces keeps accepted nonces in memory, for a receiver that runs as
// one process (the simulators). The zero value is ready to use.
type MemoryNonces struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it may be forgotten
	Now  func() time.Time     // time.Now when nil
}

// Claim records a nonce, reporting false if it was recorded before.
func (n *MemoryNonces) Claim(_ context.Context, nonce string) (bool, error) {
	now := time.Now()
	if n.Now != nil {
		now = n.Now()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]time.Time{}
	}
	for k, until := range n.seen {
		if now.After(until) {
			delete(n.seen, k)
		}
	}
	if _, ok := n.seen[nonce]; ok {
		return false, nil
	}
	n.seen[nonce] = now.Add(2 * Window)
	return true, nil
}
