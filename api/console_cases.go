package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/web"
)

// queuePageSize is how many cases a page of the work queue shows.
const queuePageSize = 25

type option struct{ Value, Label string }

type optionGroup struct {
	Label   string
	Options []option
}

// slaBadge is how a case stands against its promise (cases.Case.State), in words.
type slaBadge struct{ State, Label string }

var slaLabels = map[string]string{
	"on_track": "On track", "due_soon": "Due soon", "breached": "Breached", "paused": "Paused",
	cases.OutcomeMet: "Met", cases.OutcomeMissed: "Missed", "none": "No promise",
}

func badgeOf(k *cases.Case, now time.Time) slaBadge {
	st := k.State(now)
	return slaBadge{State: st, Label: cmp.Or(slaLabels[st], st)}
}

// queueFilters are the work queue's filters, as its form sends them.
type queueFilters struct {
	Q          string // words to search for
	Family     string // open, closed or all
	Status     string
	Department string
	Service    string
	Area       string
	Escalation string // "", "any" or a level
	Source     string
	Mine       bool // assigned to the person signed in
	Overdue    bool
	Sort       string // due, received or updated
	Order      string // asc or desc
	Page       int
	me         string
}

func readQueueFilters(c *gin.Context) queueFilters {
	return queueFiltersFrom(c.Request.URL.Query(), who(c).Name)
}

// queueFiltersFrom reads the queue's filters from its address's query (or
// a bulk action's filter); me is who "assigned to me" means.
func queueFiltersFrom(v url.Values, me string) queueFilters {
	f := queueFilters{
		Q: strings.TrimSpace(v.Get("q")), Family: cmp.Or(v.Get("family"), "open"), Status: v.Get("status"), Department: v.Get("department"),
		Service: v.Get("service"), Area: v.Get("area"), Escalation: v.Get("escalation"), Source: v.Get("source"),
		Mine: v.Get("mine") != "", Overdue: v.Get("overdue") != "",
		Sort: cmp.Or(v.Get("sort"), "due"), Order: cmp.Or(v.Get("order"), "asc"), me: me,
	}
	f.Page, _ = strconv.Atoi(v.Get("page"))
	f.Page = min(max(f.Page, 1), maxPage)
	return f
}

// listQuery turns the filters into a read-model query, or says which filter
// is wrong (only a hand-made address can get one wrong).
func (f queueFilters) listQuery(now time.Time) (q readmodel.ListQuery, field, why string) {
	q = readmodel.ListQuery{Department: f.Department, ServiceCode: f.Service, Overdue: f.Overdue, Now: now,
		Search: f.Q, Area: f.Area, Escalation: f.Escalation, Source: cases.Source(f.Source),
		Sort: readmodel.SortField(f.Sort), Desc: f.Order == "desc", Limit: queuePageSize, Offset: (f.Page - 1) * queuePageSize}
	if f.Mine {
		q.Assignee = f.me
	}
	for _, fl := range []struct{ name, v string }{{"q", f.Q}, {"area", f.Area}, {"escalation", f.Escalation}} {
		if err := cases.CheckLine(fl.name, fl.v, cases.MaxLabel); err != nil {
			return q, fl.name, fmt.Sprintf("The %s is too long or has characters that cannot be searched for; shorten it.", map[string]string{"q": "search", "area": "area", "escalation": "escalation"}[fl.name])
		}
	}
	if f.Source != "" && !slices.Contains(sources, q.Source) {
		return q, "source", "Choose a source from the list."
	}
	switch f.Family {
	case "open", "closed":
		q.Family = f.Family
	case "all":
	default:
		return q, "family", "Choose open, closed or all cases."
	}
	if f.Status != "" {
		st, err := cases.ParseStatus(f.Status)
		if err != nil {
			return q, "status", fmt.Sprintf("%q is not a status; choose one from the list.", clip(f.Status))
		}
		q.Status = st
	}
	switch q.Sort {
	case readmodel.SortDue, readmodel.SortReceived, readmodel.SortUpdated:
	default:
		return q, "sort", "Sort by due, received or last updated."
	}
	if f.Order != "asc" && f.Order != "desc" {
		return q, "order", "Order earliest or latest first."
	}
	return q, "", ""
}

