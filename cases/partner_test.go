package cases

import (
	"strings"
	"testing"
	"time"
)

func TestApplyPartner(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	triage := Decision{Department: "triage"}
	handed := func() *Case {
		c := New("CB-P1", Report{ReceivedAt: t0}, Service{Code: "ABV"}, t0)
		c.Department, c.Priority = "parking", PriorityNormal
		c.HandOff("handoff-CB-P1-2", "met-police", t0)
		return c
	}
	for _, tc := range []struct {
		name     string
		moveOn   bool
		ev       string
		note     string
		changed  bool
		status   Status
		dept     string
		priority Priority
		last     string
	}{
		{"accepted", false, PartnerAccepted, "ref 1", false, StatusWaitingOnPartner, "parking", PriorityNormal, "accepted the hand-off: ref 1"},
		{"rejected", false, PartnerRejected, "not ours", true, StatusForTriage, "triage", PriorityNormal, "rejected the hand-off: not ours"},
		{"completed", false, PartnerCompleted, "towed", true, StatusFixed, "parking", PriorityNormal, "towed"},
		{"silent", false, PartnerSilent, "", true, StatusForTriage, "triage", PriorityHigh, "did not answer in time"},
		{"undeliverable", false, PartnerUndeliverable, "404", true, StatusForTriage, "triage", PriorityNormal, "could not be delivered: 404"},
		// Staff took the case back first: nothing is escalated or resolved.
		{"silent after staff moved on", true, PartnerSilent, "", false, StatusInProgress, "parking", PriorityNormal, "never answered the hand-off; the case had already moved on"},
		{"completed after staff moved on", true, PartnerCompleted, "towed", false, StatusInProgress, "parking", PriorityNormal, "completed the hand-off: towed"},
	} {
		c := handed()
		if tc.moveOn {
			c.Apply(Change{To: StatusInProgress, Actor: "staff:amy"}, t0.Add(time.Minute))
		}
		changed := c.ApplyPartner(PartnerEvent{Handoff: "handoff-CB-P1-2", Partner: "met-police", Event: tc.ev, Note: tc.note, At: t0}, triage, t0.Add(time.Hour))
		last := c.Timeline[len(c.Timeline)-1]
		if changed != tc.changed || c.Status != tc.status || c.Department != tc.dept || c.Priority != tc.priority || !strings.Contains(last.Note, tc.last) {
			t.Errorf("%s: changed %v, %s in %s at %s, last %q; want %v, %s in %s at %s, %q",
				tc.name, changed, c.Status, c.Department, c.Priority, last.Note, tc.changed, tc.status, tc.dept, tc.priority, tc.last)
		}
		if tc.moveOn && last.Kind == KindEscalation {
			t.Errorf("%s: escalated a case staff had moved on", tc.name)
		}
	}
	// An event for another hand-off changes nothing but the timeline.
	c := handed()
	if c.ApplyPartner(PartnerEvent{Handoff: "handoff-CB-P1-1", Partner: "met-police", Event: PartnerCompleted}, triage, t0) || c.Status != StatusWaitingOnPartner {
		t.Errorf("an old hand-off's completion moved the case to %s", c.Status)
	}
}
