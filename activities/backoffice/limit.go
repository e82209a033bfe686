package backoffice

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter keeps the calls to each back office under its rate across every
// worker, in Redis (GCRA, github.com/go-redis/redis_rate).
type Limiter struct {
	limiter *redis_rate.Limiter
	prefix  string
}

// NewLimiter returns a limiter keeping its state under prefix.
func NewLimiter(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{limiter: redis_rate.NewLimiter(rdb), prefix: prefix + "bo:rate:"}
}

// Wait blocks until a call to system may be made at perSecond calls a second
// (burst: one second's worth), or ctx ends. If Redis is away it lets the
// call through: the system's own 429s and the retries still hold it back.
func (l *Limiter) Wait(ctx context.Context, system string, perSecond int) error {
	limit := redis_rate.PerSecond(perSecond)
	for {
		res, err := l.limiter.Allow(ctx, l.prefix+system, limit)
		if err != nil || res.Allowed > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(res.RetryAfter):
		}
	}
}
