package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/sla"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock ticks a millisecond on every reading, so entries recorded one after
// another have distinct, ordered times.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func testConfig() *config.Config {
	return &config.Config{
		Departments: []config.Department{
			{
				Code: "highways", Email: "highways@council.example",
				TeamLeads:     map[string]string{"roads-north": "north.lead@council.example"},
				HeadOfService: "head.highways@council.example",
			},
			{Code: "parks", Email: "parks@council.example"},
			{Code: "archive"}, // no email at all: outbox only
			{Code: "broken", Email: "parks team"},
		},
		Notifications: config.Notifications{
			Webhooks: []config.Webhook{
				{Name: "perf", URL: "https://perf.example/hook", Secret: "s3cret"},
				{Name: "unset", Secret: "s3cret"}, // no url yet
			},
		},
	}
}

// notice is what the workflow would build for a step of a case.
func notice(ref string, seq int, r sla.Recipient) Notice {
	return Notice{
		Key: fmt.Sprintf("%s:%d:%s", ref, seq, r), Ref: ref, Recipient: r,
		Department: "highways", Team: "roads-north", Assignee: "asmith",
		Level: "breach", Category: "Pothole", Status: cases.StatusInvestigating, Priority: cases.PriorityHigh,
		DueAt: t0.Add(-time.Hour), Link: "https://cb.example/cases/" + ref, At: t0,
	}
}

// newDispatcher runs against a fresh real Redis; env is the environment
// getenv sees.
func newDispatcher(t *testing.T, cfg *config.Config, env map[string]string) (*Dispatcher, *Store, *clock) {
	t.Helper()
	store := NewStore(redistest.Start(t).Client(), "test:")
	d := NewDispatcher(cfg, store, func(k string) string { return env[k] }, nil)
	clk := &clock{t: t0}
	d.Now = clk.Now
	return d, store, clk
}

func TestResolve(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		r                sla.Recipient
		dept, team, asgn string
		want             Target
		wantErr          error // nil: success; errAny: some permanent error
	}{
		{r: sla.Assignee, dept: "highways", asgn: "Alex.Smith@council.example", want: Target{ChannelEmail, "Alex.Smith@council.example", config.Webhook{}}},
		{r: sla.Assignee, dept: "highways", asgn: "asmith", want: Target{ChannelEmail, "highways@council.example", config.Webhook{}}},
		{r: sla.Assignee, dept: "highways", asgn: "", want: Target{ChannelEmail, "highways@council.example", config.Webhook{}}},
		{r: sla.Assignee, dept: "highways", asgn: "Alex <alex@council.example>", want: Target{ChannelEmail, "highways@council.example", config.Webhook{}}},
		{r: sla.TeamLead, dept: "highways", team: "roads-north", want: Target{ChannelEmail, "north.lead@council.example", config.Webhook{}}},
		{r: sla.TeamLead, dept: "highways", team: "drainage", want: Target{ChannelEmail, "highways@council.example", config.Webhook{}}},
		{r: sla.TeamLead, dept: "highways", team: "", want: Target{ChannelEmail, "highways@council.example", config.Webhook{}}},
		{r: sla.HeadOfService, dept: "highways", want: Target{ChannelEmail, "head.highways@council.example", config.Webhook{}}},
		{r: sla.HeadOfService, dept: "parks", want: Target{ChannelEmail, "parks@council.example", config.Webhook{}}},
		{r: sla.TeamLead, dept: "archive", team: "x", want: Target{ChannelOutbox, "department:archive", config.Webhook{}}},
		{r: "email:ops@council.example", dept: "", want: Target{ChannelEmail, "ops@council.example", config.Webhook{}}},
		{r: "webhook:perf", dept: "", want: Target{ChannelWebhook, "webhook:perf", cfg.Notifications.Webhooks[0]}},
		{r: "webhook:unset", dept: "nowhere", want: Target{ChannelWebhook, "webhook:unset", cfg.Notifications.Webhooks[1]}},
		{r: "webhook:nope", wantErr: ErrUnknownWebhook},
		{r: sla.Assignee, dept: "nowhere", wantErr: ErrUnknownDepartment},
		{r: sla.HeadOfService, dept: "", wantErr: ErrUnknownDepartment},
		{r: sla.HeadOfService, dept: "broken", wantErr: errAny},
		{r: "email:nobody", wantErr: errAny},
		{r: "email:Bob <bob@council.example>", wantErr: errAny},
		{r: "chief_executive", dept: "highways", wantErr: errAny},
	}
	for _, tt := range tests {
		n := Notice{Ref: "CB-1", Recipient: tt.r, Department: tt.dept, Team: tt.team, Assignee: tt.asgn}
		got, err := Resolve(cfg, n)
		name := fmt.Sprintf("Resolve(%s, dept %q, team %q, assignee %q)", tt.r, tt.dept, tt.team, tt.asgn)
		if tt.wantErr != nil {
			if err == nil || !IsPermanent(err) || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s = %+v, %v; want a permanent error %v", name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %+v, %v; want %+v", name, got, err, tt.want)
		}
	}
}

