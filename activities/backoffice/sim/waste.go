package sim

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
)

// Waste is a waste contractor's job system with a SOAP 1.1 API and
// WS-Security UsernameToken (password digest), the kind backoffice.SOAP
// speaks. Its quirk: it writes times as London local time without an
// offset. Its jobs go LOGGED → ALLOCATED → CREW_DISPATCHED → CLEARED; a
// withdrawn job is WITHDRAWN; a caller may set any of those codes
// (SetJobStatus). Faults are SOAP faults: soap:Server for its
// own failures, soap:Client with ErrorCode BUSY when throttling.
type Waste struct {
	*system
	user, password string
	london         *time.Location

	mu     sync.Mutex
	nonces map[string]bool
}

// WasteSteps are the waste system's status codes, step apart.
func WasteSteps(step time.Duration) []Step {
	return []Step{
		{Code: "LOGGED", Note: "Job logged"},
		{Code: "ALLOCATED", After: step, Note: "Allocated to the street cleansing crew", Public: true},
		{Code: "CREW_DISPATCHED", After: step, Note: "Crew on the way", Public: true},
		{Code: "CLEARED", After: step, Note: "Cleared and the area swept", Public: true},
	}
}

// NewWaste returns a waste system whose jobs move one status every step;
// user and password, if set, are the UsernameToken every call must carry.
func NewWaste(user, password string, step time.Duration, seed uint64) *Waste {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		london = time.UTC
	}
	w := &Waste{system: newSystem("waste", "WST", WasteSteps(step), "WITHDRAWN", seed), user: user, password: password, london: london, nonces: map[string]bool{}}
	w.encodePush = w.pushBody
	return w
}

// Handler serves the SOAP endpoint at / and the admin endpoints.
func (w *Waste) Handler() http.Handler {
	mux := http.NewServeMux()
	w.admin(mux)
	mux.HandleFunc("POST /", w.serve)
	return mux
}

// request is what the simulator reads of an envelope.
type request struct {
	Header struct {
		Security struct {
			Token struct {
				Username string `xml:"Username"`
				Password string `xml:"Password"`
				Nonce    string `xml:"Nonce"`
				Created  string `xml:"Created"`
			} `xml:"UsernameToken"`
		} `xml:"Security"`
	} `xml:"Header"`
	Body struct {
		Create *backoffice.SOAPCreateJob `xml:"CreateJob"`
		Find   *struct {
			Reference string `xml:"Reference"`
		} `xml:"FindJobs"`
		Changes *struct {
			Cursor string `xml:"Cursor"`
		} `xml:"GetChanges"`
		Note *struct {
			JobID          string `xml:"JobId"`
			Text           string `xml:"Text"`
			IdempotencyKey string `xml:"IdempotencyKey"`
		} `xml:"AddNote"`
		Cancel *struct {
			JobID  string `xml:"JobId"`
			Reason string `xml:"Reason"`
		} `xml:"CancelJob"`
		Status *struct {
			JobID string `xml:"JobId"`
			Code  string `xml:"Code"`
			Note  string `xml:"Note"`
		} `xml:"SetJobStatus"`
	} `xml:"Body"`
}

