package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
)

// Subscriber opens pub/sub subscriptions (redis.Client).
type Subscriber interface {
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// EventSource is where the live stream's events come from: the pub/sub
// channel the read model announces every applied change on
// (readmodel.Store.EventsChannel).
type EventSource struct {
	Redis   Subscriber // nil leaves out the live streams
	Channel string
	// Heartbeat is how often an idle stream sends a comment, so proxies and
	// browsers keep it open and a client that left is noticed; 0 means 15 s.
	Heartbeat time.Duration
}

const defaultHeartbeat = 15 * time.Second

// eventRoutes serves GET /api/v1/events, the live stream for staff tools
// holding a bearer token.
func (s *Server) eventRoutes(e *gin.Engine) {
	if s.deps.Events.Redis == nil {
		return
	}
	e.GET("/api/v1/events", s.authenticate, require(config.RoleAgent, config.RoleSupervisor), newLiveStream(s).serve)
}

// liveStream serves the read model's events as Server-Sent Events, one Redis
// subscription per client, owned by the request and closed when it ends.
type liveStream struct {
	s         *Server
	src       EventSource
	heartbeat time.Duration

	mu sync.Mutex
	// stopping closes, per http.Server, when that server shuts down:
	// Shutdown waits for requests to end, and a stream never ends by itself.
	stopping map[*http.Server]chan struct{}
}

func newLiveStream(s *Server) *liveStream {
	l := &liveStream{s: s, src: s.deps.Events, heartbeat: s.deps.Events.Heartbeat, stopping: map[*http.Server]chan struct{}{}}
	if l.heartbeat <= 0 {
		l.heartbeat = defaultHeartbeat
	}
	return l
}

// shutdown is closed when the http.Server serving r begins to shut down
// (nil, never closed, when r says no server).
func (l *liveStream) shutdown(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.stopping[srv]
	if !ok {
		ch = make(chan struct{})
		l.stopping[srv] = ch
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return ch
}

// serve streams events to one client until it goes away or the server shuts
// down. Query ref= and department= keep only the events of one case or one
// department. Each event is
//
//	event: case
//	data: {"ref":"CB-7KQ2M9","version":4,"status":"fixed","department":"highways","at":"..."}
//
// with nothing personal in it; idle streams get a ": heartbeat" comment.
func (l *liveStream) serve(c *gin.Context) {
	ctx := c.Request.Context()
	ref, dept := c.Query("ref"), c.Query("department")
	// A scoped caller hears only of the cases it sees: its departments', its
	// teams' and those assigned to it.
	me := who(c)
	ps := l.src.Redis.Subscribe(ctx, l.src.Channel)
	defer ps.Close()
	// Wait for Redis to confirm, so every change after the stream's first
	// bytes reaches this client.
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		l.s.log.Error("live events: subscribe", "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the live event stream is not available; try again shortly", "")
		return
	}
	rc := http.NewResponseController(c.Writer)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	c.Status(http.StatusOK)

	// Each write gets its own deadline: the server's WriteTimeout, counted
	// from the request, would otherwise end the stream; a client that stops
	// reading still ends it.
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c.Writer, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 5000\n: connected\n\n") {
		return
	}
	msgs := ps.Channel()
	tick := time.NewTicker(l.heartbeat)
	defer tick.Stop()
	stopping := l.shutdown(c.Request)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return
		case <-tick.C:
			if !write(": heartbeat\n\n") {
				return
			}
		case m, ok := <-msgs:
			if !ok {
				return
			}
			ev, err := decodeEvent(m.Payload)
			if err != nil {
				l.s.log.Warn("live events: unreadable event", "error", err)
				continue
			}
			if (ref != "" && ev.Ref != ref) || (dept != "" && ev.Department != dept) ||
				!me.sees(&cases.Case{Department: ev.Department, Team: ev.Team, Assignee: ev.Assignee}) {
				continue
			}
			// Encoded again from the known fields, so whatever else a
			// publisher put in an event never reaches a browser.
			b, _ := json.Marshal(ev)
			if !write("event: case\ndata: %s\n\n", b) {
				return
			}
		}
	}
}

func decodeEvent(payload string) (readmodel.Event, error) {
	var ev readmodel.Event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return ev, err
	}
	if ev.Ref == "" {
		return ev, errors.New("event without a ref")
	}
	return ev, nil
}
