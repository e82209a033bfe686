package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
)

// scoped reports whether a principal sees only some cases: a person's
// account always (unless admin); a token only when the configuration gives
// it departments or teams (a machine's token without them sees every case,
// as tokens always did).
func (p principal) scoped() bool {
	if p.has(config.RoleAdmin) && slices.Contains(p.Roles, config.RoleAdmin) {
		return false
	}
	if len(p.Subject) > 8 && p.Subject[:8] == "account:" {
		return true
	}
	return len(p.Departments) > 0 || len(p.Teams) > 0
}

// sees reports whether the principal may see and act on a case: a case of
// one of its departments, of one of its teams, or assigned to it.
func (p principal) sees(k *cases.Case) bool {
	if !p.scoped() {
		return true
	}
	if slices.Contains(p.Departments, k.Department) {
		return true
	}
	if k.Team != "" && slices.Contains(p.Teams, k.Department+"/"+k.Team) {
		return true
	}
	return k.Assignee != "" && k.Assignee == p.Name
}

// scope narrows a list to what the principal sees: the cases of its
// departments, of its teams, and those assigned to it.
func (p principal) scope(q *readmodel.ListQuery) {
	if p.scoped() {
		q.Scope = &readmodel.Scope{Departments: p.Departments, Teams: p.Teams, Assignee: p.Name}
	}
}

// compliance keeps the departments a principal sees.
func compliance(p principal, res readmodel.Compliance) readmodel.Compliance {
	if !p.scoped() {
		return res
	}
	return res.Departments(p.Departments)
}

// scopeDashboard narrows the dashboard to what a principal sees. A
// supervisor's picture is their departments: their rows, the overall figures
// summed from them, and the chart counted in their indexes. An agent's is
// their own work: the rows of their departments, and overall and in the
// chart the cases of their departments, their teams and those assigned to
// them together; no compliance (readmodel.ScopeFigures).
func (s *Server) scopeDashboard(ctx context.Context, p principal, d *readmodel.Dashboard) error {
	if !p.scoped() {
		return nil
	}
	d.Departments = slices.DeleteFunc(d.Departments, func(f readmodel.Figures) bool { return !slices.Contains(p.Departments, f.Department) })
	sc := readmodel.Scope{Departments: p.Departments}
	if !p.has(config.RoleSupervisor) {
		sc.Teams, sc.Assignee = p.Teams, p.Name
	}
	var err error
	d.Overall, d.Days, err = s.deps.ReadModel.ScopeFigures(ctx, d.Departments, sc, d.At, d.Today, d.WeekStart)
	return err
}

// caseInScope reports whether the caller may see the case a route names
// (/cases/:ref…); a route naming none, or an unscoped caller, passes. A case
// outside the caller's scope is answered as no such case, so nobody learns
// which references exist elsewhere.
func (s *Server) caseInScope(c *gin.Context) bool {
	v, ok := c.Get(principalKey)
	if !ok || c.Param("ref") == "" || !v.(principal).scoped() {
		return true
	}
	ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, c.Param("ref"))
	k, err := s.scopeCase(c.Request.Context(), ref)
	return err != nil || v.(principal).sees(k) // an unread case is left to the handler's own answer
}

// inScope is caseInScope for the staff API.
func (s *Server) inScope(c *gin.Context) {
	if !s.caseInScope(c) {
		problem(c, http.StatusNotFound, "No such case", "there is no case "+c.Param("ref"), "")
		return
	}
	c.Next()
}

// inScope is caseInScope for the console.
func (con *console) inScope(c *gin.Context) {
	if !con.caseInScope(c) {
		con.errorPage(c, http.StatusNotFound, "No such case", "There is no case "+c.Param("ref")+" that you can see.", "/cases", "Work queue")
		return
	}
	c.Next()
}

// scopeCase reads where a case is, from the read model when it has it (fast),
// else from its workflow.
func (s *Server) scopeCase(ctx context.Context, ref string) (*cases.Case, error) {
	if k, err := s.deps.ReadModel.Get(ctx, ref); err == nil {
		return k, nil
	}
	k, _, err := s.staffCase(ctx, ref)
	return k, err
}

// departmentsIn keeps the departments a principal sees.
func departmentsIn(p principal, codes []string) []string {
	if !p.scoped() {
		return codes
	}
	return slices.DeleteFunc(codes, func(d string) bool { return !slices.Contains(p.Departments, d) })
}

// standingIn keeps the departments a principal sees.
func standingIn(p principal, rows []readmodel.DepartmentStanding) []readmodel.DepartmentStanding {
	if !p.scoped() {
		return rows
	}
	return slices.DeleteFunc(rows, func(r readmodel.DepartmentStanding) bool { return !slices.Contains(p.Departments, r.Department) })
}
