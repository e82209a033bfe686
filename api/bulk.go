package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/readmodel"
)

// Moving work in bulk: one change (assign, transfer or a status) made to a
// selection of cases or to every case a queue filter matches, each case by
// its own workflow update, so each is checked, refused or applied as a single
// change would be. Every case's update ID is the request's key and the ref,
// so a bulk action sent again (a retry, the back button) applies once.

// maxBulk bounds one bulk action: a larger filter must be narrowed.
const maxBulk = 1000

// bulkWorkers is how many cases a bulk action changes at once.
const bulkWorkers = 4

// bulkRequest is a bulk action as the JSON API and the console send it.
type bulkRequest struct {
	Action string   `json:"action"` // assign, transfer or status
	Refs   []string `json:"refs,omitempty"`
	// Filter is a work-queue filter, as the console's queue address has it
	// (q=...&department=...&overdue=1): every case it matches.
	Filter       string `json:"filter,omitempty"`
	Assignee     string `json:"assignee,omitempty"`
	Department   string `json:"department,omitempty"`
	Team         string `json:"team,omitempty"`
	KeepAssignee bool   `json:"keep_assignee,omitempty"`
	Status       string `json:"status,omitempty"`
	Note         string `json:"note,omitempty"`
	Public       bool   `json:"public,omitempty"`
}

// bulkResult is what became of one case.
type bulkResult struct {
	Ref     string `json:"ref"`
	Outcome string `json:"outcome"` // changed, refused or failed (try again)
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type bulkSummary struct {
	Action  string       `json:"action"`
	Changed int          `json:"changed"`
	Refused int          `json:"refused"`
	Failed  int          `json:"failed"`
	Results []bulkResult `json:"results"`
}

// bulkCall checks the change and returns the call that makes it to one case.
func (s *Server) bulkCall(b bulkRequest, actor string) (changeCall, string, string) {
	switch b.Action {
	case "assign":
		a := cases.Assignment{Assignee: strings.TrimSpace(b.Assignee), Note: b.Note, Actor: actor}
		if err := cases.CheckLine("assignee", a.Assignee, cases.MaxLabel); err != nil {
			return nil, "assignee", err.(*cases.InputError).Reason
		}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Assign(ctx, ref, a, id)
		}, "", ""
	case "transfer":
		if b.Department == "" {
			return nil, "department", "choose the department to send the cases to"
		}
		t, ie := s.transferTo(b.Department, b.Team, b.Note, actor)
		if ie != nil {
			return nil, ie.Field, ie.Reason
		}
		t.KeepAssignee = b.KeepAssignee
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Transfer(ctx, ref, t, id)
		}, "", ""
	case "status":
		if b.Status == "" {
			return nil, "status", "choose the status to move the cases to"
		}
		to, err := cases.ParseStatus(b.Status)
		if err != nil {
			return nil, "status", fmt.Sprintf("%q is not a status", clip(b.Status))
		}
		ch := cases.Change{To: to, Note: b.Note, Public: b.Public, Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Transition(ctx, ref, ch, id)
		}, "", ""
	}
	return nil, "action", "choose assign, transfer or status"
}

