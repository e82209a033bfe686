package backoffice

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// SOAP is a back office that speaks SOAP 1.1 with a WS-Security
// UsernameToken (password digest), the kind council asset and contractor
// systems expose. Operations (SOAPAction = the operation's name) in
// namespace SOAPNamespace:
//
//	CreateJob{Reference, IdempotencyKey, Field*}   → CreateJobResponse{Job}
//	FindJobs{Reference}                            → FindJobsResponse{Job*}
//	GetChanges{Cursor}                             → GetChangesResponse{Change*, NextCursor, More}
//	AddNote{JobId, Text, Public, IdempotencyKey}   → AddNoteResponse
//	CancelJob{JobId, Reason}                       → CancelJobResponse
//	SetJobStatus{JobId, Code, Note}                → SetJobStatusResponse
//
// A soap:Server fault is worth retrying, as is a soap:Client fault whose
// detail code is BUSY or LOCKED; any other client fault is final, and one
// whose detail code is NOT_SUPPORTED says the system does not offer the
// operation. Times
// without an offset are read in Location.
type SOAP struct {
	Name     string
	URL      string
	Auth     Auth
	Client   *http.Client
	Timeout  time.Duration
	Location *time.Location
	// Now is the clock for the UsernameToken's Created (time.Now if nil).
	Now func() time.Time
}

// SOAPNamespace is the namespace of the operations.
const SOAPNamespace = "urn:casebridge:backoffice:v1"

// Wire types shared by the connector and the simulator.
type (
	// SOAPJob is a job on the wire.
	SOAPJob struct {
		ID        string `xml:"Id"`
		Reference string `xml:"Reference"`
		Status    string `xml:"Status"`
	}
	// SOAPField is one of a system's fields.
	SOAPField struct {
		Name  string `xml:"name,attr"`
		Value string `xml:",chardata"`
	}
	// SOAPChange is a change-feed entry on the wire.
	SOAPChange struct {
		ID        string `xml:"Id"`
		JobID     string `xml:"JobId"`
		Reference string `xml:"Reference"`
		Status    string `xml:"Status,omitempty"`
		Note      string `xml:"Note,omitempty"`
		At        string `xml:"At"`
	}
	// SOAPCreateJob is the CreateJob request.
	SOAPCreateJob struct {
		XMLName        xml.Name    `xml:"urn:casebridge:backoffice:v1 CreateJob"`
		Reference      string      `xml:"Reference"`
		IdempotencyKey string      `xml:"IdempotencyKey,omitempty"`
		Fields         []SOAPField `xml:"Field"`
	}
	// SOAPChanges is the GetChanges response (and a webhook call's body).
	SOAPChanges struct {
		XMLName    xml.Name     `xml:"urn:casebridge:backoffice:v1 GetChangesResponse"`
		Changes    []SOAPChange `xml:"Change"`
		NextCursor string       `xml:"NextCursor"`
		More       bool         `xml:"More"`
	}
)

type soapFindJobs struct {
	XMLName   xml.Name `xml:"urn:casebridge:backoffice:v1 FindJobs"`
	Reference string   `xml:"Reference"`
}

type soapGetChanges struct {
	XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 GetChanges"`
	Cursor  string   `xml:"Cursor"`
}

type soapAddNote struct {
	XMLName        xml.Name `xml:"urn:casebridge:backoffice:v1 AddNote"`
	JobID          string   `xml:"JobId"`
	Text           string   `xml:"Text"`
	Public         bool     `xml:"Public"`
	IdempotencyKey string   `xml:"IdempotencyKey,omitempty"`
}

type soapCancelJob struct {
	XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 CancelJob"`
	JobID   string   `xml:"JobId"`
	Reason  string   `xml:"Reason"`
}

type soapSetJobStatus struct {
	XMLName xml.Name `xml:"urn:casebridge:backoffice:v1 SetJobStatus"`
	JobID   string   `xml:"JobId"`
	Code    string   `xml:"Code"`
	Note    string   `xml:"Note"`
}

