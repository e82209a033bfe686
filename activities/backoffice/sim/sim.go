// Package sim holds simulators of council back-office systems that behave
// like the real ones: slow replies, 500s, 429s with Retry-After, a create that
// succeeds after the caller has given up, jobs that move through the system's
// own status codes and complete minutes later. `casebridge sim highways` runs
// one on its own, `casebridge dev` runs them in-process, and tests count
// their records. Faults are switched per run by flags or at
// PUT /admin/faults.
package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/casebridge/casebridge/internal/signing"
)

// Faults are how a simulator misbehaves. Rates are between 0 and 1.
type Faults struct {
	// Latency delays every reply.
	Latency time.Duration `json:"latency"`
	// FailRate answers 500 (having done nothing).
	FailRate float64 `json:"fail_rate"`
	// ThrottleRate answers 429 with Retry-After: 1.
	ThrottleRate float64 `json:"throttle_rate"`
	// SlowCreateRate makes a create take SlowCreate before it is recorded
	// and answered, so the caller gives up on a create that then succeeds.
	SlowCreateRate float64       `json:"slow_create_rate"`
	SlowCreate     time.Duration `json:"slow_create"`
	// SlowNoteRate makes a note take SlowNote before it is stored and
	// answered: the caller gives up on a note that is then stored.
	SlowNoteRate float64       `json:"slow_note_rate"`
	SlowNote     time.Duration `json:"slow_note"`
	// Down refuses every call with 503, as a system under maintenance.
	Down bool `json:"down"`
	// IgnoreIdempotencyKey makes every create a new job and every note a
	// new note, as many real systems do: only looking up by reference first
	// prevents duplicate jobs.
	IgnoreIdempotencyKey bool `json:"ignore_idempotency_key"`
	// RefuseStatus makes the system take no status changes, as many do:
	// REST answers 405, SOAP a fault NOT_SUPPORTED.
	RefuseStatus bool `json:"refuse_status"`
}

// Step is one status a job moves to on its own, After the one before.
type Step struct {
	Code   string
	After  time.Duration
	Note   string
	Public bool
}

// Job is a record the simulator keeps.
type Job struct {
	ID      string         `json:"id"`
	Ref     string         `json:"ref"`
	Status  string         `json:"status"`
	Fields  map[string]any `json:"fields,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	Created time.Time      `json:"created"`
	step    int
	stepAt  time.Time
	// stopped: withdrawn or set to a code by the caller, the job moves no
	// more on its own.
	stopped bool
}

// Change is one entry of the simulator's change feed.
type Change struct {
	Seq    int       `json:"-"`
	ID     string    `json:"id"`
	JobID  string    `json:"job_id"`
	Ref    string    `json:"ref"`
	Status string    `json:"status,omitempty"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
}

// system is what both simulators share: the records, the feed, faults,
// progression and the admin endpoints.
type system struct {
	name   string
	prefix string // of job ids
	steps  []Step
	codes  []string // every code a job can have, which a caller may set
	now    func() time.Time

	mu      sync.Mutex
	rnd     *mrand.Rand
	faults  Faults
	jobs    []*Job
	keys    map[string]*pending // creates, by idempotency key
	noted   map[string]*pending // notes, by idempotency key
	changes []Change
	calls   map[string]int
	// webhook, when set, is told of every change (signed).
	webhookURL, webhookSecret string
	pushed                    int
	client                    *http.Client
	// encodePush writes a webhook call's body (JSON unless a system says).
	encodePush func([]Change) (body []byte, contentType string, err error)
}

// pending is a create under way for an idempotency key.
type pending struct {
	job  *Job // nil until recorded
	done chan struct{}
}

func newSystem(name, prefix string, steps []Step, cancelCode string, seed uint64) *system {
	codes := []string{cancelCode}
	for _, st := range steps {
		codes = append(codes, st.Code)
	}
	return &system{encodePush: jsonPush, name: name, prefix: prefix, steps: steps, codes: codes, now: time.Now,
		rnd: mrand.New(mrand.NewPCG(seed, seed^0x5eed)), keys: map[string]*pending{}, noted: map[string]*pending{}, calls: map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second}}
}

