package partners

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/casebridge/casebridge/internal/signing"
)

// Sim is a partner agency's system as casebridge meets it: it takes signed
// hand-offs (refusing a bad signature, answering a repeated Idempotency-Key
// without taking it twice), and answers each with signed callbacks the way
// its partner's mode says:
//
//   - accept (the default): accepted after Delay, then nothing until told
//   - auto: accepted after Delay, completed after another Delay
//   - reject: rejected after Delay, with a reason
//   - silent: never answers, so the case escalates at its deadline
//   - manual: answers only when told, through POST /handoffs/{id}/reply
//
// Flaky makes the first attempt at each hand-off fail with 503, as real
// systems do now and then. Its own API, for people and tests:
//
//	POST /partners/{code}/handoffs     where casebridge posts hand-offs
//	GET  /handoffs                     the hand-offs taken, and what was said
//	POST /handoffs/{id}/reply          {"event","note","public"}: send a callback now
//	PUT  /partners/{code}/mode         {"mode": "accept|auto|reject|silent|manual", "delay_ms": 1000}
type Sim struct {
	// Secrets are each partner's signing secret.
	Secrets map[string]string
	Delay   time.Duration
	Flaky   bool
	HTTP    *http.Client

	mu       sync.Mutex
	modes    map[string]string
	handoffs map[string]*SimHandoff
	order    []string
	attempts map[string]int
	nonces   signing.MemoryNonces
	ctx      context.Context
	wg       sync.WaitGroup
}

// SimHandoff is a hand-off the simulator took, and the callbacks it sent.
type SimHandoff struct {
	Handoff  Handoff       `json:"handoff"`
	Received time.Time     `json:"received"`
	Sent     []SimCallback `json:"sent"`
}

// SimCallback is one callback the simulator sent and the answer it got.
type SimCallback struct {
	Callback Callback `json:"callback"`
	Status   int      `json:"status"`
	Error    string   `json:"error,omitempty"`
}

// NewSim returns a simulator of the partners whose secrets it is given. Its
// callbacks stop when ctx ends; Wait waits for those under way.
func NewSim(ctx context.Context, secrets map[string]string) *Sim {
	return &Sim{Secrets: secrets, Delay: time.Second, HTTP: &http.Client{Timeout: 10 * time.Second},
		modes: map[string]string{}, handoffs: map[string]*SimHandoff{}, attempts: map[string]int{}, ctx: ctx}
}

// Wait waits for the callbacks under way to finish.
func (s *Sim) Wait() { s.wg.Wait() }

// SetMode sets how a partner answers hand-offs from now on.
func (s *Sim) SetMode(partner, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[partner] = mode
}

// Handoffs lists the hand-offs taken, oldest first.
func (s *Sim) Handoffs() []SimHandoff {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SimHandoff, 0, len(s.order))
	for _, id := range s.order {
		h := *s.handoffs[id]
		h.Sent = append([]SimCallback(nil), h.Sent...)
		out = append(out, h)
	}
	return out
}

// Handler is the simulator's HTTP interface.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /partners/{code}/handoffs", s.take)
	mux.HandleFunc("GET /handoffs", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Handoffs()) })
	mux.HandleFunc("POST /handoffs/{id}/reply", func(w http.ResponseWriter, r *http.Request) {
		var cb Callback
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sent, ok := s.Reply(r.PathValue("id"), cb)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such hand-off"})
			return
		}
		writeJSON(w, http.StatusOK, sent)
	})
	mux.HandleFunc("PUT /partners/{code}/mode", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Mode string `json:"mode"`
			// DelayMS, if given, is how long the simulator takes to answer.
			DelayMS *int `json:"delay_ms,omitempty"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&m)
		switch m.Mode {
		case "accept", "auto", "reject", "silent", "manual":
			s.SetMode(r.PathValue("code"), m.Mode)
			if m.DelayMS != nil {
				s.mu.Lock()
				s.Delay = time.Duration(*m.DelayMS) * time.Millisecond
				s.mu.Unlock()
			}
			writeJSON(w, http.StatusOK, m)
		default:
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "mode must be accept, auto, reject, silent or manual"})
		}
	})
	return mux
}

func (s *Sim) take(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	secret, ok := s.Secrets[code]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such partner"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if _, err := signing.Verify(r.Context(), secret, r.Header, body, time.Now(), &s.nonces); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	var h Handoff
	if err := json.Unmarshal(body, &h); err != nil || h.ID == "" || h.CallbackURL == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a hand-off"})
		return
	}
	key := r.Header.Get(HeaderIdempotency)
	s.mu.Lock()
	s.attempts[key]++
	if s.Flaky && s.attempts[key] == 1 {
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again"})
		return
	}
	if _, seen := s.handoffs[h.ID]; seen {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"handoff": h.ID, "status": "already taken"})
		return
	}
	s.handoffs[h.ID] = &SimHandoff{Handoff: h, Received: time.Now()}
	s.order = append(s.order, h.ID)
	mode, delay := s.modes[code], s.Delay
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"handoff": h.ID, "status": "taken"})

	var plan []Callback
	switch mode {
	case "", "accept":
		plan = []Callback{{Event: "accepted", Note: "Logged as incident " + h.ID}}
	case "auto":
		plan = []Callback{{Event: "accepted", Note: "Logged as incident " + h.ID}, {Event: "completed", Note: "Dealt with by " + code}}
	case "reject":
		plan = []Callback{{Event: "rejected", Note: "Not ours: this is on private land"}}
	}
	if len(plan) == 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, cb := range plan {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			s.Reply(h.ID, cb)
		}
	}()
}

// Reply sends a signed callback for a hand-off now, and reports what
// casebridge answered.
func (s *Sim) Reply(id string, cb Callback) (SimCallback, bool) {
	s.mu.Lock()
	h, ok := s.handoffs[id]
	var target Handoff
	if ok {
		target = h.Handoff
	}
	s.mu.Unlock()
	if !ok {
		return SimCallback{}, false
	}
	cb.Handoff = id
	body, _ := json.Marshal(cb)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, target.CallbackURL, bytes.NewReader(body))
	sent := SimCallback{Callback: cb}
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		sent.Callback.Nonce = signing.Headers(req.Header, s.Secrets[target.Partner], body, time.Now())
		var resp *http.Response
		if resp, err = s.HTTP.Do(req); err == nil {
			sent.Status = resp.StatusCode
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
	}
	if err != nil {
		sent.Error = err.Error()
	}
	s.mu.Lock()
	h.Sent = append(h.Sent, sent)
	s.mu.Unlock()
	return sent, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
