package api

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
)

// Compliance windows: the default, and the longest a query may ask for (a
// leap year, so any calendar year fits).
const (
	defaultComplianceDays = 30
	maxComplianceDays     = 366
)

// slaRoutes serves the supervisors' SLA figures, from the read model.
func (s *Server) slaRoutes(g *gin.RouterGroup) {
	g.GET("/sla/standing", require(config.RoleAgent, config.RoleSupervisor), s.slaStanding)
	g.GET("/sla/compliance", require(config.RoleSupervisor), s.slaCompliance)
}

// standingCounts is how a department's open cases stand against their promises.
type standingCounts struct {
	OnTrack  int64 `json:"on_track"`
	DueSoon  int64 `json:"due_soon"`
	Breached int64 `json:"breached"`
	Paused   int64 `json:"paused"`
}

func (a standingCounts) add(b standingCounts) standingCounts {
	return standingCounts{a.OnTrack + b.OnTrack, a.DueSoon + b.DueSoon, a.Breached + b.Breached, a.Paused + b.Paused}
}

type departmentStanding struct {
	Department string `json:"department"`
	Name       string `json:"name,omitempty"`
	standingCounts
}

type standingDoc struct {
	At          time.Time            `json:"at"`
	Total       standingCounts       `json:"total"`
	Departments []departmentStanding `json:"departments"`
}

// slaStanding serves GET /sla/standing: per department, the open cases on
// track, due soon, breached and paused now. Every configured department is
// listed, in the configuration's order, then any other the read model knows.
func (s *Server) slaStanding(c *gin.Context) {
	now := s.deps.Now()
	rows, err := s.deps.ReadModel.Standing(c.Request.Context(), now)
	rows = standingIn(who(c), rows)
	if err != nil {
		s.readModelProblem(c, err)
		return
	}
	byDept := map[string]standingCounts{}
	var seen []string
	for _, r := range rows {
		byDept[r.Department] = standingCounts{OnTrack: r.OnTrack, DueSoon: r.DueSoon, Breached: r.Breached, Paused: r.Paused}
		seen = append(seen, r.Department)
	}
	doc := standingDoc{At: now, Departments: []departmentStanding{}}
	for _, d := range departmentsIn(who(c), s.departmentOrder(seen)) {
		doc.Departments = append(doc.Departments, departmentStanding{Department: d, Name: s.departmentName(d), standingCounts: byDept[d]})
		doc.Total = doc.Total.add(byDept[d])
	}
	c.JSON(http.StatusOK, doc)
}

// tallyDoc is a readmodel.Tally as the API shows it. PercentMet is null when
// no case had a promise to judge.
type tallyDoc struct {
	Resolved   int64    `json:"resolved"`
	Met        int64    `json:"met"`
	Missed     int64    `json:"missed"`
	PercentMet *float64 `json:"percent_met"`
}

func newTallyDoc(t readmodel.Tally) tallyDoc {
	d := tallyDoc{Resolved: t.Resolved, Met: t.Met, Missed: t.Missed}
	if pct, ok := t.PercentMet(); ok {
		pct = math.Round(pct*10) / 10
		d.PercentMet = &pct
	}
	return d
}

type departmentCompliance struct {
	Department string `json:"department"`
	Name       string `json:"name,omitempty"`
	tallyDoc
}

type categoryCompliance struct {
	ServiceCode string `json:"service_code"`
	Name        string `json:"name,omitempty"`
	tallyDoc
}

type complianceDoc struct {
	From        time.Time              `json:"from"`
	To          time.Time              `json:"to"`
	Total       tallyDoc               `json:"total"`
	Departments []departmentCompliance `json:"departments"`
	Categories  []categoryCompliance   `json:"categories"`
}

// slaCompliance serves GET /sla/compliance?from=&to=: of the cases resolved
// in the range, how many met and missed their promise, per department and per
// category. Only departments and categories that resolved a case are listed.
func (s *Server) slaCompliance(c *gin.Context) {
	from, to, ok := s.complianceRange(c)
	if !ok {
		return
	}
	res, err := s.deps.ReadModel.Compliance(c.Request.Context(), from, to)
	if err != nil {
		s.readModelProblem(c, err)
		return
	}
	res = compliance(who(c), res)
	doc := complianceDoc{From: from, To: to, Total: newTallyDoc(res.Total()),
		Departments: []departmentCompliance{}, Categories: []categoryCompliance{}}
	byDept, byService := res.ByDepartment(), res.ByService()
	for _, d := range s.departmentOrder(slices.Collect(maps.Keys(byDept))) {
		if t, ok := byDept[d]; ok {
			doc.Departments = append(doc.Departments, departmentCompliance{Department: d, Name: s.departmentName(d), tallyDoc: newTallyDoc(t)})
		}
	}
	for _, code := range s.serviceOrder(slices.Collect(maps.Keys(byService))) {
		if t, ok := byService[code]; ok {
			name := ""
			if svc, ok := s.cfg.Service(code); ok {
				name = svc.Name
			}
			doc.Categories = append(doc.Categories, categoryCompliance{ServiceCode: code, Name: name, tallyDoc: newTallyDoc(t)})
		}
	}
	c.JSON(http.StatusOK, doc)
}