// SetFaults switches how the system misbehaves from now on.
func (s *system) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the faults in force.
func (s *system) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Jobs returns a copy of every record, duplicates and all.
func (s *system) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = *j
		out[i].Notes = slices.Clone(j.Notes)
	}
	return out
}

// Changes returns every change the system has recorded, in order.
func (s *system) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.changes)
}

// Calls counts the calls answered, by operation.
func (s *system) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Webhook makes the system post every change to url, signed with secret as
// casebridge's back-office webhook expects.
func (s *system) Webhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret = url, secret
}

// fault decides, under the lock, how to misbehave for one call: it returns
// the status to answer with (0: behave) and whether the create is slow.
func (s *system) fault(op string) (status int, slow bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	f := s.faults
	switch {
	case f.Down:
		return http.StatusServiceUnavailable, false, f.Latency
	case f.ThrottleRate > 0 && s.rnd.Float64() < f.ThrottleRate:
		return http.StatusTooManyRequests, false, f.Latency
	case f.FailRate > 0 && s.rnd.Float64() < f.FailRate:
		return http.StatusInternalServerError, false, f.Latency
	}
	switch op {
	case "create":
		slow = f.SlowCreateRate > 0 && s.rnd.Float64() < f.SlowCreateRate
	case "note":
		slow = f.SlowNoteRate > 0 && s.rnd.Float64() < f.SlowNoteRate
	}
	return 0, slow, f.Latency
}

// claim starts the work of an idempotency key, under the lock: first is
// false when the key has been seen (p.done closes once that work is done). A
// key not honoured (none, or the fault says so) is always first.
func (s *system) claim(keys map[string]*pending, key string) (p *pending, first bool) {
	if key == "" || s.faults.IgnoreIdempotencyKey {
		return &pending{done: make(chan struct{})}, true
	}
	if p, ok := keys[key]; ok {
		return p, false
	}
	p = &pending{done: make(chan struct{})}
	keys[key] = p
	return p, true
}

// create records a job for ref, honouring key unless told not to. A second
// create with a key still under way waits for the first.
func (s *system) create(ref string, fields map[string]any, key string, slow time.Duration) (*Job, bool) {
	s.mu.Lock()
	p, first := s.claim(s.keys, key)
	s.mu.Unlock()
	if !first {
		<-p.done
		return p.job, false
	}
	if slow > 0 {
		time.Sleep(slow) // the caller gives up; the job is recorded anyway
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	j := &Job{ID: fmt.Sprintf("%s-%05d", s.prefix, len(s.jobs)+1), Ref: ref, Fields: fields, Created: now, stepAt: now}
	j.Status = s.steps[0].Code
	s.jobs = append(s.jobs, j)
	s.record(j, s.steps[0].Code, s.steps[0].Note)
	p.job = j
	close(p.done)
	return j, true
}

// record adds a change to the feed, under the lock.
func (s *system) record(j *Job, code, note string) {
	seq := len(s.changes) + 1
	s.changes = append(s.changes, Change{Seq: seq, ID: s.prefix + "-c" + strconv.Itoa(seq), JobID: j.ID, Ref: j.Ref, Status: code, Note: note, At: s.now()})
}

// find returns the jobs recorded for ref.
func (s *system) find(ref string) []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Job
	for _, j := range s.jobs {
		if j.Ref == ref {
			out = append(out, *j)
		}
	}
	return out
}

