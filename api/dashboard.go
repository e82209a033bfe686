package api

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
)

// complianceFigure is how the cases resolved in the last 30 days fared, with
// the percentage met of those that had a promise (none when none had).
type complianceFigure struct {
	Resolved int64    `json:"resolved"`
	Met      int64    `json:"met"`
	Missed   int64    `json:"missed"`
	Percent  *float64 `json:"percent_met,omitempty"`
}

func complianceOf(t readmodel.Tally) *complianceFigure {
	f := &complianceFigure{Resolved: t.Resolved, Met: t.Met, Missed: t.Missed}
	if p, ok := t.PercentMet(); ok {
		p = math.Round(p*10) / 10
		f.Percent = &p
	}
	return f
}

// PercentText is the percentage met as the console shows it.
func (f *complianceFigure) PercentText() string {
	if f == nil || f.Percent == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", *f.Percent)
}

// dashboardFigures are readmodel.Figures as the API gives them: with the
// department's name, and compliance only for supervisors (as /sla/compliance).
type dashboardFigures struct {
	Department  string            `json:"department,omitempty"`
	Name        string            `json:"name,omitempty"`
	Open        int64             `json:"open"`
	DueSoon     int64             `json:"due_soon"`
	Breached    int64             `json:"breached"`
	Paused      int64             `json:"paused"`
	Escalated   int64             `json:"escalated"`
	OpenedToday int64             `json:"opened_today"`
	OpenedWeek  int64             `json:"opened_this_week"`
	ClosedToday int64             `json:"closed_today"`
	ClosedWeek  int64             `json:"closed_this_week"`
	Compliance  *complianceFigure `json:"compliance_30d,omitempty"`
	Oldest      *readmodel.Oldest `json:"oldest_open,omitempty"`
}

type dashboardDoc struct {
	At          time.Time          `json:"at"`
	Today       time.Time          `json:"today"`
	WeekFrom    time.Time          `json:"week_from"`
	Overall     dashboardFigures   `json:"overall"`
	Departments []dashboardFigures `json:"departments"`
	Days        []readmodel.Day    `json:"days"`
}

// dashboard reads the figures for p: departments in the configuration's
// order, then any other the read model knows.
func (s *Server) dashboard(ctx context.Context, p principal) (dashboardDoc, error) {
	d, err := s.deps.ReadModel.Dashboard(ctx, s.deps.Now(), s.councilZone())
	if err == nil {
		err = s.scopeDashboard(ctx, p, &d)
	}
	if err != nil {
		return dashboardDoc{}, err
	}
	sup := p.has(config.RoleSupervisor)
	conv := func(f readmodel.Figures) dashboardFigures {
		out := dashboardFigures{Department: f.Department, Name: s.departmentName(f.Department), Open: f.Open, DueSoon: f.DueSoon,
			Breached: f.Breached, Paused: f.Paused, Escalated: f.Escalated, OpenedToday: f.OpenedToday, OpenedWeek: f.OpenedWeek,
			ClosedToday: f.ClosedToday, ClosedWeek: f.ClosedWeek, Oldest: f.Oldest}
		if sup {
			out.Compliance = complianceOf(f.Compliance)
		}
		return out
	}
	doc := dashboardDoc{At: d.At, Today: d.Today, WeekFrom: d.WeekStart, Overall: conv(d.Overall), Departments: []dashboardFigures{}, Days: d.Days}
	var codes []string
	for _, f := range d.Departments {
		codes = append(codes, f.Department)
	}
	for _, code := range departmentsIn(p, s.departmentOrder(codes)) {
		i := slices.IndexFunc(d.Departments, func(f readmodel.Figures) bool { return f.Department == code })
		f := readmodel.Figures{Department: code}
		if i >= 0 {
			f = d.Departments[i]
		}
		doc.Departments = append(doc.Departments, conv(f))
	}
	return doc, nil
}

// getDashboard serves GET /api/v1/dashboard.
func (s *Server) getDashboard(c *gin.Context) {
	doc, err := s.dashboard(c.Request.Context(), who(c))
	if err != nil {
		s.readModelProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, doc)
}

// name is the figures' department name, or what to call the whole council.
func (f dashboardFigures) Label() string {
	return cmp.Or(f.Name, f.Department, "All departments")
}
