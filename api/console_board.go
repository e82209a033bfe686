package api

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/readmodel"
)

type standingRow struct {
	Code, Name  string
	QueueURL    string
	BreachedURL string
	standingCounts
}

type tallyRow struct {
	Label                 string
	Resolved, Met, Missed int64
	Percent               string // "–" when no case had a promise to judge
}

type tallyTable struct {
	ID, Caption, Heading string
	Rows                 []tallyRow
	Total                tallyRow
}

type complianceView struct {
	From, To time.Time
	Total    tallyRow
	Tables   []tallyTable
}

type boardData struct {
	At         time.Time
	Standing   []standingRow
	Total      standingCounts
	Compliance *complianceView // nil for those who may not see it
}

// board serves GET /board: each department's open cases against their
// promises now and, for supervisors (as on the API), how many promises were
// kept in the last 30 days.
func (con *console) board(c *gin.Context) {
	ctx, now := c.Request.Context(), con.deps.Now()
	rows, err := con.deps.ReadModel.Standing(ctx, now)
	rows = standingIn(who(c), rows)
	if err != nil {
		con.boardUnavailable(c, err)
		return
	}
	d := boardData{At: now}
	byDept := map[string]standingCounts{}
	for _, r := range rows {
		byDept[r.Department] = standingCounts{OnTrack: r.OnTrack, DueSoon: r.DueSoon, Breached: r.Breached, Paused: r.Paused}
	}
	for _, code := range departmentsIn(who(c), con.departmentOrder(slices.Collect(maps.Keys(byDept)))) {
		q := url.Values{"family": {"open"}, "department": {code}}
		row := standingRow{Code: code, Name: cmp.Or(con.departmentName(code), code), standingCounts: byDept[code],
			QueueURL: "/cases?" + q.Encode()}
		q.Set("overdue", "1")
		row.BreachedURL = "/cases?" + q.Encode()
		d.Standing = append(d.Standing, row)
		d.Total = d.Total.add(byDept[code])
	}
	if who(c).has(config.RoleSupervisor) {
		from := now.In(con.loc).AddDate(0, 0, -defaultComplianceDays)
		res, err := con.deps.ReadModel.Compliance(ctx, from, now)
		if err != nil {
			con.boardUnavailable(c, err)
			return
		}
		d.Compliance = con.complianceView(compliance(who(c), res), from, now)
	}
	con.render(c, http.StatusOK, "board", view{Nav: "board", Data: d})
}

func (con *console) boardUnavailable(c *gin.Context, err error) {
	con.log.Error("console: board", "error", err)
	con.errorPage(c, http.StatusServiceUnavailable, "The SLA board is not available", "The read model did not answer. Try again in a moment.")
}

func (con *console) complianceView(res readmodel.Compliance, from, to time.Time) *complianceView {
	v := &complianceView{From: from, To: to, Total: tally("All", res.Total())}
	byDept, byService := res.ByDepartment(), res.ByService()
	depts := tallyTable{ID: "compliance-departments", Caption: "By department", Heading: "Department", Total: v.Total}
	for _, code := range con.departmentOrder(slices.Collect(maps.Keys(byDept))) {
		if t, ok := byDept[code]; ok {
			depts.Rows = append(depts.Rows, tally(cmp.Or(con.departmentName(code), code), t))
		}
	}
	services := tallyTable{ID: "compliance-categories", Caption: "By category", Heading: "Category", Total: v.Total}
	for _, code := range con.serviceOrder(slices.Collect(maps.Keys(byService))) {
		if t, ok := byService[code]; ok {
			label := code
			if svc, ok := con.cfg.Service(code); ok {
				label = svc.Name
			}
			services.Rows = append(services.Rows, tally(label, t))
		}
	}
	v.Tables = []tallyTable{depts, services}
	return v
}

func tally(label string, t readmodel.Tally) tallyRow {
	r := tallyRow{Label: label, Resolved: t.Resolved, Met: t.Met, Missed: t.Missed, Percent: "–"}
	if pct, ok := t.PercentMet(); ok {
		r.Percent = fmt.Sprintf("%.1f%%", pct)
	}
	return r
}

type notificationsData struct {
	Entries []notify.Entry
	Paged   bool
	NextURL string
}

// notifications serves GET /notifications: the newest escalation notices to
// everyone, a page at a time (?before=<key of the last one seen>).
func (con *console) notifications(c *gin.Context) {
	before := c.Query("before")
	entries, err := con.deps.Outbox.Recent(c.Request.Context(), notify.DefaultPageSize, before)
	if err != nil {
		con.log.Error("console: notifications", "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "Notifications are not available", "The outbox did not answer. Try again in a moment.")
		return
	}
	d := notificationsData{Entries: entries, Paged: before != ""}
	if len(entries) == notify.DefaultPageSize {
		d.NextURL = "/notifications?" + url.Values{"before": {entries[len(entries)-1].Key}}.Encode()
	}
	con.render(c, http.StatusOK, "notifications", view{Nav: "notifications", Data: d})
}