var errAny = errors.New("any permanent error")

func TestNoticeText(t *testing.T) {
	n := notice("CB-7KQ2M9", 3, sla.TeamLead)
	n.DueAt = time.Date(2026, 6, 1, 16, 0, 0, 0, time.UTC) // 17:00 in London, summer time
	got := n.withText(mustLoad(t, "Europe/London"))
	for _, want := range []string{"CB-7KQ2M9", `"breach"`, "Pothole", "investigating", "high", "highways, team roads-north", "Mon 1 Jun 2026 17:00 BST", n.Link} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, got.Body)
		}
	}
	if want := "[casebridge] CB-7KQ2M9 escalated: breach (Pothole)"; got.Subject != want {
		t.Errorf("subject = %q, want %q", got.Subject, want)
	}
	n.Subject, n.Body = "given", "given body"
	if got := n.withText(time.UTC); got.Subject != "given" || got.Body != "given body" {
		t.Errorf("withText replaced given text: %q, %q", got.Subject, got.Body)
	}
}

func mustLoad(t *testing.T, zone string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A malformed notice is refused before anything is recorded or sent.
func TestDeliverRefusesMalformedNotice(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	good := notice("CB-1", 1, sla.Assignee)
	for name, n := range map[string]Notice{
		"no key":        func() Notice { n := good; n.Key = ""; return n }(),
		"key has space": func() Notice { n := good; n.Key = "CB-1 1"; return n }(),
		"long key":      func() Notice { n := good; n.Key = strings.Repeat("k", MaxKey+1); return n }(),
		"no ref":        func() Notice { n := good; n.Ref = ""; return n }(),
		"bad recipient": func() Notice { n := good; n.Recipient = "email:"; return n }(),
	} {
		if _, err := d.Deliver(ctx, n); err == nil || !IsPermanent(err) {
			t.Errorf("%s: Deliver = %v, want a permanent error", name, err)
		}
	}
	if got, err := store.Recent(ctx, 10, ""); err != nil || len(got) != 0 {
		t.Errorf("Recent after refused notices = %d entries, %v; want none", len(got), err)
	}
}

// A recipient that resolves nowhere fails permanently and is recorded, so
// supervisors see the notice that went nowhere.
func TestDeliverUnresolvable(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	n := notice("CB-2", 1, "webhook:nope")
	e, err := d.Deliver(ctx, n)
	if !IsPermanent(err) || !errors.Is(err, ErrUnknownWebhook) {
		t.Fatalf("Deliver = %v, want a permanent ErrUnknownWebhook", err)
	}
	if e.Status != StatusFailed || e.Address != "webhook:nope" || !strings.Contains(e.Error, "unknown webhook") {
		t.Errorf("entry = %+v, want failed under webhook:nope with the reason", e)
	}
	got, err := store.Get(ctx, n.Key)
	if err != nil || got.Status != StatusFailed {
		t.Errorf("Get = %+v, %v; want the failed entry", got, err)
	}
}

// An outbox-only notice is delivered by being filed, once.
func TestDeliverOutboxOnly(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	n := notice("CB-3", 1, sla.HeadOfService)
	n.Department = "archive"
	for range 2 {
		e, err := d.Deliver(ctx, n)
		if err != nil || e.Status != StatusSent || e.Channel != ChannelOutbox || e.Attempts != 1 {
			t.Fatalf("Deliver = %+v, %v; want sent to the outbox in one attempt", e, err)
		}
	}
	box, err := store.Outbox(ctx, "department:archive", 10, "")
	if err != nil || len(box) != 1 || box[0].Key != n.Key || box[0].Notice.Body == "" {
		t.Errorf("Outbox(department:archive) = %+v, %v; want the one notice with its text", box, err)
	}
}
