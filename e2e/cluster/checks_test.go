package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/e2e/cluster"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/workflows"
)

var lookPath = exec.LookPath

// counts are what the drill found.
type counts struct {
	acknowledged   int
	duplicateCases int // reports acknowledged with two different references
	missingCases   int // acknowledged, but Temporal has no such case
	unreadable     int // not readable through both api processes
	readable       int

	staffSent, staffAnswered, staffUnanswered, staffRefused int
	staffLost                                               int
	staffLostImmediate                                      int
	refusals                                                map[string]int // by kind and code
	refused                                                 []string       // examples
	lost                                                    []string       // the first few, for the log

	escalating, levelsWanted, levelsFired int
	offPolicy                             int // escalating cases routed to another SLA policy
	lateP50, lateP99, lateMax             time.Duration

	feedWanted, feedMissing, feedDuplicates, feedExtra int

	readModelDisagree int
	disagree          []string
}

// The four levels of the demo-seconds ladder, due 30, 60, 80 and 100 s after
// a SLADEMO case opens.
var ladder = []string{"warning", "breach", "breach-plus-20s", "breach-plus-40s"}

func check(ctx context.Context, t *testing.T, c *cluster.Cluster, l *load, began time.Time) counts {
	t.Helper()
	tc := dialTemporal(ctx, t, c)
	defer tc.Close()
	opt, _ := redis.ParseURL(c.RedisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	rm := readmodel.New(rdb, "cb:") // cmd/casebridge's prefix

	n := counts{refusals: map[string]int{}}
	acked := l.acknowledged()
	n.acknowledged = len(acked)
	// Wait for the last escalating case's ladder to reach its top (100 s
	// after it opened) and a little more.
	last := began
	for _, r := range acked {
		if len(r.refs) > 1 {
			n.duplicateCases++
		}
		if r.service == "SLADEMO" && r.ackedAt.After(last) {
			last = r.ackedAt
		}
	}
	time.Sleep(time.Until(last.Add(100*time.Second + 20*time.Second)))

	// Temporal's own record of every case: the truth the rest is checked against.
	truth := map[string]*cases.Case{}
	for _, r := range acked {
		k, err := temporalCase(ctx, tc, r.ref)
		if err != nil {
			n.missingCases++
			t.Logf("case %s (report %s): %v", r.ref, r.fmsID, err)
			continue
		}
		truth[r.ref] = k
	}

	// Every acknowledged case, read through each api.
	for _, r := range acked {
		ok := true
		for _, a := range l.apis {
			if code, body, err := a.do(ctx, "GET", "/open311/v2/requests/"+r.ref+".json", nil, "", "", ""); err != nil || code != 200 || !strings.Contains(string(body), r.ref) {
				ok = false
				t.Logf("GET %s from %s: %d %v %.200s", r.ref, a.base, code, err, body)
			}
		}
		if ok {
			n.readable++
		} else {
			n.unreadable++
		}
	}

	n.staffChanges(l, truth)
	n.escalations(acked, truth)
	n.feed(ctx, t, l.apis[0], began, truth)

	// The read model follows Temporal by a projection; give it three minutes
	// to agree before counting a disagreement (on a loaded machine a
	// projection retried after a worker was killed took more than one).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n.readModelDisagree, n.disagree = 0, nil
		for ref, k := range truth {
			if why := agree(ctx, rm, k); why != "" {
				// Temporal may have moved on since it was read.
				if fresh, err := temporalCase(ctx, tc, ref); err == nil {
					truth[ref], k = fresh, fresh
				}
				if why = agree(ctx, rm, k); why != "" {
					n.readModelDisagree++
					n.disagree = append(n.disagree, ref+": "+why)
				}
			}
		}
		if n.readModelDisagree == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Second)
	}
	return n
}

