package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/caseflow"
)

// lagAt is a Freshness that reports a set lag, or an error.
type lagAt struct {
	lag caseflow.Lag
	err error
}

func (f *lagAt) Check(context.Context) (caseflow.Lag, error) { return f.lag, f.err }
func (f *lagAt) Known() (caseflow.Lag, bool)                 { return f.lag, f.err == nil }

// TestReadModelLagIsShown: /readyz and every console page say when the lists
// are empty or behind Temporal, and by how much, and say nothing when they
// are current; the lag never makes the server unready.
func TestReadModelLagIsShown(t *testing.T) {
	h := newConsoleHarness(t)
	f := &lagAt{}
	h.fresh = f
	h.srv.Close()
	h.srv = httptest.NewServer(h.server(testSecret))
	t.Cleanup(h.srv.Close)
	amy := h.signIn(t, "agent-token")
	now := time.Now()

	for _, tc := range []struct {
		name      string
		lag       caseflow.Lag
		err       error
		ready     string
		banner    string
		bannerOff bool
	}{
		{name: "current", lag: caseflow.Lag{Checked: now, Cases: 40, Listed: 41, Sampled: 40},
			ready: `"read_model":"ok"`, bannerOff: true},
		{name: "behind", lag: caseflow.Lag{Checked: now, Cases: 400, Listed: 363, Sampled: 200, Missing: 37, Oldest: 130*time.Second + 200*time.Millisecond},
			ready:  `"read_model":"behind: 37 recent cases not in the lists yet, the oldest waiting 2m10s`,
			banner: "The lists are behind: 37 recent cases not in them yet, the oldest for 2m10s."},
		{name: "one of one", lag: caseflow.Lag{Checked: now, Cases: 2, Listed: 1, Sampled: 1, Missing: 1, Oldest: 15 * time.Second},
			ready:  `"read_model":"behind: 1 recent case not in the lists yet, the oldest waiting 15s`,
			banner: "The lists are behind: 1 recent case not in them yet"},
		{name: "far behind", lag: caseflow.Lag{Checked: now, Cases: 9000, Listed: 10, Sampled: 200, SampleFull: true, Missing: 200, Oldest: time.Hour},
			ready:  `"read_model":"behind: 200 or more recent cases`,
			banner: "The lists are behind: 200 or more recent cases"},
		{name: "empty", lag: caseflow.Lag{Checked: now, Cases: 1234, Sampled: 200, SampleFull: true, Missing: 200},
			ready:  `"read_model":"empty: Temporal holds 1234 cases and the read model none; run `,
			banner: "The lists are empty, but Temporal holds 1234 cases: the read model has been lost."},
		{name: "unmeasured", err: errors.New("visibility unavailable"),
			ready: `"read_model":"unknown: visibility unavailable"`, bannerOff: true},
	} {
		f.lag, f.err = tc.lag, tc.err
		r := h.get("/readyz")
		if r.status != 200 || !strings.Contains(string(r.body), tc.ready) {
			t.Errorf("%s: readyz = %d %s, want 200 with %s", tc.name, r.status, r.body, tc.ready)
		}
		for _, page := range []string{"/cases", "/board"} {
			body := string(amy.get(page).body)
			has := strings.Contains(body, `id="read-model-stale"`)
			if tc.bannerOff && has {
				t.Errorf("%s: %s shows a lag banner", tc.name, page)
			}
			if !tc.bannerOff && (!has || !strings.Contains(body, tc.banner)) {
				t.Errorf("%s: %s lacks %q", tc.name, page, tc.banner)
			}
		}
	}
	// Someone not signed in learns nothing of it.
	f.lag, f.err = caseflow.Lag{Checked: now, Cases: 5}, nil
	if body := string(h.visitor(t).get("/login").body); strings.Contains(body, "read-model-stale") {
		t.Error("the sign-in page shows the lag banner")
	}
}