// Create records a job.
func (s *SOAP) Create(ctx context.Context, job Job, key string) (Record, error) {
	req := SOAPCreateJob{Reference: job.Ref, IdempotencyKey: key}
	names := make([]string, 0, len(job.Fields))
	for k := range job.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		req.Fields = append(req.Fields, SOAPField{Name: k, Value: fmt.Sprint(job.Fields[k])})
	}
	var out struct {
		Job SOAPJob `xml:"Job"`
	}
	if err := s.call(ctx, "create job", "CreateJob", req, &out); err != nil {
		return Record{}, err
	}
	if out.Job.ID == "" {
		return Record{}, &Error{System: s.Name, Op: "create job", Retryable: true, Msg: "the answer names no job id"}
	}
	return Record{ID: out.Job.ID, Ref: out.Job.Reference, Status: out.Job.Status}, nil
}

// Find looks a job up by our reference.
func (s *SOAP) Find(ctx context.Context, ref string) (Record, bool, error) {
	var out struct {
		Jobs []SOAPJob `xml:"Job"`
	}
	if err := s.call(ctx, "find job", "FindJobs", soapFindJobs{Reference: ref}, &out); err != nil {
		return Record{}, false, err
	}
	for _, j := range out.Jobs {
		if j.Reference == ref && j.ID != "" {
			return Record{ID: j.ID, Ref: j.Reference, Status: j.Status}, true, nil
		}
	}
	return Record{}, false, nil
}

// Changes reads one page of the change feed.
func (s *SOAP) Changes(ctx context.Context, cursor string) (Page, error) {
	var out SOAPChanges
	if err := s.call(ctx, "read changes", "GetChanges", soapGetChanges{Cursor: cursor}, &out); err != nil {
		return Page{}, err
	}
	return s.page(out)
}

// DecodeChanges reads a webhook call: a SOAP envelope holding a
// GetChangesResponse.
func (s *SOAP) DecodeChanges(b []byte) ([]Change, error) {
	var out SOAPChanges
	if err := decodeEnvelope(b, &out); err != nil {
		return nil, err
	}
	p, err := s.page(out)
	return p.Changes, err
}

func (s *SOAP) page(out SOAPChanges) (Page, error) {
	p := Page{Next: out.NextCursor, More: out.More}
	for i, c := range out.Changes {
		if c.ID == "" || c.Reference == "" {
			return Page{}, fmt.Errorf("Change[%d]: Id and Reference are required", i)
		}
		at, err := ParseTime(strings.TrimSpace(c.At), s.Location)
		if err != nil {
			return Page{}, fmt.Errorf("Change[%d].At: %w", i, err)
		}
		p.Changes = append(p.Changes, Change{ID: c.ID, JobID: c.JobID, Ref: c.Reference, Code: c.Status, Note: c.Note, At: at})
	}
	return p, nil
}

// Note adds a note to a job.
func (s *SOAP) Note(ctx context.Context, jobID string, n Note) error {
	return s.call(ctx, "add note", "AddNote", soapAddNote{JobID: jobID, Text: n.Text, Public: n.Public, IdempotencyKey: n.Key}, nil)
}

// Cancel withdraws a job.
func (s *SOAP) Cancel(ctx context.Context, jobID, reason string) error {
	return s.call(ctx, "cancel job", "CancelJob", soapCancelJob{JobID: jobID, Reason: reason}, nil)
}

// SetStatus moves a job to one of the system's codes.
func (s *SOAP) SetStatus(ctx context.Context, jobID, code, note string) error {
	return s.call(ctx, "set job status", "SetJobStatus", soapSetJobStatus{JobID: jobID, Code: code, Note: note}, nil)
}

// Envelope is a SOAP 1.1 envelope as sent.
type envelope struct {
	XMLName xml.Name `xml:"soap:Envelope"`
	Soap    string   `xml:"xmlns:soap,attr"`
	Header  *header  `xml:"soap:Header,omitempty"`
	Body    struct {
		Content any `xml:",any"`
	} `xml:"soap:Body"`
}

type header struct {
	Security security `xml:"wsse:Security"`
}

type security struct {
	Wsse           string `xml:"xmlns:wsse,attr"`
	Wsu            string `xml:"xmlns:wsu,attr"`
	MustUnderstand string `xml:"soap:mustUnderstand,attr"`
	Token          struct {
		Username string `xml:"wsse:Username"`
		Password struct {
			Type  string `xml:"Type,attr"`
			Value string `xml:",chardata"`
		} `xml:"wsse:Password"`
		Nonce struct {
			EncodingType string `xml:"EncodingType,attr"`
			Value        string `xml:",chardata"`
		} `xml:"wsse:Nonce"`
		Created string `xml:"wsu:Created"`
	} `xml:"wsse:UsernameToken"`
}