func (w *Waste) serve(rw http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 1<<20))
	if err != nil {
		w.fault(rw, "soap:Client", "body too large", "")
		return
	}
	var req request
	if err := xml.Unmarshal(b, &req); err != nil {
		w.fault(rw, "soap:Client", "malformed envelope: "+err.Error(), "")
		return
	}
	if reason := w.authenticate(req); reason != "" {
		w.fault(rw, "soap:Client", reason, "AUTH")
		return
	}
	op := "unknown"
	switch {
	case req.Body.Create != nil:
		op = "create"
	case req.Body.Find != nil:
		op = "find"
	case req.Body.Changes != nil:
		op = "changes"
	case req.Body.Note != nil:
		op = "note"
	case req.Body.Cancel != nil:
		op = "cancel"
	case req.Body.Status != nil:
		op = "status"
	}
	status, slow, latency := w.system.fault(op)
	time.Sleep(latency)
	switch status {
	case 0:
	case http.StatusTooManyRequests:
		w.fault(rw, "soap:Client", "too many requests, try later", "BUSY")
		return
	case http.StatusServiceUnavailable:
		rw.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(rw, "<html><body>Service unavailable: scheduled maintenance</body></html>")
		return
	default:
		w.fault(rw, "soap:Server", "internal error", "")
		return
	}
	switch op {
	case "create":
		c := req.Body.Create
		if strings.TrimSpace(c.Reference) == "" {
			w.fault(rw, "soap:Client", "Reference is required", "VALIDATION")
			return
		}
		fields := map[string]any{}
		for _, f := range c.Fields {
			fields[f.Name] = f.Value
		}
		var delay time.Duration
		if slow {
			delay = w.Faults().SlowCreate
		}
		j, _ := w.create(c.Reference, fields, c.IdempotencyKey, delay)
		w.answer(rw, struct {
			XMLName xml.Name           `xml:"urn:casebridge:backoffice:v1 CreateJobResponse"`
			Job     backoffice.SOAPJob `xml:"Job"`
		}{Job: backoffice.SOAPJob{ID: j.ID, Reference: j.Ref, Status: j.Status}})
	case "find":
		var jobs []backoffice.SOAPJob
		for _, j := range w.find(req.Body.Find.Reference) {
			jobs = append(jobs, backoffice.SOAPJob{ID: j.ID, Reference: j.Ref, Status: j.Status})
		}
		w.answer(rw, struct {
			XMLName xml.Name             `xml:"urn:casebridge:backoffice:v1 FindJobsResponse"`
			Jobs    []backoffice.SOAPJob `xml:"Job"`
		}{Jobs: jobs})
	case "changes":
		changes, next, more, err := w.feed(req.Body.Changes.Cursor, 50)
		if err != nil {
			w.fault(rw, "soap:Client", err.Error(), "VALIDATION")
			return
		}
		w.answer(rw, w.changesBody(changes, next, more))
	case "note":
		var delay time.Duration
		if slow {
			delay = w.Faults().SlowNote
		}
		if !w.note(req.Body.Note.JobID, req.Body.Note.Text, req.Body.Note.IdempotencyKey, delay) {
			w.fault(rw, "soap:Client", "no such job", "NOT_FOUND")
			return
		}
		w.answer(rw, struct {
			XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 AddNoteResponse"`
		}{})
	case "cancel":
		if !w.cancel(req.Body.Cancel.JobID, "WITHDRAWN", req.Body.Cancel.Reason) {
			w.fault(rw, "soap:Client", "no such job", "NOT_FOUND")
			return
		}
		w.answer(rw, struct {
			XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 CancelJobResponse"`
		}{})
	case "status":
		st := req.Body.Status
		switch w.setStatus(st.JobID, st.Code, st.Note) {
		case statusRefused:
			w.fault(rw, "soap:Client", "this system takes no status changes", backoffice.FaultNotSupported)
		case statusNoJob:
			w.fault(rw, "soap:Client", "no such job", "NOT_FOUND")
		case statusUnknownCode:
			w.fault(rw, "soap:Client", "unknown status code "+st.Code, "VALIDATION")
		default:
			w.answer(rw, struct {
				XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 SetJobStatusResponse"`
			}{})
		}
	default:
		w.fault(rw, "soap:Client", "unknown operation", "")
	}
}

// authenticate checks the UsernameToken: user, digest, a Created within five
// minutes and a nonce not seen before. It returns why it refuses, or "".
func (w *Waste) authenticate(req request) string {
	if w.user == "" {
		return ""
	}
	t := req.Header.Security.Token
	nonce, err := base64.StdEncoding.DecodeString(t.Nonce)
	if t.Username != w.user || err != nil || backoffice.Digest(nonce, t.Created, w.password) != t.Password {
		return "authentication failed"
	}
	created, err := time.Parse(time.RFC3339Nano, t.Created)
	if err != nil || time.Since(created) > 5*time.Minute || time.Until(created) > 5*time.Minute {
		return "the UsernameToken has expired"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nonces[t.Nonce] {
		return "the UsernameToken nonce was used before"
	}
	w.nonces[t.Nonce] = true
	return ""
}

// local writes a time as the system does: London time, no offset.
func (w *Waste) local(t time.Time) string { return t.In(w.london).Format("2006-01-02T15:04:05") }

func (w *Waste) changesBody(changes []Change, next string, more bool) backoffice.SOAPChanges {
	out := backoffice.SOAPChanges{NextCursor: next, More: more}
	for _, c := range changes {
		out.Changes = append(out.Changes, backoffice.SOAPChange{ID: c.ID, JobID: c.JobID, Reference: c.Ref, Status: c.Status, Note: c.Note, At: w.local(c.At)})
	}
	return out
}

// pushBody is a webhook call: the changes as a GetChanges answer would hold
// them.
func (w *Waste) pushBody(changes []Change) ([]byte, string, error) {
	last := "0"
	if len(changes) > 0 {
		last = strconv.Itoa(changes[len(changes)-1].Seq)
	}
	b, err := backoffice.Envelope(w.changesBody(changes, last, false), backoffice.Auth{}, time.Now())
	return b, "text/xml; charset=utf-8", err
}

func (w *Waste) answer(rw http.ResponseWriter, body any) {
	b, err := backoffice.Envelope(body, backoffice.Auth{}, time.Now())
	if err != nil {
		w.fault(rw, "soap:Server", err.Error(), "")
		return
	}
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.Write(b)
}

func (w *Waste) fault(rw http.ResponseWriter, code, msg, detail string) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(rw, `%s<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring><detail><ErrorCode>%s</ErrorCode></detail></soap:Fault></soap:Body></soap:Envelope>`,
		xml.Header, code, escape(msg), escape(detail))
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