// dialTemporal is a Temporal client of the cluster's namespace, quiet.
func dialTemporal(ctx context.Context, t *testing.T, c *cluster.Cluster) client.Client {
	t.Helper()
	tc, err := client.DialContext(ctx, client.Options{HostPort: c.Frontend, Namespace: c.Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// temporalCase asks the case's workflow for its state. A query is answered by
// a worker after the workflow's pending task, so on a machine that is behind
// it can take long: it is asked again for up to two minutes, and only
// Temporal saying there is no such workflow ends that early.
func temporalCase(ctx context.Context, tc client.Client, ref string) (*cases.Case, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		v, err := tc.QueryWorkflow(qctx, cases.WorkflowID(ref), "", workflows.QueryState)
		var k cases.Case
		if err == nil {
			err = v.Get(&k)
		}
		cancel()
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			return &k, nil
		case errors.As(err, &notFound) || time.Now().After(deadline) || ctx.Err() != nil:
			return nil, err
		}
		time.Sleep(2 * time.Second)
	}
}

// staffChanges counts the staff changes answered with success that are not
// in the case. Notes must be in its timeline once. For assignments,
// priorities and transfers each case's answered changes are replayed in the
// order they were sent (a transfer also unassigns the case), and what the
// case holds must be what the last of them set; a change that got no answer
// may or may not have been applied, so the fields it touches are not judged.
func (n *counts) staffChanges(l *load, truth map[string]*cases.Case) {
	byCase := map[string][]*change{}
	for _, ch := range l.changes {
		n.staffSent++
		switch {
		case ch.answered:
			n.staffAnswered++
		case ch.code == 0 || ch.code >= 500:
			n.staffUnanswered++
		default:
			n.staffRefused++
			why := fmt.Sprintf("%s %d", ch.kind, ch.code)
			if n.refusals[why]++; n.refusals[why] <= 2 {
				n.refused = append(n.refused, fmt.Sprintf("%s %s %q: %.160s", ch.ref, ch.kind, ch.value, ch.answer))
			}
		}
		byCase[ch.ref] = append(byCase[ch.ref], ch)
	}
	lose := func(ch *change, k *cases.Case, why string) {
		n.staffLost++
		when := "later"
		if ch.immediate {
			n.staffLostImmediate++
			when = "as soon as acknowledged"
		}
		if len(n.lost) < 10 {
			n.lost = append(n.lost, fmt.Sprintf("%s %s %q sent %s: %s; timeline: %s", ch.ref, ch.kind, ch.value, when, why, kinds(k)))
		}
	}
	for ref, changes := range byCase {
		k := truth[ref]
		if k == nil {
			continue
		}
		// The change that last set each field, and whether it is known.
		set := map[string]*change{}
		unknown := map[string]bool{}
		for _, ch := range changes {
			fields := []string{ch.kind}
			if ch.kind == "transfer" {
				fields = append(fields, "assign")
			}
			switch {
			case ch.kind == "public-note" || ch.kind == "internal-note":
				if !ch.answered {
					continue
				}
				found := 0
				for _, e := range k.Timeline {
					if e.Kind == cases.KindComment && e.Note == ch.value {
						found++
					}
				}
				if found != 1 {
					lose(ch, k, fmt.Sprintf("in the timeline %d times", found))
				}
			case ch.answered:
				for _, f := range fields {
					set[f], unknown[f] = ch, false
				}
			case ch.code == 0 || ch.code >= 500:
				for _, f := range fields {
					unknown[f] = true
				}
			}
		}
		for field, ch := range set {
			if unknown[field] {
				continue
			}
			want, has := ch.value, ""
			switch field {
			case "assign":
				has = k.Assignee
				if ch.kind == "transfer" {
					want = ""
				}
			case "priority":
				has = string(k.Priority)
			case "transfer":
				has = k.Department + "/" + k.Team
			}
			if has != want {
				lose(ch, k, fmt.Sprintf("the case has %s %q", field, has))
			}
		}
	}
}

// kinds lists a case's timeline, entry by entry, for a failure message.
func kinds(k *cases.Case) string {
	var out []string
	for _, e := range k.Timeline {
		out = append(out, fmt.Sprintf("%d %s (%s)", e.Seq, e.Kind, e.Note))
	}
	return strings.Join(out, ", ")
}

// escalations counts the ladder levels of the SLADEMO cases that fired, and
// how late.
func (n *counts) escalations(acked []*report, truth map[string]*cases.Case) {
	var late []time.Duration
	for _, r := range acked {
		k := truth[r.ref]
		if r.service != "SLADEMO" || k == nil {
			continue
		}
		n.escalating++
		n.levelsWanted += len(ladder)
		if k.Promise == nil || k.Promise.Policy != "demo-seconds" {
			n.offPolicy++
			continue
		}
		for _, e := range k.Promise.Escalations {
			if slices.Contains(ladder, e.Level) {
				n.levelsFired++
				late = append(late, e.At.Sub(e.Due))
			}
		}
	}
	slices.Sort(late)
	if len(late) > 0 {
		n.lateP50, n.lateP99, n.lateMax = late[len(late)/2], late[(len(late)-1)*99/100], late[len(late)-1]
	}
}

// feed reads the Open311 updates feed for the drill's time in one-minute
// windows (both ends included, as FixMyStreet asks) and compares it with the public changes Temporal holds: each must
// be in the feed exactly once.
func (n *counts) feed(ctx context.Context, t *testing.T, a *apiClient, began time.Time, truth map[string]*cases.Case) {
	want := map[string]bool{}
	for _, k := range truth {
		for _, u := range k.PublicUpdates() {
			want[u.ID] = true
		}
	}
	n.feedWanted = len(want)
	seen := map[string]bool{}
	end := time.Now().Add(time.Minute)
	for from := began.Add(-time.Minute).Truncate(time.Minute); from.Before(end); from = from.Add(time.Minute) {
		q := url.Values{"start_date": {from.UTC().Format(time.RFC3339)}, "end_date": {from.Add(time.Minute).UTC().Format(time.RFC3339)}}
		code, body, err := a.do(ctx, "GET", "/open311/v2/servicerequestupdates.json?"+q.Encode(), nil, "", "", "")
		if err != nil || code != 200 {
			t.Errorf("GET servicerequestupdates %v: %d %v %.300s", q, code, err, body)
			return
		}
		var updates []struct {
			ID string `json:"update_id"`
		}
		if err := json.Unmarshal(body, &updates); err != nil {
			t.Errorf("servicerequestupdates: %v", err)
			return
		}
		inWindow := map[string]bool{}
		for _, u := range updates {
			if inWindow[u.ID] {
				n.feedDuplicates++
			}
			inWindow[u.ID] = true
			if !seen[u.ID] && !want[u.ID] {
				n.feedExtra++
			}
			seen[u.ID] = true
		}
	}
	for id := range want {
		if !seen[id] {
			n.feedMissing++
			if n.feedMissing <= 5 {
				t.Logf("public change %s is not in the feed", id)
			}
		}
	}
}

// agree says how the read model's copy of a case differs from Temporal's, or
// "" when it does not.
func agree(ctx context.Context, rm *readmodel.Store, k *cases.Case) string {
	got, err := rm.Get(ctx, k.Ref)
	if err != nil {
		return err.Error()
	}
	var diffs []string
	for _, d := range []struct{ what, rm, temporal string }{
		{"version", fmt.Sprint(got.Version), fmt.Sprint(k.Version)},
		{"status", string(got.Status), string(k.Status)},
		{"department", got.Department + "/" + got.Team, k.Department + "/" + k.Team},
		{"assignee", got.Assignee, k.Assignee},
		{"priority", string(got.Priority), string(k.Priority)},
	} {
		if d.rm != d.temporal {
			diffs = append(diffs, fmt.Sprintf("%s %s in the read model, %s in Temporal", d.what, d.rm, d.temporal))
		}
	}
	return strings.Join(diffs, "; ")
}

func (n counts) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(what string, v any, promise string) { fmt.Fprintf(w, "  %s\t%v\t%s\n", what, v, promise) }
	row("reports acknowledged", n.acknowledged, "")
	row("cases found in Temporal", n.acknowledged-n.missingCases, "all")
	row("  readable through both apis", n.readable, "all")
	row("  acknowledged twice with different references", n.duplicateCases, "0")
	row("staff changes sent", n.staffSent, "")
	row("  answered with success", n.staffAnswered, "")
	row("  refused (4xx)", fmt.Sprintf("%d %v", n.staffRefused, n.refusals), "")
	row("  never answered, after a minute of retries", n.staffUnanswered, "")
	row("  answered with success but lost", n.staffLost, "0")
	row("    of them sent as soon as the case was acknowledged", n.staffLostImmediate, "0")
	row("escalating cases (SLADEMO)", n.escalating, "")
	row("  routed to another SLA policy", n.offPolicy, "0")
	row("  ladder levels fired", fmt.Sprintf("%d of %d", n.levelsFired, n.levelsWanted), "all")
	row("  escalations missing", n.levelsWanted-n.levelsFired, "0")
	row("  lateness p50 / p99 / max", fmt.Sprintf("%s / %s / %s", n.lateP50.Round(time.Millisecond), n.lateP99.Round(time.Millisecond), n.lateMax.Round(time.Millisecond)), "")
	row("public changes in Temporal", n.feedWanted, "")
	row("  missing from the updates feed", n.feedMissing, "0")
	row("  duplicated in the feed", n.feedDuplicates, "0")
	row("  in the feed but not in Temporal", n.feedExtra, "0")
	row("read-model disagreements with Temporal", n.readModelDisagree, "0")
	w.Flush()
	for _, s := range n.refused {
		fmt.Fprintf(&b, "  refused: %s\n", s)
	}
	for _, s := range n.lost {
		fmt.Fprintf(&b, "  lost: %s\n", s)
	}
	for i, s := range n.disagree {
		if i == 10 {
			break
		}
		fmt.Fprintf(&b, "  disagrees: %s\n", s)
	}
	return b.String()
}

// mustBeZero fails the test for every count the drill promises is zero.
func (n counts) mustBeZero(t *testing.T) {
	t.Helper()
	for what, v := range map[string]int{
		"acknowledged reports with no case":         n.missingCases,
		"cases not readable through both apis":      n.unreadable,
		"reports acknowledged as two cases":         n.duplicateCases,
		"staff changes answered with success, lost": n.staffLost,
		"escalating cases routed off their policy":  n.offPolicy,
		"escalations missing":                       n.levelsWanted - n.levelsFired,
		"public changes missing from the feed":      n.feedMissing,
		"public changes in the feed twice":          n.feedDuplicates,
		"feed entries Temporal does not have":       n.feedExtra,
		"read-model disagreements with Temporal":    n.readModelDisagree,
	} {
		if v != 0 {
			t.Errorf("%s: %d, want 0", what, v)
		}
	}
	if n.acknowledged < 100 {
		t.Errorf("only %d reports acknowledged: the load never got going", n.acknowledged)
	}
}