// WS-Security names.
const (
	soapEnvNS      = "http://schemas.xmlsoap.org/soap/envelope/"
	wsseNS         = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	wsuNS          = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	PasswordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	base64Binary   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// Digest is a UsernameToken's password digest: Base64(SHA-1(nonce + created
// + password)), nonce raw.
func Digest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Envelope wraps a body in a SOAP envelope, with a UsernameToken when auth
// is wsse. The simulator uses it for its answers and webhook calls too.
func Envelope(body any, auth Auth, now time.Time) ([]byte, error) {
	env := envelope{Soap: soapEnvNS}
	env.Body.Content = body
	if auth.Type == "wsse" {
		nonce := make([]byte, 16)
		rand.Read(nonce)
		created := now.UTC().Format("2006-01-02T15:04:05.000Z")
		sec := security{Wsse: wsseNS, Wsu: wsuNS, MustUnderstand: "1"}
		sec.Token.Username = auth.Username
		sec.Token.Password.Type = PasswordDigest
		sec.Token.Password.Value = Digest(nonce, created, auth.Password)
		sec.Token.Nonce.EncodingType = base64Binary
		sec.Token.Nonce.Value = base64.StdEncoding.EncodeToString(nonce)
		sec.Token.Created = created
		env.Header = &header{Security: sec}
	}
	b, err := xml.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// Fault is a SOAP fault.
type Fault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		ErrorCode string `xml:"ErrorCode"`
	} `xml:"detail"`
}

// FaultNotSupported is the detail code of a fault saying the system does not
// offer the operation.
const FaultNotSupported = "NOT_SUPPORTED"

// retryableFaults are client-fault detail codes that mean "not now".
var retryableFaults = []string{"BUSY", "LOCKED"}

// decodeEnvelope reads a SOAP envelope's body into out, or returns its fault.
func decodeEnvelope(b []byte, out any) error {
	var env struct {
		Body struct {
			Fault   *Fault `xml:"Fault"`
			Content []byte `xml:",innerxml"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("not a SOAP envelope: %w", err)
	}
	if env.Body.Fault != nil {
		return env.Body.Fault
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(env.Body.Content, out); err != nil {
		return fmt.Errorf("SOAP body: %w", err)
	}
	return nil
}

func (f *Fault) Error() string {
	s := f.Code + ": " + f.String
	if f.Detail.ErrorCode != "" {
		s += " (" + f.Detail.ErrorCode + ")"
	}
	return s
}

// retryable says whether a fault is worth another try: the server's fault,
// or the client's when the system says it is busy or the record locked.
func (f *Fault) retryable() bool {
	code := f.Code
	if i := strings.LastIndexByte(code, ':'); i >= 0 {
		code = code[i+1:]
	}
	return code == "Server" || code == "Receiver" || slices.Contains(retryableFaults, f.Detail.ErrorCode)
}

// call makes one SOAP request.
func (s *SOAP) call(ctx context.Context, op, action string, body, out any) error {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	b, err := Envelope(body, s.Auth, now())
	if err != nil {
		return &Error{System: s.Name, Op: op, Msg: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(b))
	if err != nil {
		return &Error{System: s.Name, Op: op, Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+SOAPNamespace+"/"+action+`"`)
	if s.Auth.Type == "basic" {
		req.SetBasicAuth(s.Auth.Username, s.Auth.Password)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return &Error{System: s.Name, Op: op, Retryable: true, Msg: transportError(err)}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{System: s.Name, Op: op, Retryable: true, Msg: "reading the answer: " + transportError(err)}
	}
	err = decodeEnvelope(rb, out)
	if f, ok := err.(*Fault); ok {
		e := statusError(s.Name, op, resp, f.Error())
		e.Retryable = f.retryable()
		e.Unsupported = f.Detail.ErrorCode == FaultNotSupported
		return e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(s.Name, op, resp, snippet(rb))
	}
	if err != nil {
		return &Error{System: s.Name, Op: op, Retryable: true, Msg: err.Error()}
	}
	return nil
}
