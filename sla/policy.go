// Package sla is casebridge's promise-keeping arithmetic: SLA policies, the clocks
// each case runs against them, when a case falls due, and which rung of its
// escalation ladder fires next and when.
//
// Everything here is a pure function of its arguments (the current time is always
// passed in, never read), and all state is plain data with JSON tags, so the case
// workflow can call it during replay and carry it across continue-as-new.
package sla

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/cases"
)

// Unit is what a target is counted in.
type Unit string

// The units of a target. Working units count only the calendar's working hours;
// calendar units count every second.
const (
	WorkingDays  Unit = "working_days"  // calendar.AddDays: same time of day, n working days on
	WorkingHours Unit = "working_hours" // calendar.Add
	// CalendarDays keeps the wall-clock time, so a day across a clock change is 23 or 25 hours.
	CalendarDays    Unit = "calendar_days"
	CalendarHours   Unit = "calendar_hours"
	CalendarMinutes Unit = "calendar_minutes"
	CalendarSeconds Unit = "calendar_seconds" // for demos and tests
)

// Units lists every unit.
var Units = []Unit{WorkingDays, WorkingHours, CalendarDays, CalendarHours, CalendarMinutes, CalendarSeconds}

// Target is an amount of time in a unit, such as 5 working days.
type Target struct {
	Amount int  `yaml:"amount" json:"amount"`
	Unit   Unit `yaml:"unit" json:"unit"`
}

func (t Target) String() string { return fmt.Sprintf("%d %s", t.Amount, t.Unit) }

// Validate checks that the target is a positive amount of a known unit.
func (t Target) Validate() error {
	if !slices.Contains(Units, t.Unit) {
		return fmt.Errorf("unit %q is not one of %v", t.Unit, Units)
	}
	if t.Amount <= 0 {
		return fmt.Errorf("amount must be positive, not %d", t.Amount)
	}
	return nil
}

// After is the instant the target is reached from `from` on a clock that never
// pauses: for example 5 working days after a report.
func (t Target) After(cal *calendar.Calendar, from time.Time) time.Time {
	b, d := t.measure(cal, from)
	return b.add(from, d)
}

// measure turns the target into an amount of working or calendar time counted
// from `from`. Working days become the working time to the same hour n working
// days on, so a pause can push them back by exactly the working time it took.
func (t Target) measure(cal *calendar.Calendar, from time.Time) (base, time.Duration) {
	n := time.Duration(t.Amount)
	switch t.Unit {
	case WorkingDays:
		return base{cal, true}, cal.Between(from, cal.AddDays(from, t.Amount))
	case WorkingHours:
		return base{cal, true}, n * time.Hour
	case CalendarDays:
		local := from.In(cal.Location())
		return base{cal, false}, local.AddDate(0, 0, t.Amount).Sub(local)
	case CalendarHours:
		return base{cal, false}, n * time.Hour
	case CalendarMinutes:
		return base{cal, false}, n * time.Minute
	default:
		return base{cal, false}, n * time.Second
	}
}

// base is a way of counting time: working time on a calendar, or every second.
type base struct {
	cal     *calendar.Calendar
	working bool
}

func (b base) add(t time.Time, d time.Duration) time.Time {
	if b.working {
		return b.cal.Add(t, d)
	}
	return t.Add(d).In(b.cal.Location())
}

func (b base) between(from, to time.Time) time.Duration {
	if b.working {
		return b.cal.Between(from, to)
	}
	return to.Sub(from)
}

