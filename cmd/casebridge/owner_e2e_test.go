package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/redistest"
)

// staffChange is one kind of change a person makes the moment a report's
// reference comes back, and how to tell afterwards that it held.
type staffChange struct {
	name  string
	path  string
	body  string
	holds func(c caseView) bool
}

type caseView struct {
	Department string `json:"department"`
	Team       string `json:"team"`
	Assignee   string `json:"assignee"`
	Priority   string `json:"priority"`
	Service    struct {
		Code string `json:"code"`
	} `json:"service"`
	Timeline []struct {
		Kind string `json:"kind"`
		Note string `json:"note"`
	} `json:"timeline"`
}

var staffChanges = []staffChange{
	{"transfer", "transfer", `{"department":"parks","team":"arboriculture"}`, func(c caseView) bool { return c.Department == "parks" && c.Team == "arboriculture" }},
	{"assign", "assignment", `{"assignee":"amy@council.example"}`, func(c caseView) bool { return c.Assignee == "amy@council.example" }},
	{"priority", "priority", `{"priority":"urgent"}`, func(c caseView) bool { return c.Priority == "urgent" }},
	{"recategorise", "category", `{"service_code":"GRF"}`, func(c caseView) bool { return c.Service.Code == "GRF" }},
	// Sent back by highways, the department the rules choose for a pothole:
	// routing must not hand it straight back.
	{"send back", "transfer", `{"department":""}`, func(c caseView) bool { return c.Department != "highways" }},
}

// TestStaffChangesRightAfterIntakeHold posts reports from 16 clients at once,
// each changing its case the moment the reference comes back, while routing
// is still deciding. A change answered 200 must hold once routing has
// answered; a change answered 409 must say why.
func TestStaffChangesRightAfterIntakeHold(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	rs := redistest.Start(t)
	d := startDev(t, t.TempDir(), rs.URL())

	const clients, perClient = 16, 5
	type result struct {
		ref    string
		change staffChange
		status int
		body   string
	}
	results := make(chan result, clients*perClient)
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			for i := range perClient {
				ch := staffChanges[(cl+i)%len(staffChanges)]
				code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, fmt.Sprintf("owner-%d-%d", cl, i), "POT", map[string]string{"dangerous": "no"}))
				if code != http.StatusCreated && code != http.StatusOK {
					t.Errorf("intake answered %d: %s", code, body)
					continue
				}
				ref := receiptID(t, body)
				status, b := d.staff("POST", "/api/v1/cases/"+ref+"/"+ch.path, ch.body)
				results <- result{ref, ch, status, string(b)}
			}
		})
	}
	wg.Wait()
	close(results)

	answered, refused, lost := map[string]int{}, map[string]int{}, 0
	var all []result
	for r := range results {
		all = append(all, r)
		switch r.status {
		case http.StatusOK:
			answered[r.change.name]++
		case http.StatusConflict:
			refused[r.change.name]++
		default:
			t.Errorf("%s on %s answered %d: %s", r.change.name, r.ref, r.status, r.body)
		}
	}
	// Routing answers within moments; then every change answered 200 holds.
	time.Sleep(2 * time.Second)
	for _, r := range all {
		if r.status != http.StatusOK {
			continue
		}
		var c caseView
		eventually(t, "read "+r.ref, func() error {
			code, b := d.staff("GET", "/api/v1/cases/"+r.ref, "")
			if code != http.StatusOK {
				return fmt.Errorf("GET answered %d: %s", code, b)
			}
			return json.Unmarshal(b, &c)
		})
		if !r.change.holds(c) {
			lost++
			t.Errorf("%s on %s answered 200 but did not hold: %+v", r.change.name, r.ref, c)
		}
	}
	t.Logf("changes answered 200: %v; refused 409: %v; answered 200 and undone: %d", answered, refused, lost)
	if answered["transfer"] == 0 || answered["assign"] == 0 || answered["priority"] == 0 || answered["recategorise"] == 0 {
		t.Errorf("some kinds of change were never applied: %v", answered)
	}
}
