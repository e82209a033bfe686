// Package cases is casebridge's domain: reports, cases, statuses and the rules for
// moving a case through its life. It knows nothing of Temporal, HTTP or Redis; the
// workflow, the API and the read model all speak its types.
package cases

import (
	"slices"
	"strconv"
	"time"
)

// Source says how a report reached the council.
type Source string

// The intake channels a rule can tell apart.
const (
	SourceFixMyStreet Source = "fixmystreet"
	SourceOpen311     Source = "open311" // any other Open311 client
	SourcePhone       Source = "phone"
	SourceWeb         Source = "web"
	SourceStaff       Source = "staff"
)

// Reporter is the person who sent a report. It is personal data: it is kept in the
// case and shown to staff, never written to logs and never published.
type Reporter struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	// Type is the kind of reporter ("public", "staff", "councillor", ...) for rules.
	Type string `json:"type,omitempty"`
}

// Location is where a problem is. Any of its parts may be missing, but intake
// requires a point, an address or an address id.
type Location struct {
	Lat            *float64 `json:"lat,omitempty"`
	Long           *float64 `json:"long,omitempty"`
	Easting        *float64 `json:"easting,omitempty"`
	Northing       *float64 `json:"northing,omitempty"`
	Address        string   `json:"address,omitempty"`
	AddressID      string   `json:"address_id,omitempty"`
	Zipcode        string   `json:"zipcode,omitempty"`
	ClosestAddress string   `json:"closest_address,omitempty"`
}

// HasPoint reports whether the location has WGS84 coordinates.
func (l Location) HasPoint() bool { return l.Lat != nil && l.Long != nil }

