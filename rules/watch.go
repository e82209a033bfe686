package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watcher keeps the active version of one rule set compiled in memory, for
// routing without a Redis round trip. Run follows activations announced on the
// store's channel, so a publish reaches every process within moments, and
// checks every so often in case an announcement was missed.
type Watcher struct {
	store *Store
	name  string
	log   *slog.Logger

	current   atomic.Pointer[Compiled]
	mu        sync.Mutex // one reload at a time
	ready     chan struct{}
	readyOnce sync.Once
}

// NewWatcher returns a watcher of the named rule set; log may be nil.
func NewWatcher(s *Store, name string, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{store: s, name: name, log: log, ready: make(chan struct{})}
}

// Current returns the active version compiled, or nil before the first
// successful load (no version published yet, or Redis unreachable).
func (w *Watcher) Current() *Compiled { return w.current.Load() }

// Ready is closed once Run listens for announcements and has tried a first load.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Once loads the active version if it is not the one held. A version that
// fails to load or compile leaves the one held in place.
func (w *Watcher) Once(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.store.ActiveNumber(ctx, w.name)
	if err != nil {
		return err
	}
	if cur := w.current.Load(); cur != nil && cur.Version() == n {
		return nil
	}
	c, err := w.store.Compiled(ctx, w.name, n)
	if err != nil {
		return err
	}
	w.current.Store(c)
	w.log.Info("rule set loaded", "rule_set", w.name, "version", n)
	return nil
}

// Run follows activations until ctx ends, checking also every interval. It
// returns an error only if it cannot subscribe at the start.
func (w *Watcher) Run(ctx context.Context, every time.Duration) error {
	sub := w.store.rdb.Subscribe(ctx, w.store.Channel())
	defer sub.Close()
	// Wait for the subscription, so nothing published after Ready is missed.
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("watch rule set %s: subscribe: %w", w.name, err)
	}
	w.reload(ctx)
	w.readyOnce.Do(func() { close(w.ready) })

	msgs := sub.ChannelWithSubscriptions()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.reload(ctx)
		case m, ok := <-msgs:
			if !ok {
				return nil // closed with the subscription
			}
			switch m := m.(type) {
			case *redis.Subscription:
				// Resubscribed after a lost connection: announcements may
				// have been missed meanwhile.
				w.reload(ctx)
			case *redis.Message:
				var a announcement
				if json.Unmarshal([]byte(m.Payload), &a) == nil && a.Name == w.name {
					w.reload(ctx)
				}
			}
		}
	}
}

func (w *Watcher) reload(ctx context.Context) {
	if err := w.Once(ctx); err != nil && ctx.Err() == nil {
		level := slog.LevelWarn
		if errors.Is(err, ErrNotFound) {
			level = slog.LevelInfo
		}
		w.log.Log(ctx, level, "rule set not reloaded", "rule_set", w.name, "err", err)
	}
}
