package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
)

// changeRoutes registers staff intake and the changes besides status and notes:
// who has the case, which department, which category, and acknowledging
// escalations.
func (s *Server) changeRoutes(g *gin.RouterGroup, caseworkers, supervisors gin.HandlerFunc) {
	g.POST("/cases", caseworkers, s.createCase)
	g.POST("/cases/:ref/assignment", caseworkers, s.assign)
	g.POST("/cases/:ref/transfer", caseworkers, s.transferCase)
	g.POST("/cases/:ref/category", caseworkers, s.recategorise)
	g.POST("/cases/:ref/priority", caseworkers, s.prioritise)
	g.POST("/cases/:ref/escalations/:seq/acknowledge", supervisors, s.acknowledge)
}

// change reads a staff change's JSON body into B, lets build turn it into the
// engine call (or name the field at fault), and answers with the case after the
// change. The Idempotency-Key header makes a retried request of op apply once.
func change[B any](s *Server, c *gin.Context, op string, build func(body B, actor string) (call func(ctx context.Context, ref, requestID string) (*cases.Case, error), field, why string)) {
	ref, ok := s.ref(c)
	if !ok {
		return
	}
	id, ok := staffUpdateID(c, op)
	if !ok {
		return
	}
	var body B
	if !bindJSON(c, &body) {
		return
	}
	call, field, why := build(body, "staff:"+who(c).Name)
	if call == nil {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", why, field)
		return
	}
	kase, err := call(c.Request.Context(), ref, id)
	if err != nil {
		s.domainProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, kase)
}

func (s *Server) assign(c *gin.Context) {
	change(s, c, "assign", func(b struct {
		Assignee string `json:"assignee"`
		Note     string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		a := cases.Assignment{Assignee: strings.TrimSpace(b.Assignee), Note: b.Note, Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Assign(ctx, ref, a, id)
		}, "", ""
	})
}

// transferTo checks a transfer against the configuration, for the JSON API and
// the console alike: the department must be one the council has, the team one
// of its teams; no department sends the case back to triage, for routing to
// decide again.
func (s *Server) transferTo(dept, team, note, actor string) (cases.Transfer, *cases.InputError) {
	t := cases.Transfer{Department: dept, Team: team, Note: note, Actor: actor}
	// The domain's limits first, so that no answer quotes megabytes back.
	if err := t.CheckFields(); err != nil {
		return cases.Transfer{}, err
	}
	switch d, ok := s.cfg.Department(dept); {
	case dept == "" && team != "":
		return cases.Transfer{}, &cases.InputError{Field: "department", Reason: "name the department the team belongs to"}
	case dept != "" && !ok:
		return cases.Transfer{}, &cases.InputError{Field: "department", Reason: fmt.Sprintf("%q is not a department", dept)}
	case team != "" && !slices.Contains(d.Teams, team):
		return cases.Transfer{}, &cases.InputError{Field: "team", Reason: fmt.Sprintf("%q is not a team of %s", team, d.Name)}
	}
	return t, nil
}

// recategoriseTo checks a new category against the catalogue.
func (s *Server) recategoriseTo(code, note, actor string) (cases.Recategorisation, *cases.InputError) {
	if err := cases.CheckLine("service_code", code, cases.MaxCode); err != nil {
		return cases.Recategorisation{}, err.(*cases.InputError)
	}
	svc, ok := s.cfg.Service(code)
	if !ok {
		return cases.Recategorisation{}, &cases.InputError{Field: "service_code", Reason: fmt.Sprintf("%q is not a category", code)}
	}
	return cases.Recategorisation{Service: cases.Service{Code: svc.Code, Name: svc.Name, Group: svc.Group}, Note: note, Actor: actor}, nil
}

// transferCase moves a case to a department (and team) the configuration
// knows; no department means back to triage, for routing to decide again.
func (s *Server) transferCase(c *gin.Context) {
	change(s, c, "transfer", func(b struct {
		Department   string `json:"department"`
		Team         string `json:"team"`
		KeepAssignee bool   `json:"keep_assignee"`
		Note         string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		t, ie := s.transferTo(b.Department, b.Team, b.Note, actor)
		if ie != nil {
			return nil, ie.Field, ie.Reason + s.transferHint(ie.Field, b.Department)
		}
		t.KeepAssignee = b.KeepAssignee
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Transfer(ctx, ref, t, id)
		}, "", ""
	})
}

// transferHint lists the choices a JSON client has, after a transfer mistake.
func (s *Server) transferHint(field, dept string) string {
	switch field {
	case "department":
		codes := make([]string, len(s.cfg.Departments))
		for i, d := range s.cfg.Departments {
			codes[i] = d.Code
		}
		return "; departments are " + strings.Join(codes, ", ")
	case "team":
		d, _ := s.cfg.Department(dept)
		return "; its teams are " + strings.Join(d.Teams, ", ")
	}
	return ""
}

// recategorise files a case under another service of the catalogue; routing
// then runs again.
func (s *Server) recategorise(c *gin.Context) {
	change(s, c, "category", func(b struct {
		ServiceCode string `json:"service_code"`
		Note        string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		rc, ie := s.recategoriseTo(b.ServiceCode, b.Note, actor)
		if ie != nil {
			return nil, ie.Field, ie.Reason + "; GET /open311/v2/services.json lists them"
		}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Recategorise(ctx, ref, rc, id)
		}, "", ""
	})
}

func (s *Server) acknowledge(c *gin.Context) {
	seq, err := strconv.Atoi(c.Param("seq"))
	if err != nil || seq < 1 {
		problem(c, http.StatusNotFound, "No such escalation", "escalations are numbered from 1", "seq")
		return
	}
	change(s, c, "acknowledge", func(b struct {
		Note string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		a := cases.Acknowledgement{Seq: seq, Note: b.Note, Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Acknowledge(ctx, ref, a, id)
		}, "", ""
	})
}

// prioritise changes how pressing a case is; a policy with a target for the
// new priority moves the case's due times with it.
func (s *Server) prioritise(c *gin.Context) {
	change(s, c, "priority", func(b struct {
		Priority string `json:"priority"`
		Note     string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		pr := cases.Priority(b.Priority)
		if !pr.Valid() {
			return nil, "priority", fmt.Sprintf("%q is not a priority; priorities are urgent, high, normal and low", clip(b.Priority))
		}
		p := cases.Prioritisation{Priority: pr, Note: b.Note, Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Cases.Prioritise(ctx, ref, p, id)
		}, "", ""
	})
}