// url is the queue's address with these filters, on page.
func (f queueFilters) url(page int) string {
	v := url.Values{"family": {f.Family}, "sort": {f.Sort}, "order": {f.Order}}
	for k, s := range map[string]string{"q": f.Q, "status": f.Status, "department": f.Department, "service": f.Service,
		"area": f.Area, "escalation": f.Escalation, "source": f.Source} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Overdue {
		v.Set("overdue", "1")
	}
	if f.Mine {
		v.Set("mine", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return "/cases?" + v.Encode()
}

type queueRow struct {
	Ref        string
	Category   string
	Department string
	Team       string
	Assignee   string
	Priority   cases.Priority
	Status     cases.Status
	Received   time.Time
	Due        time.Time
	SLA        slaBadge
}

type queueData struct {
	Filters       queueFilters
	Field         string
	Message       string
	Statuses      []option
	Departments   []option
	ServiceGroups []optionGroup
	Areas         []string
	Levels        []string
	Sources       []option
	Pages         []pageLink
	// The bulk form's.
	HasMap      bool
	MapURL      string
	RequestID   string
	FilterQuery string
	Transfers   []optionGroup
	MaxAssignee int
	BulkOpen    bool
	// Bulk is the bulk form as it was sent, when its mistake sends the
	// queue back with it (BulkOpen then too).
	Bulk      formState
	Rows      []queueRow
	Total     int64
	AtLeast   bool // Total is a floor
	From, To  int
	FirstURL  string // when the page asked for is past the end
	PrevURL   string
	NextURL   string
	SortLabel string
}

// bulkFieldIDs are the ids of the bulk form's fields an error summary links
// to, by the field at fault.
var bulkFieldIDs = map[string]string{
	"bulk-scope": "bulk-scope-selected", "bulk-action": "bulk-action-select", "bulk-assignee": "bulk-assignee-input",
	"bulk-department": "bulk-to", "bulk-keep": "bulk-keep-keep", "bulk-status": "bulk-status-select", "bulk-note": "bulk-note-input",
}

// BulkSummary is the summary of the bulk form sent, if it was refused.
func (d queueData) BulkSummary() *errorSummary {
	if d.Bulk.Message == "" {
		return nil
	}
	return &errorSummary{Message: d.Bulk.Message, Href: cmp.Or(bulkFieldIDs[d.Bulk.Field], "bulk-form"), Lead: "Nothing was changed."}
}

// Ticked says whether ref was ticked in the bulk form sent.
func (d queueData) Ticked(ref string) bool { return slices.Contains(d.Bulk.Values["ref"], ref) }

// queue serves GET /cases: the work queue from the read model, filtered,
// sorted and paged.
func (con *console) queue(c *gin.Context) {
	con.showQueue(c, readQueueFilters(c), formState{})
}

// showQueue renders the work queue with filters f. bulk, when it was sent,
// is the bulk form refused for a mistake: the queue shows it again, filled
// in as sent, with an error summary at the top (status 422).
func (con *console) showQueue(c *gin.Context, f queueFilters, bulk formState) {
	now := con.deps.Now()
	d := queueData{Filters: f, Statuses: statusOptions(), Departments: con.departmentOptions(), ServiceGroups: con.serviceGroups(),
		Levels: con.escalationLevels(), Sources: sourceOptions(),
		RequestID: randomID(), Transfers: con.transferGroups(), MaxAssignee: cases.MaxLabel, Bulk: bulk}
	d.FilterQuery = strings.TrimPrefix(f.url(1), "/cases?")
	d.BulkOpen = c.Query("bulk") != "" || bulk.Values != nil
	d.HasMap, d.MapURL = con.deps.Areas != nil, strings.Replace(f.url(1), "/cases?", "/cases/map?", 1)
	if con.deps.Areas != nil {
		d.Areas = con.deps.Areas.Names()
	}
	status, live := http.StatusOK, c.Request.URL.RequestURI()
	if bulk.Values != nil {
		status, live = http.StatusUnprocessableEntity, f.url(f.Page)
		// The same request id: the form sent again once put right is the one change.
		d.RequestID = cmp.Or(bulk.Value("request_id"), d.RequestID)
	}
	v := view{Nav: "cases", Data: &d, Live: &liveView{Mode: "queue", Department: f.Department, URL: live}}
	q, field, why := f.listQuery(now)
	if why != "" {
		d.Field, d.Message = field, why
		con.render(c, http.StatusUnprocessableEntity, "cases", v)
		return
	}
	who(c).scope(&q)
	page, err := con.deps.ReadModel.List(c.Request.Context(), q)
	if err != nil {
		var ie *cases.InputError
		if errors.As(err, &ie) {
			d.Field, d.Message = ie.Field, fieldSentence(ie.Field, ie.Reason)
			con.render(c, http.StatusUnprocessableEntity, "cases", v)
			return
		}
		con.log.Error("console: list cases", "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "The work queue is not available",
			"The read model did not answer. Try again in a moment.")
		return
	}
	for _, k := range page.Cases {
		d.Rows = append(d.Rows, queueRow{
			Ref: k.Ref, Category: k.Service.Name, Department: cmp.Or(con.departmentName(k.Department), k.Department),
			Team: k.Team, Assignee: k.Assignee, Priority: k.Priority, Status: k.Status,
			Received: k.ReceivedAt, Due: k.DueAt, SLA: badgeOf(k, now),
		})
	}
	d.Total, d.AtLeast = page.Total, page.AtLeast
	d.From, d.To = q.Offset+1, q.Offset+len(d.Rows)
	if len(d.Rows) == 0 && page.Total > 0 {
		d.FirstURL = f.url(1)
	}
	if f.Page > 1 && len(d.Rows) > 0 {
		d.PrevURL = f.url(f.Page - 1)
	}
	if (int64(d.To) < page.Total || page.Next != "") && len(d.Rows) > 0 {
		d.NextURL = f.url(f.Page + 1)
	}
	d.Pages = pageLinks(f, page.Total, page.AtLeast)
	d.SortLabel = "sorted by " + map[string]string{"due": "due time", "received": "time received", "updated": "last update"}[f.Sort] +
		map[string]string{"asc": ", earliest first", "desc": ", latest first"}[f.Order]
	con.render(c, status, "cases", v)
}

// pageLink is one of the numbered page links; Gap marks an ellipsis.
type pageLink struct {
	N       int
	URL     string
	Current bool
	Gap     bool
}

// pageLinks numbers the pages as GOV.UK's pagination does: the first, the
// last, and those either side of the current one, with gaps between. When
// the total is a floor (atLeast: counting stopped), the pages known go on
// past the current one and a gap after them says more follow.
func pageLinks(f queueFilters, total int64, atLeast bool) []pageLink {
	last := int(min((total+queuePageSize-1)/queuePageSize, maxPage))
	more := false
	if atLeast {
		last = min(max(last, f.Page+2), maxPage)
		more = last < maxPage
	}
	if last <= 1 {
		return nil
	}
	var out []pageLink
	for n := 1; n <= last; n++ {
		if n == 1 || n == last || (n >= f.Page-2 && n <= f.Page+2) {
			out = append(out, pageLink{N: n, URL: f.url(n), Current: n == f.Page})
		} else if len(out) > 0 && !out[len(out)-1].Gap {
			out = append(out, pageLink{Gap: true})
		}
	}
	if more {
		out = append(out, pageLink{Gap: true})
	}
	return out
}

// escalationLevels are the names of every policy's escalation levels, in
// order of first appearance.
func (con *console) escalationLevels() []string {
	var out []string
	for _, p := range con.cfg.SLA.Policies {
		for _, l := range p.Escalation {
			if l.Name != "" && !slices.Contains(out, l.Name) {
				out = append(out, l.Name)
			}
		}
	}
	return out
}

func sourceOptions() []option {
	out := make([]option, len(sources))
	for i, s := range sources {
		out[i] = option{string(s), upperFirst(strings.TrimPrefix(cmp.Or(sourceLabels[s], string(s)), "through "))}
	}
	return out
}

func statusOptions() []option {
	out := make([]option, len(cases.Statuses))
	for i, s := range cases.Statuses {
		out[i] = option{string(s), s.Label()}
	}
	return out
}

func (con *console) departmentOptions() []option {
	out := make([]option, len(con.cfg.Departments))
	for i, d := range con.cfg.Departments {
		out[i] = option{d.Code, d.Name}
	}
	return out
}

// serviceGroups is the catalogue by group, in the configuration's order.
func (con *console) serviceGroups() []optionGroup {
	var out []optionGroup
	for _, svc := range con.cfg.Services {
		label := cmp.Or(svc.Group, "Other")
		i := slices.IndexFunc(out, func(g optionGroup) bool { return g.Label == label })
		if i < 0 {
			out = append(out, optionGroup{Label: label})
			i = len(out) - 1
		}
		out[i].Options = append(out[i].Options, option{svc.Code, svc.Name})
	}
	return out
}

// transferGroups are the places a case can be sent: each department as a
// whole, and each of its teams ("department/team").
func (con *console) transferGroups() []optionGroup {
	out := make([]optionGroup, len(con.cfg.Departments))
	for i, d := range con.cfg.Departments {
		out[i] = optionGroup{Label: d.Name, Options: []option{{d.Code, d.Name + ", no team"}}}
		for _, t := range d.Teams {
			out[i].Options = append(out[i].Options, option{d.Code + "/" + t, t})
		}
	}
	return out
}

// formState is a case page form as it was sent, when the page shows it again
// with a message. Values is nil for a form that was not sent.
type formState struct {
	Name    string
	Values  url.Values
	Field   string // the field at fault, if one is
	Message string
}

// Value is what was typed in a field.
func (f formState) Value(k string) string { return f.Values.Get(k) }

// Or is what was typed in a field, or def if the form was not sent.
func (f formState) Or(k, def string) string {
	if f.Values == nil {
		return def
	}
	return f.Values.Get(k)
}

// Checked says whether a checkbox was ticked, or def if the form was not sent.
func (f formState) Checked(k string, def bool) bool {
	if f.Values == nil {
		return def
	}
	return f.Values.Get(k) != ""
}

// Invalid says whether the message is about field k.
func (f formState) Invalid(k string) bool { return f.Message != "" && f.Field == k }

type attributeView struct {
	Label  string
	Values []string
}

// reportView is a report with what the page shows worked out.
type reportView struct {
	cases.Report
	Via        string // how it came, in words
	Name       string
	Where      string
	Point      string
	MapURL     string
	Attributes []attributeView
	Media      []string
}

type entryView struct {
	At     time.Time
	What   string
	Actor  string
	Note   string
	Public bool
}

type caseData struct {
	Case           *cases.Case
	Ref            string
	SLA            slaBadge
	Stale          bool // from the read model: the engine did not answer
	Retired        bool // finished, and Temporal no longer keeps it: read-only
	Map            *svgMap
	DepartmentName string
	Reports        []reportView
	Timeline       []entryView // newest first
	Statuses       []option
	Transfers      []optionGroup
	ServiceGroups  []optionGroup
	MaxNote        int
	MaxAssignee    int
	ToTriage       string
	Priorities     []cases.Priority
	// RequestID makes a form sent twice (a double click, the back button)
	// change the case once.
	RequestID string
	sent      formState
	// Partner is the hand-off to a partner agency, if any; Links the
	// duplicates part of the page.
	Partner *partnerView
	Links   linkData
}

// Form is the named form as it was sent, or an empty one.
func (d caseData) Form(name string) formState {
	if d.sent.Name == name {
		return d.sent
	}
	return formState{Name: name}
}

// errorSummary is the message at the top of a page shown again with a
// mistake, linking to the field at fault (or its form).
type errorSummary struct {
	Message, Href string
	Lead          string // said under the title, before the message
}

// fieldIDs are the case page's field ids by form and field.
var fieldIDs = map[string]map[string]string{
	"status":   {"status": "status-to", "note": "status-note", "": "status-form"},
	"note":     {"note": "note-text", "": "note-form"},
	"assign":   {"assignee": "assignee", "note": "assign-note", "": "assign-form"},
	"priority": {"priority": "priority", "note": "priority-note", "": "priority-form"},
	"transfer": {"to": "transfer-to", "department": "transfer-to", "team": "transfer-to", "assignee": "transfer-assignee-keep",
		"note": "transfer-note", "": "transfer-form"},
	"category": {"service_code": "category-service", "note": "category-note", "": "category-form"},
	"merge":    {"parent": "merge-parent", "note": "merge-note", "": "merge-form"},
	"confirm":  {"": "confirm-form"},
	"undo":     {"note": "undo-note", "": "undo-form"},
}

// ErrorSummary is the summary of the form sent, if it was refused.
func (d caseData) ErrorSummary() *errorSummary {
	f := d.sent
	if f.Message == "" {
		return nil
	}
	if f.Name == "ack" {
		return &errorSummary{Message: f.Message, Href: "ack-note-" + f.Value("seq")}
	}
	ids := fieldIDs[f.Name]
	href := cmp.Or(ids[f.Field], ids[""], "main")
	if f.Name == "transfer" && f.Field == "assignee" && f.Value("assigned") == "" {
		href = ids[""]
	}
	return &errorSummary{Message: f.Message, Href: href}
}

// AckForm is the acknowledge form of escalation seq.
func (d caseData) AckForm(seq int) formState {
	if d.sent.Name == "ack" && d.sent.Value("seq") == strconv.Itoa(seq) {
		return d.sent
	}
	return formState{Name: "ack"}
}

// caseRef reads the reference in the path, answering 404 if it cannot be one.
func (con *console) caseRef(c *gin.Context) (string, bool) {
	prefix := con.cfg.Council.RefPrefix
	ref := cases.NormalizeRef(prefix, c.Param("ref"))
	if !cases.ValidRef(prefix, ref) {
		con.errorPage(c, http.StatusNotFound, "No such case",
			fmt.Sprintf("%q is not a case reference: they look like %s7KQ2M9.", c.Param("ref"), prefix), "/cases", "Work queue")
		return "", false
	}
	return ref, true
}

// done are the messages a case page shows after a change (?done=).
var caseDone = map[string]string{
	"status": "The status was changed.", "note": "The note was added.", "assign": "The assignment was changed.",
	"transfer": "The case was transferred.", "category": "The case was recategorised and routed again.",
	"ack": "The escalation was acknowledged.", "priority": "The priority was changed.",
	"merge": "The case was merged into its parent.", "confirm": "The duplicate was confirmed.", "undo": "The case is its own again.",
}

func (con *console) casePage(c *gin.Context) {
	if ref, ok := con.caseRef(c); ok {
		con.showCase(c, http.StatusOK, ref, formState{})
	}
}

// showCase draws the case page, with the form sent if it is shown again.
func (con *console) showCase(c *gin.Context, status int, ref string, sent formState) {
	ctx := c.Request.Context()
	k, from, err := con.staffCase(ctx, ref)
	switch {
	case errors.Is(err, cases.ErrNotFound):
		con.errorPage(c, http.StatusNotFound, "No such case", "There is no case "+ref+".", "/cases", "Work queue")
		return
	case err != nil:
		con.log.Error("console: read case", "ref", ref, "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "The case is not available",
			"Neither the case engine nor the read model answered. Try again in a moment.")
		return
	}
	d := con.caseData(k, from, sent)
	d.Partner, d.Links = con.partnerView(k), con.linkView(ctx, k)
	v := view{Nav: "cases", Data: d, Live: &liveView{Mode: "case", Ref: ref, Version: k.Version, URL: "/cases/" + ref}}
	if sent.Name == "" {
		v.Flash = caseDone[c.Query("done")]
	}
	con.render(c, status, "case", v)
}

func (con *console) caseData(k *cases.Case, from caseSource, sent formState) caseData {
	d := caseData{
		Case: k, Ref: k.Ref, SLA: badgeOf(k, con.deps.Now()), Stale: from == fromReadModel, Retired: from == fromRetired,
		DepartmentName: cmp.Or(con.departmentName(k.Department), k.Department, "no department yet"),
		Statuses:       statusOptions(), Transfers: con.transferGroups(), ServiceGroups: con.serviceGroups(),
		MaxNote: cases.MaxNote, MaxAssignee: cases.MaxLabel, ToTriage: toTriage, Priorities: cases.Priorities, RequestID: randomID(), sent: sent,
		Map: con.caseMap(k),
	}
	for _, r := range k.Reports {
		d.Reports = append(d.Reports, con.reportView(k, r))
	}
	for i := len(k.Timeline) - 1; i >= 0; i-- {
		d.Timeline = append(d.Timeline, timelineEntry(k.Timeline[i]))
	}
	return d
}

func (con *console) reportView(k *cases.Case, r cases.Report) reportView {
	v := reportView{Report: r, Media: r.MediaURLs, Via: cmp.Or(sourceLabels[r.Source], "from "+string(r.Source)),
		Name: strings.TrimSpace(r.Reporter.FirstName + " " + r.Reporter.LastName)}
	l := r.Location
	var where []string
	for _, s := range []string{l.Address, l.ClosestAddress, l.Zipcode} {
		if s != "" && !slices.Contains(where, s) {
			where = append(where, s)
		}
	}
	v.Where = strings.Join(where, ", ")
	if l.HasPoint() {
		v.Point = fmt.Sprintf("%.5f, %.5f", *l.Lat, *l.Long)
		v.MapURL = fmt.Sprintf("https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f#map=18/%.6f/%.6f", *l.Lat, *l.Long, *l.Lat, *l.Long)
	}
	// The service's questions first, in its order and in its words; then any
	// other answers the report carried.
	svc, _ := con.cfg.Service(cmp.Or(r.ServiceCode, k.Service.Code))
	attrs := slices.Clone(svc.Attributes)
	slices.SortStableFunc(attrs, func(a, b config.Attribute) int { return cmp.Compare(a.Order, b.Order) })
	seen := map[string]bool{}
	for _, a := range attrs {
		if vals, ok := r.Attributes[a.Code]; ok {
			v.Attributes = append(v.Attributes, attributeView{Label: cmp.Or(a.Description, a.Code), Values: vals})
			seen[a.Code] = true
		}
	}
	var rest []string
	for code := range r.Attributes {
		if !seen[code] {
			rest = append(rest, code)
		}
	}
	slices.Sort(rest)
	for _, code := range rest {
		v.Attributes = append(v.Attributes, attributeView{Label: code, Values: r.Attributes[code]})
	}
	return v
}

var sourceLabels = map[cases.Source]string{
	cases.SourceFixMyStreet: "through FixMyStreet", cases.SourceOpen311: "through an Open311 client",
	cases.SourcePhone: "by phone", cases.SourceWeb: "on the web", cases.SourceStaff: "from staff",
}

var kindLabels = map[cases.Kind]string{
	cases.KindReceived: "Report received", cases.KindRouted: "Routed", cases.KindStatus: "Status changed",
	cases.KindComment: "Note", cases.KindCitizen: "Update from the citizen", cases.KindReopened: "Reopened",
	cases.KindEscalation: "Escalated", cases.KindAssigned: "Assigned", cases.KindReport: "Another report merged in",
	cases.KindTransferred: "Transferred", cases.KindRecategorised: "Recategorised", cases.KindAcknowledged: "Escalation acknowledged",
}

func timelineEntry(e cases.Entry) entryView {
	v := entryView{At: e.At, Actor: web.Actor(e.Actor), Note: e.Note, Public: e.Public,
		What: cmp.Or(kindLabels[e.Kind], upperFirst(strings.ReplaceAll(string(e.Kind), "_", " ")))}
	if e.From != "" && e.To != "" {
		v.What += ": " + e.From.Label() + " → " + e.To.Label()
	}
	if v.Note == v.What {
		v.Note = ""
	}
	return v
}

// changeCall is a change to a case, ready to send to the engine.
type changeCall func(ctx context.Context, ref, requestID string) (*cases.Case, error)

// caseChange serves one of the case page's forms. build reads the form into
// the engine call, or names the field at fault and why. A change made sends
// the browser back to the case page; one refused shows the page again with
// the message and what was typed.
func (con *console) caseChange(form string, c *gin.Context, build func(f url.Values, actor string) (call changeCall, field, why string)) {
	ref, ok := con.caseRef(c)
	if !ok {
		return
	}
	f := c.Request.PostForm
	sent := formState{Name: form, Values: f}
	if c.GetBool(formTooLarge) {
		sent.Message = fmt.Sprintf("The form was larger than the %d KiB any change needs, so nothing was changed. A note takes at most %d characters.",
			maxCaseForm>>10, cases.MaxNote)
		con.showCase(c, http.StatusRequestEntityTooLarge, ref, sent)
		return
	}
	call, field, why := build(f, "staff:"+who(c).Name)
	if call == nil {
		sent.Field, sent.Message = field, why
		con.showCase(c, http.StatusUnprocessableEntity, ref, sent)
		return
	}
	if _, err := call(c.Request.Context(), ref, con.requestID(c, form)); err != nil {
		var status int
		status, sent.Field, sent.Message = con.changeProblem(c.Request.Context(), ref, err)
		con.showCase(c, status, ref, sent)
		return
	}
	c.Redirect(http.StatusSeeOther, "/cases/"+ref+"?done="+form)
}

// requestID is the engine's update ID for a form: the id the page gave it,
// scoped to the session and the form (updateID), so that no one else's can
// collide with it.
func (con *console) requestID(c *gin.Context, form string) string {
	id := c.Request.PostForm.Get("request_id")
	if len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
		return ""
	}
	return updateID("console", c.MustGet(sessionKey).(accounts.Session).ID, operation(c, form), id)
}

// changeProblem is how a refused change reads on the page.
func (con *console) changeProblem(ctx context.Context, ref string, err error) (status int, field, msg string) {
	var ie *cases.InputError
	var te *cases.TransitionError
	switch {
	case errors.As(err, &ie):
		return http.StatusUnprocessableEntity, ie.Field, fieldSentence(ie.Field, ie.Reason)
	case errors.As(err, &te):
		return http.StatusConflict, "status", "That change is not allowed: " + te.Reason + "."
	case errors.Is(err, cases.ErrNotFound) && con.retired(ctx, ref):
		return http.StatusConflict, "", upperFirst(retiredReason(ref)) + "."
	case errors.Is(err, cases.ErrNotFound):
		return http.StatusNotFound, "", "There is no case " + ref + "."
	case errors.Is(err, cases.ErrFinished):
		return http.StatusConflict, "", fmt.Sprintf("This case was closed more than %s ago and can no longer be changed; open a new case.",
			humanDuration(time.Duration(con.cfg.Cases.ReopenWindow)))
	}
	con.log.Error("console: change case", "ref", ref, "error", err)
	return http.StatusServiceUnavailable, "", "The case engine did not answer, so nothing was changed. Try again in a moment."
}

var fieldNames = map[string]string{"service_code": "category", "seq": "escalation"}

// fieldSentence makes a domain error's reason a sentence: "is empty" on
// field note reads "The note is empty."
func fieldSentence(field, reason string) string {
	for _, verb := range []string{"is ", "are ", "has ", "contains "} {
		if strings.HasPrefix(reason, verb) {
			return "The " + cmp.Or(fieldNames[field], strings.ReplaceAll(field, "_", " ")) + " " + reason + "."
		}
	}
	return upperFirst(reason) + "."
}

func (con *console) changeStatus(c *gin.Context) {
	con.caseChange("status", c, func(f url.Values, actor string) (changeCall, string, string) {
		v := f.Get("status")
		if v == "" {
			return nil, "status", "Choose the status to move the case to."
		}
		to, err := cases.ParseStatus(v)
		if err != nil {
			return nil, "status", fmt.Sprintf("%q is not a status; choose one from the list.", clip(v))
		}
		ch := cases.Change{To: to, Note: f.Get("note"), Public: f.Get("public") != "", Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Transition(ctx, ref, ch, id)
		}, "", ""
	})
}

func (con *console) addNote(c *gin.Context) {
	con.caseChange("note", c, func(f url.Values, actor string) (changeCall, string, string) {
		if strings.TrimSpace(f.Get("note")) == "" {
			return nil, "note", "Write the note first."
		}
		cm := cases.Comment{Note: f.Get("note"), Public: f.Get("public") != "", Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Comment(ctx, ref, cm, id)
		}, "", ""
	})
}

func (con *console) assign(c *gin.Context) {
	con.caseChange("assign", c, func(f url.Values, actor string) (changeCall, string, string) {
		a := cases.Assignment{Assignee: strings.TrimSpace(f.Get("assignee")), Note: f.Get("note"), Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Assign(ctx, ref, a, id)
		}, "", ""
	})
}

// prioritise changes how pressing a case is.
func (con *console) prioritise(c *gin.Context) {
	con.caseChange("priority", c, func(f url.Values, actor string) (changeCall, string, string) {
		pr := cases.Priority(f.Get("priority"))
		if !pr.Valid() {
			return nil, "priority", "Choose a priority."
		}
		p := cases.Prioritisation{Priority: pr, Note: f.Get("note"), Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Prioritise(ctx, ref, p, id)
		}, "", ""
	})
}

// toTriage is the transfer form's choice to send a case back to triage; it
// cannot be a department code, which has no brackets.
const toTriage = "(triage)"

// transfer sends a case to a department, a team of one ("department/team"),
// or back to triage.
func (con *console) transfer(c *gin.Context) {
	con.caseChange("transfer", c, func(f url.Values, actor string) (changeCall, string, string) {
		to := f.Get("to")
		if to == "" {
			return nil, "to", "Choose where to send the case."
		}
		dept, team, _ := strings.Cut(to, "/")
		if to == toTriage {
			dept, team = "", ""
		}
		t, ie := con.transferTo(dept, team, f.Get("note"), actor)
		if ie != nil {
			return nil, ie.Field, ie.Reason + "; choose one from the list."
		}
		// Whoever the case is assigned to is kept or let go only when the
		// form says which (it asks whenever the case has an assignee).
		switch f.Get("assignee") {
		case "keep":
			t.KeepAssignee = true
		case "clear":
		case "":
			if dept != "" && f.Get("assigned") != "" {
				return nil, "assignee", "Choose whether " + clip(f.Get("assigned")) + " stays assigned after the transfer."
			}
		default:
			return nil, "assignee", "Choose to keep or clear the assignee."
		}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Transfer(ctx, ref, t, id)
		}, "", ""
	})
}

func (con *console) recategorise(c *gin.Context) {
	con.caseChange("category", c, func(f url.Values, actor string) (changeCall, string, string) {
		rc, ie := con.recategoriseTo(f.Get("service"), f.Get("note"), actor)
		if ie != nil {
			return nil, ie.Field, ie.Reason + "; choose one from the list."
		}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Recategorise(ctx, ref, rc, id)
		}, "", ""
	})
}

func (con *console) acknowledge(c *gin.Context) {
	seq, err := strconv.Atoi(c.Param("seq"))
	if err != nil || seq < 1 {
		con.errorPage(c, http.StatusNotFound, "No such escalation", "Escalations are numbered from 1.")
		return
	}
	c.Request.PostForm.Set("seq", strconv.Itoa(seq)) // so the page shows the message by the right escalation
	con.caseChange("ack", c, func(f url.Values, actor string) (changeCall, string, string) {
		a := cases.Acknowledgement{Seq: seq, Note: f.Get("note"), Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Cases.Acknowledge(ctx, ref, a, id)
		}, "", ""
	})
}
