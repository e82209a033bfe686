package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/sla"
)

type routerFunc func(context.Context, cases.Case) (cases.Decision, error)

func (f routerFunc) Route(ctx context.Context, c cases.Case) (cases.Decision, error) {
	return f(ctx, c)
}

type counted map[string]int

func (c counted) RoutingDecision(set, outcome string) { c[set+"/"+outcome]++ }

var policies = sla.Policies{
	{Name: "pothole", Version: 3, Target: sla.Target{Amount: 5, Unit: sla.WorkingDays}},
	{Name: "triage", Version: 1, Target: sla.Target{Amount: 2, Unit: sla.WorkingDays}},
}

func TestRouteCaseAttachesThePolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		decision   cases.Decision
		wantPolicy string
		wantCount  string
		wantNote   string
	}{
		{"named policy", cases.Decision{RuleSet: "routing", RuleID: "potholes", SLAPolicy: "pothole"}, "pothole", "routing/matched", ""},
		{"no policy named", cases.Decision{RuleSet: "routing", RuleID: "default"}, "triage", "routing/default", ""},
		{"policy since removed", cases.Decision{RuleSet: "routing", RuleID: "old", SLAPolicy: "gone"}, "triage", "routing/matched", `"gone" does not exist`},
		{"rule failed", cases.Decision{RuleSet: "routing", RuleID: "default", Error: "boom"}, "triage", "routing/error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := counted{}
			a := &Activities{Router: routerFunc(func(context.Context, cases.Case) (cases.Decision, error) { return tc.decision, nil }),
				Policies: policies, DefaultPolicy: "triage", Metrics: n, Log: slog.New(slog.DiscardHandler)}
			got, err := a.RouteCase(context.Background(), effects.RouteRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Policy == nil || got.Policy.Name != tc.wantPolicy || got.SLAPolicy != tc.wantPolicy {
				t.Errorf("policy = %+v (decision names %q), want %s", got.Policy, got.SLAPolicy, tc.wantPolicy)
			}
			if n[tc.wantCount] != 1 {
				t.Errorf("counted %v, want %s once", n, tc.wantCount)
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(got.Explanation, " "), tc.wantNote) {
				t.Errorf("explanation %v lacks %q", got.Explanation, tc.wantNote)
			}
		})
	}
}

func TestFallbackTakesTheDefaultRouteOnlyWithoutRules(t *testing.T) {
	noRules := errors.New("no rules")
	def := cases.Decision{RuleSet: "default", Department: "triage"}
	f := Fallback{Router: routerFunc(func(context.Context, cases.Case) (cases.Decision, error) { return cases.Decision{}, noRules }),
		Default: def, NoRules: func(err error) bool { return errors.Is(err, noRules) }}
	d, err := f.Route(context.Background(), cases.Case{})
	if err != nil || d.Department != "triage" || len(d.Explanation) == 0 {
		t.Errorf("without rules: %+v, %v", d, err)
	}
	other := errors.New("redis down")
	f.Router = routerFunc(func(context.Context, cases.Case) (cases.Decision, error) { return cases.Decision{}, other })
	if _, err := f.Route(context.Background(), cases.Case{}); !errors.Is(err, other) {
		t.Errorf("another failure = %v, want it passed on for the workflow to retry", err)
	}
}

type notifierFunc func(context.Context, notify.Notice) (notify.Entry, error)

func (f notifierFunc) Deliver(ctx context.Context, n notify.Notice) (notify.Entry, error) {
	return f(ctx, n)
}

func TestNotifyRecipient(t *testing.T) {
	var got notify.Notice
	a := &Activities{Notifier: notifierFunc(func(_ context.Context, n notify.Notice) (notify.Entry, error) { got = n; return notify.Entry{}, nil }),
		CaseLink: func(ref string) string { return "https://council.example/cases/" + ref }}
	at := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	n := effects.Notice{Key: "CB-1:2:team_lead", Ref: "CB-1", Recipient: "team_lead", Department: "highways", Level: "breach", Service: "Pothole", At: at}
	if err := a.NotifyRecipient(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got.Key != n.Key || got.Recipient != "team_lead" || got.Category != "Pothole" || got.Link != "https://council.example/cases/CB-1" || !got.At.Equal(at) {
		t.Errorf("notice passed on = %+v", got)
	}

	// A permanent failure stops Temporal retrying; any other is retried.
	_, permanent := notify.Resolve(&config.Config{}, notify.Notice{Key: "k", Ref: "CB-1", Recipient: "webhook:nowhere"})
	if !notify.IsPermanent(permanent) {
		t.Fatalf("an unknown webhook is not a permanent error: %v", permanent)
	}
	for _, tc := range []struct {
		err       error
		retryable bool
	}{{permanent, false}, {errors.New("connection refused"), true}} {
		a.Notifier = notifierFunc(func(context.Context, notify.Notice) (notify.Entry, error) { return notify.Entry{}, tc.err })
		err := a.NotifyRecipient(context.Background(), n)
		var ae *temporal.ApplicationError
		nonRetryable := errors.As(err, &ae) && ae.NonRetryable() && ae.Type() == effects.ErrTypeNotifyPermanent
		if err == nil || nonRetryable == tc.retryable {
			t.Errorf("Deliver error %v → %v; want retryable=%v", tc.err, err, tc.retryable)
		}
	}
}

type projectorFunc func(context.Context, *cases.Case) (bool, error)

func (f projectorFunc) Project(ctx context.Context, c *cases.Case) (bool, error) { return f(ctx, c) }

func TestProjectCaseTellsInvalidCasesFromOutages(t *testing.T) {
	for _, tc := range []struct {
		err       error
		retryable bool
	}{
		{fmt.Errorf("read model: project CB-1: %w", &cases.InputError{Field: "status", Reason: "unknown status"}), false},
		{errors.New("dial tcp 127.0.0.1:6379: connection refused"), true},
	} {
		a := &Activities{Projector: projectorFunc(func(context.Context, *cases.Case) (bool, error) { return false, tc.err }), Log: slog.New(slog.DiscardHandler)}
		err := a.ProjectCase(context.Background(), &cases.Case{Ref: "CB-1", Version: 3})
		var ae *temporal.ApplicationError
		nonRetryable := errors.As(err, &ae) && ae.NonRetryable() && ae.Type() == effects.ErrTypeProjectInput
		if err == nil || nonRetryable == tc.retryable {
			t.Errorf("Project error %v → %v; want retryable=%v", tc.err, err, tc.retryable)
		}
	}
}