// bulkRefs are the cases a bulk action is for: the refs given, or those the
// filter matches (me is who "assigned to me" means), at most maxBulk.
func (s *Server) bulkRefs(ctx context.Context, b bulkRequest, p principal) (refs []string, field, why string, err error) {
	switch {
	case len(b.Refs) > 0 && b.Filter != "":
		return nil, "filter", "give refs or a filter, not both", nil
	case len(b.Refs) > 0:
		if len(b.Refs) > maxBulk {
			return nil, "refs", fmt.Sprintf("at most %d cases at once", maxBulk), nil
		}
		seen := map[string]bool{}
		for _, r := range b.Refs {
			ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, r)
			if !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
				return nil, "refs", fmt.Sprintf("%q is not a case reference", clip(r)), nil
			}
			if p.scoped() {
				if k, err := s.scopeCase(ctx, ref); err == nil && !p.sees(k) {
					return nil, "refs", fmt.Sprintf("there is no case %s that you can see", ref), nil
				}
			}
			if !seen[ref] {
				seen[ref] = true
				refs = append(refs, ref)
			}
		}
		return refs, "", "", nil
	case b.Filter == "":
		return nil, "refs", "choose the cases: refs, or a filter", nil
	}
	v, perr := url.ParseQuery(b.Filter)
	if perr != nil {
		return nil, "filter", "is not a query string like family=open&department=highways", nil
	}
	f := queueFiltersFrom(v, p.Name)
	q, field, why := f.listQuery(s.deps.Now())
	if why != "" {
		return nil, "filter", field + ": " + why, nil
	}
	q.Limit, q.Offset = readmodel.MaxPageSize, 0
	p.scope(&q)
	for {
		page, err := s.deps.ReadModel.List(ctx, q)
		if err != nil {
			var ie *cases.InputError
			if errors.As(err, &ie) {
				return nil, "filter", ie.Field + " " + ie.Reason, nil
			}
			return nil, "", "", err
		}
		if page.Total > maxBulk {
			more := ""
			if page.AtLeast {
				more = "more than "
			}
			return nil, "filter", fmt.Sprintf("matches %s%d cases; narrow it to at most %d", more, page.Total, maxBulk), nil
		}
		for _, k := range page.Cases {
			refs = append(refs, k.Ref)
		}
		if page.Next == "" {
			return refs, "", "", nil
		}
		q.Cursor = page.Next
	}
}

// runBulk makes the change to each case, a few at once, and says what
// became of each, in the order given. idFor is a case's update ID.
func (s *Server) runBulk(ctx context.Context, action string, refs []string, call changeCall, idFor func(ref string) string) bulkSummary {
	out := bulkSummary{Action: action, Results: make([]bulkResult, len(refs))}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(bulkWorkers, len(refs)) {
		wg.Go(func() {
			for i := range next {
				ref := refs[i]
				r := bulkResult{Ref: ref, Outcome: "changed"}
				if _, err := call(ctx, ref, idFor(ref)); err != nil {
					r.Outcome, r.Field, r.Reason = s.bulkProblem(ctx, ref, err)
				}
				out.Results[i] = r
			}
		})
	}
	for i := range refs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range out.Results {
		switch r.Outcome {
		case "changed":
			out.Changed++
		case "refused":
			out.Refused++
		default:
			out.Failed++
		}
	}
	return out
}

// bulkProblem is why a case was not changed: refused for good, or failed
// (the engine did not answer: sending the bulk action again is safe).
func (s *Server) bulkProblem(ctx context.Context, ref string, err error) (outcome, field, reason string) {
	var ie *cases.InputError
	var te *cases.TransitionError
	switch {
	case errors.As(err, &ie):
		return "refused", ie.Field, ie.Field + " " + ie.Reason
	case errors.As(err, &te):
		return "refused", "status", te.Reason
	case errors.Is(err, cases.ErrNotFound):
		if s.retired(ctx, ref) {
			return "refused", "", retiredReason(ref)
		}
		return "refused", "", "there is no case " + ref
	case errors.Is(err, cases.ErrFinished):
		return "refused", "", "the case was closed too long ago to change"
	}
	s.log.Error("bulk change", "ref", ref, "error", err)
	return "failed", "", "the case engine did not answer; send the bulk action again to retry (changes already made are not repeated)"
}