// Policy is a service level: how long the council gives itself to resolve a case,
// when a case counts as due soon, and the escalation ladder it climbs. Routing
// picks a policy by name; a case keeps the version it started with.
type Policy struct {
	Name        string `yaml:"name" json:"name"`
	Version     int    `yaml:"version" json:"version"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Target      Target `yaml:"target" json:"target"`
	// ByPriority gives a case of some priority its own target (urgent potholes
	// in 2 working days, say): a policy per category and priority. When staff
	// or an escalation change a case's priority, its due times and ladder are
	// worked out again from the new target.
	ByPriority map[cases.Priority]Target `yaml:"by_priority,omitempty" json:"by_priority,omitempty"`
	// Warning is the fraction of the target after which a case is due soon
	// (amber on the supervisor's board); zero means DefaultWarning.
	Warning float64 `yaml:"warning,omitempty" json:"warning,omitempty"`
	// Escalation is the ladder, in the order staff read it. Name levels the same
	// way across policies: a case moved to another policy does not repeat a level
	// it has already climbed under the same name.
	Escalation []Level `yaml:"escalation,omitempty" json:"escalation,omitempty"`
	// Dormant, if set, reminds staff of a case nobody has touched for a while.
	Dormant *Dormant `yaml:"dormant,omitempty" json:"dormant,omitempty"`
}

// For is the policy as it applies to a case of the given priority: its target
// replaced by the priority's own, if it has one.
func (p Policy) For(pr cases.Priority) Policy {
	if t, ok := p.ByPriority[pr]; ok {
		p.Target = t
	}
	return p
}

// DefaultWarning is the fraction of the target at which a case becomes due soon
// when the policy does not say.
const DefaultWarning = 0.75

func (p Policy) warning() float64 {
	if p.Warning == 0 {
		return DefaultWarning
	}
	return p.Warning
}

// Level is one rung of an escalation ladder. It fires either when a fraction of
// the target has run (OfTarget: 0.75 warns, 1 is the breach) or a time after the
// breach (AfterBreach), counted on the clock it watches, so pauses push it back.
type Level struct {
	Name string `yaml:"name" json:"name"`
	// Clock is the clock the level watches; empty means the department clock,
	// which restarts on transfer, so the new department climbs the ladder afresh.
	// A level on the citizen clock fires once per case whatever the transfers.
	Clock       ClockName `yaml:"clock,omitempty" json:"clock,omitempty"`
	OfTarget    float64   `yaml:"of_target,omitempty" json:"of_target,omitempty"`
	AfterBreach *Target   `yaml:"after_breach,omitempty" json:"after_breach,omitempty"`
	Actions     `yaml:",inline"`
}

func (l Level) clock() ClockName {
	if l.Clock == "" {
		return Department
	}
	return l.Clock
}

// Dormant is the reminder for a case with no activity for a while. It repeats
// every After while the case stays untouched; waiting states do not stop it
// (a case waiting weeks on a partner is exactly what it is for), closing does.
type Dormant struct {
	After   Target `yaml:"after" json:"after"`
	Actions `yaml:",inline"`
}

// DormantStep is the name of the steps Next returns for the dormant reminder.
const DormantStep = "dormant"

// Actions are what a level does when it fires. The workflow carries them out
// and records each in the case's timeline.
type Actions struct {
	Notify   []Recipient `yaml:"notify,omitempty" json:"notify,omitempty"`
	Reassign *Reassign   `yaml:"reassign,omitempty" json:"reassign,omitempty"`
	// RaisePriority raises the case to at least this priority; it never lowers it.
	RaisePriority cases.Priority `yaml:"raise_priority,omitempty" json:"raise_priority,omitempty"`
	Publish       *Publish       `yaml:"publish,omitempty" json:"publish,omitempty"`
}

// Priority is the case's priority after the actions: the more pressing of the
// current one and RaisePriority.
func (a Actions) Priority(current cases.Priority) cases.Priority {
	if a.RaisePriority == "" {
		return current
	}
	if current.Valid() && slices.Index(cases.Priorities, current) <= slices.Index(cases.Priorities, a.RaisePriority) {
		return current
	}
	return a.RaisePriority
}

// Reassign moves the case to a queue or a person; exactly one is set.
type Reassign struct {
	Queue  string `yaml:"queue,omitempty" json:"queue,omitempty"`
	Person string `yaml:"person,omitempty" json:"person,omitempty"`
}

// Publish is a public update sent to FixMyStreet, e.g. "investigating" with an
// apology for the delay.
type Publish struct {
	Status cases.Status `yaml:"status" json:"status"`
	Note   string       `yaml:"note" json:"note"`
}

// Recipient is who a notification goes to: one of the roles Assignee, TeamLead
// and HeadOfService, resolved against the case when the level fires, or a fixed
// address, "email:someone@council.gov.uk" or "webhook:<configured webhook name>".
type Recipient string

// The roles a notification can go to.
const (
	Assignee      Recipient = "assignee"
	TeamLead      Recipient = "team_lead"
	HeadOfService Recipient = "head_of_service"
)

// Kind is "assignee", "team_lead", "head_of_service", "email" or "webhook".
func (r Recipient) Kind() string {
	kind, _, _ := strings.Cut(string(r), ":")
	return kind
}

// Address is the email address or webhook name; empty for a role.
func (r Recipient) Address() string {
	_, addr, _ := strings.Cut(string(r), ":")
	return addr
}

// Validate checks the recipient's form.
func (r Recipient) Validate() error {
	switch r {
	case Assignee, TeamLead, HeadOfService:
		return nil
	}
	addr := r.Address()
	switch r.Kind() {
	case "email":
		if at := strings.LastIndexByte(addr, '@'); at > 0 && at < len(addr)-1 && !strings.ContainsAny(addr, " \t<>,") {
			return nil
		}
	case "webhook":
		if addr != "" {
			return nil
		}
	}
	return fmt.Errorf("recipient %q is not %s, %s, %s, email:<address> or webhook:<name>", r, Assignee, TeamLead, HeadOfService)
}

// Validate checks the actions' recipients, reassignment, priority and update.
func (a Actions) Validate() error {
	for _, r := range a.Notify {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	if r := a.Reassign; r != nil && (r.Queue == "") == (r.Person == "") {
		return errors.New("reassign: set exactly one of queue and person")
	}
	if a.RaisePriority != "" && !a.RaisePriority.Valid() {
		return fmt.Errorf("raise_priority: %q is not one of %v", a.RaisePriority, cases.Priorities)
	}
	if p := a.Publish; p != nil {
		// Citizens see only open, public statuses from an escalation: closing a
		// case or showing an internal state is a person's decision.
		if !p.Status.Valid() || p.Status.Closed() || p.Status.Public() != p.Status {
			return fmt.Errorf("publish: status %q must be an open, public status", p.Status)
		}
		if strings.TrimSpace(p.Note) == "" {
			return errors.New("publish: a public update needs a note")
		}
		if len(p.Note) > cases.MaxNote {
			return fmt.Errorf("publish: the note is longer than %d characters", cases.MaxNote)
		}
	}
	return nil
}

// Validate checks a policy, naming the field at fault.
func (p Policy) Validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("name: required")
	}
	if p.Version < 1 {
		return fmt.Errorf("%s: version must be 1 or more", p.Name)
	}
	if err := p.Target.Validate(); err != nil {
		return fmt.Errorf("%s: target: %w", p.Name, err)
	}
	for _, pr := range cases.Priorities {
		if t, ok := p.ByPriority[pr]; ok {
			if err := t.Validate(); err != nil {
				return fmt.Errorf("%s: by_priority: %s: %w", p.Name, pr, err)
			}
		}
	}
	if len(p.ByPriority) > 0 {
		for pr := range p.ByPriority {
			if !pr.Valid() {
				return fmt.Errorf("%s: by_priority: %q is not a priority (%v)", p.Name, pr, cases.Priorities)
			}
		}
	}
	if p.Warning < 0 || p.Warning >= 1 {
		return fmt.Errorf("%s: warning must be a fraction of the target between 0 and 1, not %v", p.Name, p.Warning)
	}
	var names []string
	for i, l := range p.Escalation {
		if err := l.validate(names); err != nil {
			return fmt.Errorf("%s: escalation[%d]: %w", p.Name, i, err)
		}
		names = append(names, l.Name)
	}
	if d := p.Dormant; d != nil {
		if err := d.After.Validate(); err != nil {
			return fmt.Errorf("%s: dormant: after: %w", p.Name, err)
		}
		if err := d.Actions.Validate(); err != nil {
			return fmt.Errorf("%s: dormant: %w", p.Name, err)
		}
	}
	return nil
}

func (l Level) validate(earlier []string) error {
	switch {
	case strings.TrimSpace(l.Name) == "":
		return errors.New("name: required")
	case l.Name == DormantStep:
		return fmt.Errorf("name: %q is reserved for the dormant reminder", DormantStep)
	case slices.Contains(earlier, l.Name):
		return fmt.Errorf("name: %q is used twice", l.Name)
	case l.Clock != "" && l.Clock != Citizen && l.Clock != Department:
		return fmt.Errorf("clock: %q is not %s or %s", l.Clock, Citizen, Department)
	case (l.OfTarget != 0) == (l.AfterBreach != nil):
		return errors.New("set exactly one of of_target and after_breach")
	// A bound of ten times the target catches 75 written for 0.75.
	case l.OfTarget < 0 || l.OfTarget > 10 || math.IsNaN(l.OfTarget):
		return fmt.Errorf("of_target: %v is not a fraction of the target (1 is the breach)", l.OfTarget)
	}
	if l.AfterBreach != nil {
		if err := l.AfterBreach.Validate(); err != nil {
			return fmt.Errorf("after_breach: %w", err)
		}
	}
	return l.Actions.Validate()
}

// Policies is the set of policies in the configuration.
type Policies []Policy

// Validate checks every policy and that no name is used twice.
func (ps Policies) Validate() error {
	for i, p := range ps {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("policies[%d]: %w", i, err)
		}
		if j := slices.IndexFunc(ps[:i], func(q Policy) bool { return q.Name == p.Name }); j >= 0 {
			return fmt.Errorf("policies[%d]: name %q is also policies[%d]", i, p.Name, j)
		}
	}
	return nil
}

// Find returns the policy with the name.
func (ps Policies) Find(name string) (Policy, bool) {
	i := slices.IndexFunc(ps, func(p Policy) bool { return p.Name == name })
	if i < 0 {
		return Policy{}, false
	}
	return ps[i], true
}

// Recipients lists every recipient the policy's ladder and dormant reminder
// notify, in ladder order, each once.
func (p Policy) Recipients() []Recipient {
	var out []Recipient
	add := func(a Actions) {
		for _, r := range a.Notify {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	for _, l := range p.Escalation {
		add(l.Actions)
	}
	if p.Dormant != nil {
		add(p.Dormant.Actions)
	}
	return out
}
