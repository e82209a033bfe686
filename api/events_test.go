package api

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// stream is a Server-Sent Events stream read frame by frame. Its reader
// goroutine ends when the body is closed.
type stream struct {
	resp   *http.Response
	frames chan string
}

func openStream(t *testing.T, url, token string) *stream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, frames: make(chan string, 100)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.frames)
		r := bufio.NewReader(resp.Body)
		var frame []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line = strings.TrimSuffix(line, "\n"); line != "" {
				frame = append(frame, line)
				continue
			}
			s.frames <- strings.Join(frame, "\n")
			frame = nil
		}
	}()
	return s
}

// next is the next frame, "" if none comes within a second, or "EOF" when
// the stream has ended.
func (s *stream) next() string {
	select {
	case f, ok := <-s.frames:
		if !ok {
			return "EOF"
		}
		return f
	case <-time.After(time.Second):
		return ""
	}
}

// nextEvent skips heartbeats to the next event, or returns "" if none comes
// within a second.
func (s *stream) nextEvent() string {
	deadline := time.After(time.Second)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return "EOF"
			}
			if f != ": heartbeat" {
				return f
			}
		case <-deadline:
			return ""
		}
	}
}

func (h *consoleHarness) subscribers(t *testing.T) int64 {
	t.Helper()
	n, err := h.redis.Client().PubSubNumSub(context.Background(), h.store.EventsChannel()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[h.store.EventsChannel()]
}

func TestEventsStream(t *testing.T) {
	h := newConsoleHarness(t)
	for token, status := range map[string]int{"": 401, "guess": 401, rulesToken: 403} {
		s := openStream(t, h.srv.URL+"/api/v1/events", token)
		if s.resp.StatusCode != status || s.resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("token %q: %d %s, want a %d problem", token, s.resp.StatusCode, s.resp.Header.Get("Content-Type"), status)
		}
	}

	s := openStream(t, h.srv.URL+"/api/v1/events", "agent-token")
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" || s.resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %v", s.resp.StatusCode, s.resp.Header)
	}
	if f := s.next(); f != "retry: 5000\n: connected" {
		t.Fatalf("first frame %q", f)
	}
	if n := h.subscribers(t); n != 1 {
		t.Errorf("%d subscribers to the events channel, want 1", n)
	}
	ref := h.report("1", 0)
	f := s.nextEvent()
	data, ok := strings.CutPrefix(f, "event: case\ndata: ")
	if !ok || strings.Contains(data, "\n") {
		t.Fatalf("frame %q, want one case event", f)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(ev))
	if strings.Join(keys, ",") != "at,department,ref,status,version" || ev["ref"] != ref || ev["status"] != "open" || ev["department"] != "highways" {
		t.Errorf("event %s", data)
	}
	for _, private := range []string{"jo@example.org", "Bloggs", "bus stop"} {
		if strings.Contains(data, private) {
			t.Errorf("the event carries %q", private)
		}
	}
	if f := s.next(); f != ": heartbeat" {
		t.Errorf("an idle stream sent %q, want a heartbeat", f)
	}

	// ?ref= keeps one case's events.
	one := openStream(t, h.srv.URL+"/api/v1/events?ref="+ref, "agent-token")
	one.next()
	other := h.report("2", 0)
	h.change(other, "assignment", `{"assignee":"x"}`)
	h.change(ref, "assignment", `{"assignee":"y"}`)
	if f := one.nextEvent(); !strings.Contains(f, `"ref":"`+ref+`"`) || !strings.Contains(f, `"version":3`) {
		t.Errorf("the stream of %s sent %q", ref, f)
	}

	// Each client has its own subscription, ended when it goes.
	if n := h.subscribers(t); n != 2 {
		t.Errorf("%d subscribers with two streams open, want 2", n)
	}
	s.resp.Body.Close()
	one.resp.Body.Close()
	deadline := time.Now().Add(3 * time.Second)
	for h.subscribers(t) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions left after the clients went", h.subscribers(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A stream outlives the server's read and write timeouts, and ends when the
// server shuts down rather than holding the shutdown up.
func TestEventsTimeoutsAndShutdown(t *testing.T) {
	h := newConsoleHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.server(testSecret), ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}
	go srv.Serve(ln)
	defer srv.Close()

	s := openStream(t, "http://"+ln.Addr().String()+"/api/v1/events", "agent-token")
	s.next()
	time.Sleep(time.Second)
	ref := h.report("1", 0)
	if f := s.nextEvent(); !strings.Contains(f, ref) {
		t.Fatalf("after a second, past the server's timeouts, the stream sent %q", f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s with a stream open", d)
	}
	for end := time.Now().Add(2 * time.Second); s.next() != "EOF"; {
		if time.Now().After(end) {
			t.Fatal("the stream goes on after shutdown")
		}
	}
}

// An event that cannot be read is skipped; the stream goes on.
func TestEventsSkipsUnreadableEvents(t *testing.T) {
	h := newConsoleHarness(t)
	s := openStream(t, h.srv.URL+"/api/v1/events", supervisorToken)
	s.next()
	ctx := context.Background()
	for _, bad := range []string{"not json", `{"version":1}`} {
		if err := h.redis.Client().Publish(ctx, h.store.EventsChannel(), bad).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ref := h.report("1", 0)
	if f := s.nextEvent(); !strings.Contains(f, ref) {
		t.Errorf("after two unreadable events the stream sent %q", f)
	}
}

func TestOpenAPIDescribesEvents(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Paths["/events"]["get"] == nil || doc.Components.Schemas["CaseEvent"] == nil {
		t.Error("openapi.json does not describe GET /events and its CaseEvent")
	}
}