// bulkAPI serves POST /api/v1/cases/bulk. An Idempotency-Key makes a retry
// apply each case's change once.
func (s *Server) bulkAPI(c *gin.Context) {
	key, ok := idempotencyKey(c)
	if !ok {
		return
	}
	var b bulkRequest
	if !bindJSON(c, &b) {
		return
	}
	p := who(c)
	call, field, why := s.bulkCall(b, "staff:"+p.Name)
	if call == nil {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", why, field)
		return
	}
	refs, field, why, err := s.bulkRefs(c.Request.Context(), b, p)
	if err != nil {
		s.readModelProblem(c, err)
		return
	}
	if why != "" {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", why, field)
		return
	}
	op := "bulk-" + b.Action
	c.JSON(http.StatusOK, s.runBulk(c.Request.Context(), b.Action, refs, call, func(ref string) string {
		return updateID("staff", p.Name, op, bulkKey(key, ref))
	}))
}

// bulkKey is one case's part of a bulk action's idempotency key; no key, none.
func bulkKey(key, ref string) string {
	if key == "" {
		return ""
	}
	return key + ":" + ref
}

type bulkPageData struct {
	Summary  *bulkSummary
	Label    string // the change, in words
	QueueURL string
	Refused  []bulkResult
	Failed   []bulkResult
	Changed  []bulkResult
}

var bulkLabels = map[string]string{"assign": "Assign", "transfer": "Transfer", "status": "Change status"}

// bulk serves POST /cases/bulk: the change chosen under the queue, to the
// cases ticked or to every case the queue's filters match, then a page
// saying what became of each. The form's request id makes it safe to send
// again.
func (con *console) bulk(c *gin.Context) {
	f := c.Request.PostForm
	p := who(c)
	filter := f.Get("filter")
	d := &bulkPageData{QueueURL: "/cases?" + filter, Label: bulkLabels[f.Get("action")]}
	v := view{Nav: "cases", Data: d}
	b := bulkRequest{Action: f.Get("action"), Assignee: f.Get("assignee"), Status: f.Get("status"), Note: f.Get("note"),
		Public: f.Get("public") != "", KeepAssignee: f.Get("keep") == "keep"}
	if to := f.Get("to"); to != "" {
		b.Department, b.Team, _ = strings.Cut(to, "/")
	}
	switch f.Get("scope") {
	case "filter":
		b.Filter = filter
	default:
		b.Refs = f["ref"]
	}
	// A mistake in the form shows the queue again, the form filled in as
	// sent and the mistake summarised at the top: nothing was changed.
	fail := func(field, msg string) {
		if field == "bulk-team" {
			field = "bulk-department"
		}
		q, _ := url.ParseQuery(filter)
		q.Set("page", f.Get("page"))
		con.showQueue(c, queueFiltersFrom(q, p.Name), formState{Name: "bulk", Values: f, Field: field, Message: msg})
	}
	if b.Action == "transfer" && f.Get("keep") == "" {
		fail("bulk-keep", "Choose whether the cases' assignees stay assigned after the transfer.")
		return
	}
	call, field, why := con.bulkCall(b, "staff:"+p.Name)
	if call == nil {
		fail("bulk-"+field, upperFirst(why)+".")
		return
	}
	if len(b.Refs) == 0 && b.Filter == "" {
		fail("bulk-scope", "Tick the cases to change, or choose every case matching the filters.")
		return
	}
	refs, field, why, err := con.bulkRefs(c.Request.Context(), b, p)
	if err != nil {
		con.log.Error("console: bulk", "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "The cases could not be listed", "The read model did not answer, so nothing was changed. Try again in a moment.")
		return
	}
	if why != "" {
		fail("bulk-scope", "The "+map[string]string{"refs": "cases ticked", "filter": "filter"}[field]+" "+why+".")
		return
	}
	reqID := con.requestID(c, "bulk-"+b.Action)
	sum := con.runBulk(c.Request.Context(), b.Action, refs, call, func(ref string) string { return bulkKey(reqID, ref) })
	d.Summary = &sum
	for _, r := range sum.Results {
		switch r.Outcome {
		case "changed":
			d.Changed = append(d.Changed, r)
		case "refused":
			d.Refused = append(d.Refused, r)
		default:
			d.Failed = append(d.Failed, r)
		}
	}
	con.render(c, http.StatusOK, "bulk", v)
}