// complianceRange reads from and to: RFC 3339 instants, or dates in the
// council's time zone (from the start of from's day to the end of to's).
// Without them the range is the 30 days up to now.
func (s *Server) complianceRange(c *gin.Context) (from, to time.Time, ok bool) {
	loc := s.councilZone()
	to = s.deps.Now()
	if v := c.Query("to"); v != "" {
		day, isDate, err := parseInstant(v, loc)
		if err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", err.Error(), "to")
			return time.Time{}, time.Time{}, false
		}
		to = day
		if isDate {
			// The whole day, to the read model's microsecond.
			to = day.AddDate(0, 0, 1).Add(-time.Microsecond)
		}
	}
	from = to.In(loc).AddDate(0, 0, -defaultComplianceDays)
	if v := c.Query("from"); v != "" {
		var err error
		if from, _, err = parseInstant(v, loc); err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", err.Error(), "from")
			return time.Time{}, time.Time{}, false
		}
	}
	if to.Before(from) {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("to (%s) is before from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339)), "to")
		return time.Time{}, time.Time{}, false
	}
	// Counted in calendar days in the council's zone, so a year of dates fits
	// whichever clock change it spans.
	if to.After(from.In(loc).AddDate(0, 0, maxComplianceDays)) {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("the range is longer than %d days; ask for a shorter one", maxComplianceDays), "from")
		return time.Time{}, time.Time{}, false
	}
	return from.In(loc), to.In(loc), true
}

// parseInstant reads an RFC 3339 instant or a YYYY-MM-DD date, the latter as
// the start of that day in loc.
func parseInstant(v string, loc *time.Location) (t time.Time, isDate bool, err error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, false, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is neither an RFC 3339 time (2026-10-31T17:00:00Z) nor a date (2026-10-31)", v)
}

// councilZone is the time zone dates are read in: the council calendar's.
func (s *Server) councilZone() *time.Location {
	cal, err := calendar.New(s.cfg.Calendar)
	if err != nil { // config.Check has already refused such a calendar
		s.log.Warn("calendar unusable; reading dates as UTC", "error", err)
		return time.UTC
	}
	return cal.Location()
}

// departmentOrder lists the configured departments in the configuration's
// order, then the others of extra (ones the configuration no longer has) by code.
func (s *Server) departmentOrder(extra []string) []string {
	var out []string
	for _, d := range s.cfg.Departments {
		out = append(out, d.Code)
	}
	return appendOthers(out, extra)
}

// serviceOrder is departmentOrder for the service catalogue.
func (s *Server) serviceOrder(extra []string) []string {
	var out []string
	for _, svc := range s.cfg.Services {
		out = append(out, svc.Code)
	}
	return appendOthers(out, extra)
}

func appendOthers(known, extra []string) []string {
	var others []string
	for _, e := range extra {
		if !slices.Contains(known, e) && !slices.Contains(others, e) {
			others = append(others, e)
		}
	}
	slices.Sort(others)
	return append(known, others...)
}

func (s *Server) departmentName(code string) string {
	if d, ok := s.cfg.Department(code); ok {
		return d.Name
	}
	return ""
}

// readModelProblem answers a read-model error: a query it refused names its
// field; anything else means Redis did not answer.
func (s *Server) readModelProblem(c *gin.Context, err error) {
	var ie *cases.InputError
	if errors.As(err, &ie) {
		reason := ie.Reason
		if ie.Field == "cursor" {
			reason += "; start again without it"
		}
		problem(c, http.StatusUnprocessableEntity, "Invalid query", reason, ie.Field)
		return
	}
	s.log.Error("read model", "path", c.FullPath(), "error", err)
	problem(c, http.StatusServiceUnavailable, "Service unavailable", "the read model did not answer; try again shortly", "")
}
