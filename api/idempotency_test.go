package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/cases"
)

// TestIdempotencyKeysAreScoped: Temporal keeps one namespace of update IDs
// per case, whatever the update, and so does the test engine. Two people
// sending the same Idempotency-Key, or one person sending it with two
// different changes, each get their change applied; only a true retry (the
// same person, the same change) is answered from the first.
func TestIdempotencyKeysAreScoped(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("1"))
	send := func(token, path, body string) cases.Case {
		t.Helper()
		r := h.do("POST", "/api/v1/cases/"+ref+path, strings.NewReader(body), "application/json",
			"Authorization", "Bearer "+token, "Idempotency-Key", "same-key")
		var c cases.Case
		if err := json.Unmarshal(r.body, &c); r.status >= 300 || err != nil {
			t.Fatalf("POST %s as %s: %d %s", path, token, r.status, r.body)
		}
		return c
	}
	if c := send("agent-token", "/assignment", `{"assignee":"amy"}`); c.Assignee != "amy" {
		t.Errorf("amy's assignment: assignee %q", c.Assignee)
	}
	// Another person, the same key: their own change.
	if c := send(testToken, "/transfer", `{"department":"parks"}`); c.Department != "parks" {
		t.Errorf("the admin's transfer with amy's key answered with department %q: it was not applied", c.Department)
	}
	// The same person, the same key, another change.
	if c := send("agent-token", "/comments", `{"note":"Called the reporter"}`); c.Timeline[len(c.Timeline)-1].Note != "Called the reporter" {
		t.Errorf("amy's note with the key of her assignment was not applied: last entry %+v", c.Timeline[len(c.Timeline)-1])
	}
	send("agent-token", "/transitions", `{"status":"in_progress"}`)
	// A true retry is answered from the first time and changes nothing.
	if c := send("agent-token", "/assignment", `{"assignee":"amy"}`); c.Department != "highways" || c.Assignee != "amy" {
		t.Errorf("amy's retried assignment: %s / %q, want the first answer (highways / amy)", c.Department, c.Assignee)
	}
	got, _ := h.engine.Get(context.Background(), ref)
	count := map[cases.Kind]int{}
	for _, e := range got.Timeline {
		count[e.Kind]++
	}
	want := map[cases.Kind]int{cases.KindAssigned: 1, cases.KindTransferred: 1, cases.KindComment: 1, cases.KindStatus: 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %s entries, want %d (timeline %v)", count[k], k, n, count)
		}
	}
	if got.Department != "parks" || got.Status != cases.StatusInProgress {
		t.Errorf("case ends %s / %s, want parks / in_progress", got.Department, got.Status)
	}

	for _, key := range []string{strings.Repeat("k", cases.MaxIdempotencyKey+1), "ключ"} {
		r := h.do("POST", "/api/v1/cases/"+ref+"/comments", strings.NewReader(`{"note":"x"}`), "application/json",
			"Authorization", "Bearer agent-token", "Idempotency-Key", key)
		var p Problem
		if json.Unmarshal(r.body, &p); r.status != 422 || p.Field != "Idempotency-Key" {
			t.Errorf("Idempotency-Key %.20q…: %d %s, want 422 naming Idempotency-Key", key, r.status, r.body)
		}
	}
	// A key at the limit is used, hashed to keep the update ID short.
	long := strings.Repeat("k", cases.MaxIdempotencyKey)
	for range 2 {
		r := h.do("POST", "/api/v1/cases/"+ref+"/comments", strings.NewReader(`{"note":"long key"}`), "application/json",
			"Authorization", "Bearer agent-token", "Idempotency-Key", long)
		if r.status != 201 {
			t.Fatalf("a key of %d characters: %d %s", len(long), r.status, r.body)
		}
	}
	got, _ = h.engine.Get(context.Background(), ref)
	if n := strings.Count(string(mustJSON(t, got.Timeline)), "long key"); n != 1 {
		t.Errorf("a note sent twice with a long key is on the timeline %d times, want once", n)
	}
}

func TestUpdateIDIsScopedAndShort(t *testing.T) {
	if updateID("staff", "amy", "assign", "") != "" {
		t.Error("no key must mean no update ID")
	}
	a, b := updateID("staff", "amy", "assign", "k"), updateID("staff", "amy:assign", "x", "k")
	if a == b || a == updateID("staff", "bob", "assign", "k") || a == updateID("staff", "amy", "transfer", "k") || a == updateID("console", "amy", "assign", "k") {
		t.Error("update IDs of different callers or operations collide")
	}
	if id := updateID("staff", "amy", "assign", strings.Repeat("k", 255)); len(id) > 100 {
		t.Errorf("update ID for a long key is %d bytes", len(id))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
