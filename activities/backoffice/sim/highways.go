package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Highways is a highways asset system with a REST/JSON API, the kind the
// REST connector speaks (see backoffice.REST). Its quirk: it places a job by
// easting and northing on the British National Grid and refuses a job
// without them. Its jobs go RAISED → INSP → SCH → DONE; a withdrawn job is
// CANC. A caller may set any of those codes (POST /jobs/{id}/status).
type Highways struct {
	*system
	token string
}

// HighwaysSteps are the highways system's status codes, Step apart.
func HighwaysSteps(step time.Duration) []Step {
	return []Step{
		{Code: "RAISED", Note: "Job raised"},
		{Code: "INSP", After: step, Note: "Inspected: the defect meets intervention criteria", Public: true},
		{Code: "SCH", After: step, Note: "Repair scheduled with the term contractor", Public: true},
		{Code: "DONE", After: step, Note: "Repair completed", Public: true},
	}
}

// NewHighways returns a highways system whose jobs move one status every
// step. token, if set, is the bearer token every call must carry; seed makes
// its faults repeatable.
func NewHighways(token string, step time.Duration, seed uint64) *Highways {
	return &Highways{system: newSystem("highways", "HW", HighwaysSteps(step), "CANC", seed), token: token}
}

// Handler serves the system's API and its admin endpoints.
func (h *Highways) Handler() http.Handler {
	mux := http.NewServeMux()
	h.admin(mux)
	mux.HandleFunc("POST /jobs", h.guard("create", h.createJob))
	mux.HandleFunc("GET /jobs", h.guard("find", h.findJobs))
	mux.HandleFunc("GET /changes", h.guard("changes", h.readChanges))
	mux.HandleFunc("POST /jobs/{id}/notes", h.guard("note", h.addNote))
	mux.HandleFunc("POST /jobs/{id}/cancel", h.guard("cancel", h.cancelJob))
	mux.HandleFunc("POST /jobs/{id}/status", h.guard("status", h.setJobStatus))
	return mux
}

// guard checks the token and plays the faults before a handler runs.
func (h *Highways) guard(op string, next func(w http.ResponseWriter, r *http.Request, slow bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad or missing bearer token"})
			return
		}
		status, slow, latency := h.fault(op)
		time.Sleep(latency)
		switch status {
		case 0:
			next(w, r, slow)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, status, map[string]string{"error": "rate limit exceeded"})
		default:
			writeJSON(w, status, map[string]string{"error": http.StatusText(status)})
		}
	}
}

func (h *Highways) createJob(w http.ResponseWriter, r *http.Request, slow bool) {
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	ref, _ := body["ref"].(string)
	if strings.TrimSpace(ref) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ref is required"})
		return
	}
	for _, f := range []struct {
		name     string
		min, max float64
	}{{"easting", 0, 700000}, {"northing", 0, 1300000}} {
		v, ok := body[f.name].(float64)
		if !ok || v < f.min || v > f.max {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": f.name + " must be a number on the British National Grid (EPSG:27700)"})
			return
		}
	}
	if _, ok := body["lat"]; ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown field lat: this system takes easting and northing"})
		return
	}
	delete(body, "ref")
	var delay time.Duration
	if slow {
		delay = h.Faults().SlowCreate
	}
	j, created := h.create(ref, body, r.Header.Get("Idempotency-Key"), delay)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]string{"id": j.ID, "ref": j.Ref, "status": j.Status})
}

func (h *Highways) findJobs(w http.ResponseWriter, r *http.Request, _ bool) {
	jobs := []map[string]string{}
	for _, j := range h.find(r.URL.Query().Get("ref")) {
		jobs = append(jobs, map[string]string{"id": j.ID, "ref": j.Ref, "status": j.Status})
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func (h *Highways) readChanges(w http.ResponseWriter, r *http.Request, _ bool) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 500 {
			limit = n
		}
	}
	changes, next, more, err := h.feed(r.URL.Query().Get("cursor"), limit)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if changes == nil {
		changes = []Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": changes, "next_cursor": next, "has_more": more})
}

func (h *Highways) addNote(w http.ResponseWriter, r *http.Request, slow bool) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Text == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "text is required"})
		return
	}
	var delay time.Duration
	if slow {
		delay = h.Faults().SlowNote
	}
	if !h.note(r.PathValue("id"), body.Text, r.Header.Get("Idempotency-Key"), delay) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"ok": "noted"})
}

func (h *Highways) cancelJob(w http.ResponseWriter, r *http.Request, _ bool) {
	var body struct {
		Reason string `json:"reason"`
	}
	json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body)
	if !h.cancel(r.PathValue("id"), "CANC", body.Reason) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"ok": "withdrawn"})
}

func (h *Highways) setJobStatus(w http.ResponseWriter, r *http.Request, _ bool) {
	var body struct {
		Code string `json:"code"`
		Note string `json:"note"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Code == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "code is required"})
		return
	}
	switch h.setStatus(r.PathValue("id"), body.Code, body.Note) {
	case statusRefused:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "this system takes no status changes"})
	case statusNoJob:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
	case statusUnknownCode:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown status code " + body.Code})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"ok": "status set"})
	}
}
