package backoffice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// REST is a back office that speaks JSON over HTTP:
//
//	POST {base}/jobs                 {"ref": …, <fields>} with Idempotency-Key → {"id","ref","status"}
//	GET  {base}/jobs?ref=R           → {"jobs": [{"id","ref","status"}]}
//	GET  {base}/changes?cursor=C     → {"changes": [...], "next_cursor": …, "has_more": bool}
//	POST {base}/jobs/{id}/notes      {"text", "public"} with Idempotency-Key
//	POST {base}/jobs/{id}/cancel     {"reason"}
//	POST {base}/jobs/{id}/status     {"code", "note"}   (405 or 501: the system takes no status changes)
//
// Times without an offset are read in Location.
type REST struct {
	Name     string
	BaseURL  string
	Auth     Auth
	Client   *http.Client
	Timeout  time.Duration
	Location *time.Location
}

// maxBody bounds what is read of a system's answer.
const maxBody = 4 << 20

// Create posts a job with an Idempotency-Key.
func (r *REST) Create(ctx context.Context, job Job, key string) (Record, error) {
	body := map[string]any{}
	for k, v := range job.Fields {
		body[k] = v
	}
	body["ref"] = job.Ref
	var rec Record
	err := r.call(ctx, "create job", http.MethodPost, "/jobs", body, map[string]string{"Idempotency-Key": key}, &rec)
	if err == nil && rec.ID == "" {
		err = &Error{System: r.Name, Op: "create job", Retryable: true, Msg: "the answer names no job id"}
	}
	return rec, err
}

// Find looks a job up by our reference.
func (r *REST) Find(ctx context.Context, ref string) (Record, bool, error) {
	var out struct {
		Jobs []Record `json:"jobs"`
	}
	if err := r.call(ctx, "find job", http.MethodGet, "/jobs?ref="+url.QueryEscape(ref), nil, nil, &out); err != nil {
		return Record{}, false, err
	}
	for _, j := range out.Jobs {
		if j.Ref == ref && j.ID != "" {
			return j, true, nil
		}
	}
	return Record{}, false, nil
}

// Changes reads one page of the change feed.
func (r *REST) Changes(ctx context.Context, cursor string) (Page, error) {
	var out feed
	if err := r.call(ctx, "read changes", http.MethodGet, "/changes?cursor="+url.QueryEscape(cursor), nil, nil, &out); err != nil {
		return Page{}, err
	}
	return out.page(r.Location)
}

// DecodeChanges reads changes in the feed's JSON, as the system also posts
// them to the webhook.
func (r *REST) DecodeChanges(b []byte) ([]Change, error) {
	var out feed
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	p, err := out.page(r.Location)
	return p.Changes, err
}

type feed struct {
	Changes []struct {
		ID     string `json:"id"`
		JobID  string `json:"job_id"`
		Ref    string `json:"ref"`
		Status string `json:"status"`
		Note   string `json:"note"`
		At     string `json:"at"`
	} `json:"changes"`
	Next string `json:"next_cursor"`
	More bool   `json:"has_more"`
}

func (f feed) page(loc *time.Location) (Page, error) {
	p := Page{Next: f.Next, More: f.More}
	for i, c := range f.Changes {
		if c.ID == "" || c.Ref == "" {
			return Page{}, fmt.Errorf("changes[%d]: id and ref are required", i)
		}
		at, err := ParseTime(c.At, loc)
		if err != nil {
			return Page{}, fmt.Errorf("changes[%d].at: %w", i, err)
		}
		p.Changes = append(p.Changes, Change{ID: c.ID, JobID: c.JobID, Ref: c.Ref, Code: c.Status, Note: c.Note, At: at})
	}
	return p, nil
}

// ParseTime reads RFC 3339, or a local time without an offset in loc (many
// council systems send those).
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// Note adds a note to a job, with n.Key as its Idempotency-Key.
func (r *REST) Note(ctx context.Context, jobID string, n Note) error {
	var header map[string]string
	if n.Key != "" {
		header = map[string]string{"Idempotency-Key": n.Key}
	}
	return r.call(ctx, "add note", http.MethodPost, "/jobs/"+url.PathEscape(jobID)+"/notes", map[string]any{"text": n.Text, "public": n.Public}, header, nil)
}

// Cancel withdraws a job.
func (r *REST) Cancel(ctx context.Context, jobID, reason string) error {
	return r.call(ctx, "cancel job", http.MethodPost, "/jobs/"+url.PathEscape(jobID)+"/cancel", map[string]any{"reason": reason}, nil, nil)
}

// SetStatus moves a job to one of the system's codes.
func (r *REST) SetStatus(ctx context.Context, jobID, code, note string) error {
	err := r.call(ctx, "set job status", http.MethodPost, "/jobs/"+url.PathEscape(jobID)+"/status", map[string]any{"code": code, "note": note}, nil, nil)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusNotImplemented) {
		e.Unsupported, e.Retryable = true, false
	}
	return err
}

// call makes one request and decodes a 2xx answer into out.
func (r *REST) call(ctx context.Context, op, method, path string, body any, header map[string]string, out any) error {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{System: r.Name, Op: op, Msg: err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.BaseURL+path, rd)
	if err != nil {
		return &Error{System: r.Name, Op: op, Msg: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	switch r.Auth.Type {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+r.Auth.Token)
	case "basic":
		req.SetBasicAuth(r.Auth.Username, r.Auth.Password)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		// No answer (refused, reset, timed out): the call may or may not have
		// happened, so retrying is safe only because creates look up first.
		return &Error{System: r.Name, Op: op, Retryable: true, Msg: transportError(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{System: r.Name, Op: op, Retryable: true, Msg: "reading the answer: " + transportError(err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(r.Name, op, resp, snippet(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &Error{System: r.Name, Op: op, Retryable: true, Msg: "the answer is not the JSON expected: " + err.Error()}
	}
	return nil
}

// transportError says what went wrong without the URL (which may carry a
// reference) the http client puts in its errors.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// snippet is the start of an error answer, for the case's wait and the logs.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}
