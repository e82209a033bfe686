package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/config"
)

// `casebridge setup --config` makes the back offices' poll schedules match
// the configuration on a real Temporal: one it lacks is made, one at another
// interval is brought up to date, and one of a back office no longer
// configured is removed.
func TestSetupSyncsPollSchedules(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	ts, c := embeddedTemporal(t, "")
	sc := c.ScheduleClient()
	// What an older configuration left: highways polled every 5 minutes, and
	// a back office since removed.
	five, none := config.Duration(5*time.Minute), config.Duration(time.Minute)
	_, err := syncPollSchedules(ctx, sc, []config.BackOffice{{Name: "highways", PollEvery: &five}, {Name: "roads", PollEvery: &none}}, false)
	if err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	err = run(ctx, []string{"setup", "--temporal-address", ts.FrontendAddr(), "--temporal-namespace", ts.Namespace(), "--config", "../../config/demo.yaml"},
		env(map[string]string{}), &out, io.Discard)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	for _, want := range []string{"schedule backoffice-poll:highways: exists, every 30s", "schedule backoffice-poll:waste: created, every 30s",
		"schedule backoffice-poll:roads: removed (no such back office is configured)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("setup said:\n%s\nwant a line %q", out.String(), want)
		}
	}
	for id, want := range map[string]time.Duration{"backoffice-poll:highways": 30 * time.Second, "backoffice-poll:waste": 30 * time.Second} {
		d, err := sc.GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != want {
			t.Errorf("%s intervals %+v, want every %v", id, iv, want)
		}
	}
	if _, err := sc.GetHandle(ctx, "backoffice-poll:roads").Describe(ctx); err == nil {
		t.Error("the schedule of a back office no longer configured is still there")
	}
}