// Report is what one citizen sent. A case holds one or more reports; merging
// duplicates re-points reports to another case, it never copies them.
type Report struct {
	// IntakeKey identifies the submission for idempotent intake, e.g.
	// "fixmystreet:12345". The same key always yields the same case.
	IntakeKey   string     `json:"intake_key"`
	Source      Source     `json:"source"`
	ExternalID  string     `json:"external_id,omitempty"` // FixMyStreet's report id
	ServiceCode string     `json:"service_code"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	Location    Location   `json:"location"`
	MediaURLs   []string   `json:"media_urls,omitempty"`
	ReportURL   string     `json:"report_url,omitempty"`
	Reporter    Reporter   `json:"reporter"`
	Attributes  Attributes `json:"attributes,omitempty"`
	// Jurisdiction is the Open311 jurisdiction_id it was sent to, if any.
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
}

// Attributes are the answers to a service's questions (Open311 attribute[code]).
// Multi-value list answers keep every value.
type Attributes map[string][]string

// Get returns the first value of code, or "".
func (a Attributes) Get(code string) string {
	if v := a[code]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Service is the category a case is filed under.
type Service struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
}

// Decision is the outcome of routing a case: who owns it and on what terms, and why.
// It is recorded in the case so anyone can say which rule sent a case where.
type Decision struct {
	RuleSet         string    `json:"rule_set"`
	Version         int       `json:"version"`
	RuleID          string    `json:"rule_id"`
	RuleTitle       string    `json:"rule_title,omitempty"`
	Department      string    `json:"department"`
	Team            string    `json:"team,omitempty"`
	Partner         string    `json:"partner,omitempty"`
	Priority        Priority  `json:"priority"`
	SLAPolicy       string    `json:"sla_policy,omitempty"`
	Tags            []string  `json:"tags,omitempty"`
	DuplicateRadius int       `json:"duplicate_radius_m,omitempty"`
	HoldForTriage   bool      `json:"hold_for_triage,omitempty"`
	Explanation     []string  `json:"explanation,omitempty"`
	Facts           Facts     `json:"facts,omitempty"`
	Tried           []Miss    `json:"tried,omitempty"`
	Error           string    `json:"error,omitempty"` // a rule failed at run time; the default route was taken
	DecidedAt       time.Time `json:"decided_at"`
}

// Facts are the values routing looked at, kept for the explanation.
type Facts map[string]any

// Miss records a rule that was tried before the one that matched, and why it did not.
type Miss struct {
	RuleID string `json:"rule_id"`
	Reason string `json:"reason"`
}

// Priority orders work within a queue.
type Priority string

// The priorities, most pressing first.
const (
	PriorityUrgent Priority = "urgent"
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// Priorities lists every priority, most pressing first.
var Priorities = []Priority{PriorityUrgent, PriorityHigh, PriorityNormal, PriorityLow}

// Valid reports whether p is one of Priorities.
func (p Priority) Valid() bool {
	for _, q := range Priorities {
		if p == q {
			return true
		}
	}
	return false
}

func (p Priority) String() string { return string(p) }

// Kind says what a timeline entry records.
type Kind string

// Timeline entry kinds.
const (
	KindReceived   Kind = "received"
	KindRouted     Kind = "routed"
	KindStatus     Kind = "status"
	KindComment    Kind = "comment"
	KindCitizen    Kind = "citizen_update"
	KindReopened   Kind = "reopened"
	KindEscalation Kind = "escalation"
	KindAssigned   Kind = "assigned"
	KindReport     Kind = "report_added"
	// KindTransferred, KindRecategorised and KindAcknowledged record staff
	// moving a case, filing it under another service, and acknowledging an
	// escalation.
	KindTransferred   Kind = "transferred"
	KindRecategorised Kind = "recategorised"
	KindAcknowledged  Kind = "acknowledged"
	KindPrioritised   Kind = "prioritised"
)

// Entry is one line of a case's timeline: who did what, when, and whether the
// citizen can see it. Entries are only ever appended.
type Entry struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Kind   Kind      `json:"kind"`
	From   Status    `json:"from,omitempty"`
	To     Status    `json:"to,omitempty"`
	Note   string    `json:"note,omitempty"`
	Public bool      `json:"public"`
	// ExternalID is the id a partner system gave this change (e.g. FixMyStreet's
	// update_id), so a resent change is recognised.
	ExternalID string `json:"external_id,omitempty"`
	// ChangeID is the back-office change this entry applied
	// ("<system>:<change id>"), so a change arriving again is applied once.
	ChangeID string `json:"change_id,omitempty"`
	// ExternalStatusCode is the back office's own status code behind the
	// entry, published to FixMyStreet as external_status_code.
	ExternalStatusCode string `json:"external_status_code,omitempty"`
}

// UpdateID is the stable Open311 update_id of a public entry.
func (e Entry) UpdateID(ref string) string { return ref + "-" + strconv.Itoa(e.Seq) }

// Case is the unit of work staff own: the reports it holds, who owns it, where it
// stands and everything that happened to it.
type Case struct {
	Ref        string   `json:"ref"`
	Status     Status   `json:"status"`
	Service    Service  `json:"service"`
	Reports    []Report `json:"reports"`
	Department string   `json:"department"`
	Team       string   `json:"team,omitempty"`
	Partner    string   `json:"partner,omitempty"`
	// DuplicateOf is the reference of the case this one duplicates, if any;
	// DuplicateLink says when, by whom and whether it was confirmed.
	DuplicateOf   string `json:"duplicate_of,omitempty"`
	DuplicateLink *Link  `json:"duplicate_link,omitempty"`
	// Duplicates are the cases linked to this one as duplicates.
	Duplicates []Link `json:"duplicates,omitempty"`
	// Handoff is the case's latest hand-off to a partner agency, if any.
	Handoff    *Handoff  `json:"handoff,omitempty"`
	Assignee   string    `json:"assignee,omitempty"`
	Priority   Priority  `json:"priority"`
	Routing    *Decision `json:"routing,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// DueAt is when the council promised to resolve the case; zero when unknown.
	DueAt    time.Time  `json:"due_at,omitzero"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	// Promise is the SLA the case runs against; nil when no policy applies.
	Promise *Promise `json:"promise,omitempty"`
	// ServiceNotice is the expected action published with the case.
	ServiceNotice string  `json:"service_notice,omitempty"`
	Timeline      []Entry `json:"timeline"`
	// Waits lists the outside systems the case is held up by, if any.
	Waits []Wait `json:"waits,omitempty"`
	// Job is the case's record in its department's back office, if it has one.
	Job *Job `json:"job,omitempty"`
	// PastJobs are jobs that no longer serve the case: withdrawn from back
	// offices (the case moved on), or closed there before the case reopened.
	PastJobs []Job `json:"past_jobs,omitempty"`
	// Version counts changes; the read model keeps only the newest version it saw.
	Version int64 `json:"version"`
}

// Clone returns a copy of the case that shares nothing mutable with it.
func (c *Case) Clone() *Case {
	d := *c
	d.Reports = slices.Clone(c.Reports)
	d.Timeline = slices.Clone(c.Timeline)
	d.Waits = slices.Clone(c.Waits)
	if c.Routing != nil {
		r := *c.Routing
		d.Routing = &r
	}
	if c.Handoff != nil {
		h := *c.Handoff
		d.Handoff = &h
	}
	if c.DuplicateLink != nil {
		l := *c.DuplicateLink
		d.DuplicateLink = &l
	}
	d.Duplicates = slices.Clone(c.Duplicates)
	if c.ClosedAt != nil {
		t := *c.ClosedAt
		d.ClosedAt = &t
	}
	if c.Job != nil {
		j := *c.Job
		d.Job = &j
	}
	d.PastJobs = slices.Clone(c.PastJobs)
	if c.Promise != nil {
		p := *c.Promise
		p.Escalations = slices.Clone(p.Escalations)
		d.Promise = &p
	}
	return &d
}

// Report returns the first report, the one that opened the case.
func (c *Case) Report() Report {
	if len(c.Reports) == 0 {
		return Report{}
	}
	return c.Reports[0]
}

// Open311Status is the case's base Open311 status.
func (c *Case) Open311Status() string { return c.Status.Open311() }

// LastPublicNote is the most recent public note, used as Open311 status_notes.
func (c *Case) LastPublicNote() string {
	for i := len(c.Timeline) - 1; i >= 0; i-- {
		if e := c.Timeline[i]; e.Public && e.Note != "" {
			return e.Note
		}
	}
	return ""
}

// FindExternal returns the entry that recorded the external change id, if any.
func (c *Case) FindExternal(id string) (Entry, bool) {
	if id == "" {
		return Entry{}, false
	}
	for _, e := range c.Timeline {
		if e.ExternalID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// Append adds an entry to the timeline, numbering it, and marks the case changed.
func (c *Case) Append(e Entry) Entry {
	e.Seq = len(c.Timeline) + 1
	c.Timeline = append(c.Timeline, e)
	c.UpdatedAt = e.At
	c.Version++
	return e
}

// Update is a public change to a case, as published to FixMyStreet in the Open311
// servicerequestupdates feed.
type Update struct {
	ID          string    `json:"update_id"`
	Ref         string    `json:"service_request_id"`
	Status      Status    `json:"status"` // the public status after the change
	At          time.Time `json:"updated_datetime"`
	Description string    `json:"description"`
	// ExternalStatusCode is the back office's code behind the change, if a
	// back office made it.
	ExternalStatusCode string `json:"external_status_code,omitempty"`
}

// PublicUpdates lists the case's public changes, oldest first, each with a stable
// id. Changes that came from the citizen's own client (they carry an ExternalID)
// are left out so FixMyStreet does not show its own comments twice.
func (c *Case) PublicUpdates() []Update {
	var out []Update
	status := StatusOpen
	for _, e := range c.Timeline {
		if e.To != "" {
			status = e.To
		}
		if !e.Public || e.ExternalID != "" {
			continue
		}
		switch e.Kind {
		case KindStatus, KindReopened, KindComment, KindEscalation:
		default:
			continue
		}
		out = append(out, Update{ID: e.UpdateID(c.Ref), Ref: c.Ref, Status: status.Public(), At: e.At, Description: e.Note, ExternalStatusCode: e.ExternalStatusCode})
	}
	return out
}

// New opens a case for a report at now, before it is routed.
func New(ref string, rep Report, svc Service, now time.Time) *Case {
	c := &Case{
		Ref:        ref,
		Status:     StatusOpen,
		Service:    svc,
		Reports:    []Report{rep},
		Priority:   PriorityNormal,
		ReceivedAt: rep.ReceivedAt,
	}
	if c.ReceivedAt.IsZero() {
		c.ReceivedAt = now
	}
	c.Append(Entry{At: c.ReceivedAt, Actor: string(rep.Source), Kind: KindReceived, To: StatusOpen, Note: "Report received", Public: true})
	return c
}

// Kept says what people decided about a case while routing was under way:
// who moved it to its department, and who set its priority. The rules' answer
// does not undo either; it is recorded as advice.
type Kept struct {
	Department string `json:"department,omitempty"`
	Priority   string `json:"priority,omitempty"`
}

// Route records a routing decision: the case's new owner and priority, and an
// internal timeline entry saying which rule sent it there. A decision to hold
// the case for manual triage moves an open case to for_triage.
func (c *Case) Route(d Decision, now time.Time) { c.RouteKeeping(d, Kept{}, now) }

// RouteKeeping records a routing decision that arrived after people had
// already decided part of it: what they chose stands, and the timeline says
// what the rules advised instead.
func (c *Case) RouteKeeping(d Decision, k Kept, now time.Time) {
	if d.DecidedAt.IsZero() {
		d.DecidedAt = now
	}
	c.Routing = &d
	where := d.Department
	if d.Team != "" {
		where += " / " + d.Team
	}
	if d.RuleID != "" {
		where += " by rule " + d.RuleID
		if d.Version > 0 {
			where += " (" + d.RuleSet + " v" + strconv.Itoa(d.Version) + ")"
		}
	}
	note := "Routed to " + where
	if k.Department == "" {
		c.Department, c.Team, c.Partner = d.Department, d.Team, d.Partner
	} else {
		note = "Routing advised " + where + "; kept with " + c.Department + ", where " + k.Department + " moved it"
	}
	if k.Priority == "" && d.Priority.Valid() {
		c.Priority = d.Priority
	} else if k.Priority != "" && d.Priority.Valid() && d.Priority != c.Priority {
		note += "; priority stays " + string(c.Priority) + ", as " + k.Priority + " set it (rules said " + string(d.Priority) + ")"
	}
	if d.Error != "" {
		note += "; " + d.Error
	}
	c.Append(Entry{At: now, Actor: "routing", Kind: KindRouted, Note: note})
	if d.HoldForTriage && k.Department == "" && c.Status == StatusOpen {
		c.Apply(Change{To: StatusForTriage, Note: "Held for manual triage", Actor: "routing"}, now)
	}
}