func (s *system) job(id string) *Job {
	for _, j := range s.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

// note adds a note to a job, at most once per key unless told not to (a
// second note with a key under way waits for the first); slow stores it only
// after that long, when the caller may have given up. It returns false if
// there is no such job.
func (s *system) note(id, text, key string, slow time.Duration) bool {
	s.mu.Lock()
	if s.job(id) == nil {
		s.mu.Unlock()
		return false
	}
	p, first := s.claim(s.noted, key)
	s.mu.Unlock()
	if !first {
		<-p.done
		return true
	}
	defer close(p.done)
	if slow > 0 {
		time.Sleep(slow) // the caller gives up; the note is stored anyway
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.job(id)
	j.Notes = append(j.Notes, text)
	return true
}

// cancel withdraws a job; false if there is no such job.
func (s *system) cancel(id, code, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.job(id)
	if j == nil {
		return false
	}
	if !j.stopped || j.Status != code {
		j.stopped = true
		j.Status = code
		s.record(j, code, "Withdrawn: "+reason)
	}
	return true
}

// Status outcomes of setStatus.
const (
	statusSet = iota
	statusNoJob
	statusUnknownCode
	statusRefused
)

// setStatus moves a job to one of the system's codes, as the caller asks,
// and stops its own progress; setting the code it has changes nothing.
func (s *system) setStatus(id, code, note string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.RefuseStatus {
		return statusRefused
	}
	j := s.job(id)
	switch {
	case j == nil:
		return statusNoJob
	case !slices.Contains(s.codes, code):
		return statusUnknownCode
	}
	if j.Status != code {
		j.Status = code
		if note == "" {
			note = "Status set to " + code
		}
		s.record(j, code, note)
	}
	j.stopped = true
	return statusSet
}

// feed returns up to limit changes after cursor, and the cursor to go on from.
func (s *system) feed(cursor string, limit int) ([]Change, string, bool, error) {
	after := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return nil, "", false, fmt.Errorf("bad cursor %q", cursor)
		}
		after = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	after = min(after, len(s.changes))
	end := min(after+limit, len(s.changes))
	return slices.Clone(s.changes[after:end]), strconv.Itoa(end), end < len(s.changes), nil
}

// Advance moves every job whose next step is due by now, recording each move
// in the feed, and posts the new changes to the webhook if one is set.
func (s *system) Advance(now time.Time) {
	s.mu.Lock()
	for _, j := range s.jobs {
		for !j.stopped && j.step+1 < len(s.steps) && !now.Before(j.stepAt.Add(s.steps[j.step+1].After)) {
			j.stepAt = j.stepAt.Add(s.steps[j.step+1].After)
			j.step++
			j.Status = s.steps[j.step].Code
			s.record(j, j.Status, s.steps[j.step].Note)
		}
	}
	url, secret := s.webhookURL, s.webhookSecret
	news := slices.Clone(s.changes[s.pushed:])
	s.mu.Unlock()
	if url == "" {
		return
	}
	// A backlog (after an outage, say) goes in pages, each taken well within
	// a call's timeout; a page refused is sent again on the next tick.
	for len(news) > 0 {
		page := news[:min(len(news), pushPage)]
		if err := s.push(url, secret, page); err != nil {
			return
		}
		s.mu.Lock()
		s.pushed = max(s.pushed, page[len(page)-1].Seq)
		s.mu.Unlock()
		news = news[len(page):]
	}
}

// pushPage is the most changes one webhook call carries.
const pushPage = 50

// push posts changes to casebridge's webhook, signed as internal/signing
// says.
func (s *system) push(url, secret string, changes []Change) error {
	body, ctype, err := s.encodePush(changes)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	signing.Headers(req.Header, secret, body, time.Now())
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

func jsonPush(changes []Change) ([]byte, string, error) {
	b, err := json.Marshal(map[string]any{"changes": changes})
	return b, "application/json", err
}

// admin serves the endpoints tests and people use to steer and count.
func (s *system) admin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"jobs": s.Jobs()})
	})
	mux.HandleFunc("GET /admin/changes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"changes": s.Changes()})
	})
	mux.HandleFunc("GET /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Calls())
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Run advances jobs (and pushes changes to the webhook) every interval until
// ctx ends.
func (s *system) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Advance(now)
		}
	}
}
