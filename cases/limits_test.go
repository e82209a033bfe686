package cases

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// fill is n characters of s repeated (s is one character).
func fill(s string, n int) string { return strings.Repeat(s, n) }

func TestCheckLineAndText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     string
		lines bool
		ok    bool
	}{
		{"at the limit, four-byte characters", fill("😀", 10), false, true},
		{"past the limit", fill("a", 11), false, false},
		{"right-to-left mark and joiner", "\u200fشارع\u200d", false, true},
		{"NUL", "a\x00b", true, false},
		{"escape", "a\x1bb", true, false},
		{"C1 control", "a\u0085b", true, false},
		{"invalid UTF-8", "a\xffb", true, false},
		{"line break in one line", "a\nb", false, false},
		{"tab in one line", "a\tb", false, false},
		{"line breaks and tabs in text", "a\r\n\tb", true, true},
		{"empty", "", false, true},
	} {
		check := CheckLine
		if tc.lines {
			check = CheckText
		}
		err := check("f", tc.s, 10)
		var ie *InputError
		if tc.ok != (err == nil) || err != nil && (!errors.As(err, &ie) || ie.Field != "f" || ie.Reason == "") {
			t.Errorf("%s: %v, want ok=%v and an InputError naming f", tc.name, err, tc.ok)
		}
	}
	// A field of megabytes is refused as fast as one just past its limit.
	if err := CheckText("f", fill("a", 8<<20), MaxNote); err == nil || !strings.Contains(err.Error(), "longer than 10000") {
		t.Errorf("8 MiB: %v", err)
	}
}

// TestStaffChangesAreBounded: every staff change is refused by its check when
// a field is past its limit, naming the field, so the workflow's update
// validator refuses it before it can reach a search attribute or the history.
func TestStaffChangesAreBounded(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	c := New("CB-7KQ2M9", Report{ServiceCode: "POT"}, Service{Code: "POT", Name: "Pothole"}, now)
	c.Route(Decision{Department: "highways", Priority: PriorityNormal}, now)
	c.Promise = &Promise{Escalations: []Escalation{{Seq: 1, Level: "breach"}}}
	for _, tc := range []struct {
		name, field string
		ok          func(n int) error // a change with a field of n characters
		max         int
	}{
		{"assignee", "assignee", func(n int) error { return c.CheckAssign(Assignment{Assignee: fill("é", n)}) }, MaxLabel},
		{"assignment note", "note", func(n int) error { return c.CheckAssign(Assignment{Assignee: "amy", Note: fill("é", n)}) }, MaxNote},
		{"department", "department", func(n int) error { return c.CheckTransfer(Transfer{Department: fill("d", n)}) }, MaxCode},
		{"team", "team", func(n int) error { return c.CheckTransfer(Transfer{Department: "parks", Team: fill("t", n)}) }, MaxLabel},
		{"transfer note", "note", func(n int) error { return c.CheckTransfer(Transfer{Department: "parks", Note: fill("n", n)}) }, MaxNote},
		{"service code", "service_code", func(n int) error { return c.CheckRecategorise(Recategorisation{Service: Service{Code: fill("S", n)}}) }, MaxCode},
		{"recategorisation note", "note", func(n int) error {
			return c.CheckRecategorise(Recategorisation{Service: Service{Code: "FLY"}, Note: fill("n", n)})
		}, MaxNote},
		{"priority note", "note", func(n int) error {
			return c.CheckPrioritise(Prioritisation{Priority: PriorityHigh, Note: fill("n", n)})
		}, MaxNote},
		{"status note", "note", func(n int) error { return c.Check(Change{To: StatusInProgress, Note: fill("😀", n)}) }, MaxNote},
		{"comment", "note", func(n int) error { return c.CheckComment(Comment{Note: fill("n", n)}) }, MaxNote},
		{"acknowledgement note", "note", func(n int) error { return c.CheckAcknowledge(Acknowledgement{Seq: 1, Note: fill("n", n)}) }, MaxNote},
		{"citizen update id", "update_id", func(n int) error { return c.CheckCitizen(CitizenUpdate{UpdateID: fill("1", n)}) }, MaxID},
		{"citizen status", "status", func(n int) error { return c.CheckCitizen(CitizenUpdate{UpdateID: "1", Status: fill("S", n)}) }, MaxCode},
		{"citizen description", "description", func(n int) error { return c.CheckCitizen(CitizenUpdate{UpdateID: "1", Description: fill("d", n)}) }, MaxNote},
	} {
		if err := tc.ok(tc.max); err != nil {
			t.Errorf("%s at its limit of %d: %v", tc.name, tc.max, err)
		}
		for _, n := range []int{tc.max + 1, max(tc.max+1, 3000), 2 << 20} {
			var ie *InputError
			if err := tc.ok(n); !errors.As(err, &ie) || ie.Field != tc.field || len(ie.Reason) > 200 {
				t.Errorf("%s of %d characters: %v, want a short InputError naming %s", tc.name, n, err, tc.field)
			}
		}
	}
	var ie *InputError
	if err := c.CheckComment(Comment{Note: "a\x00b"}); !errors.As(err, &ie) || ie.Field != "note" {
		t.Errorf("a note with NUL: %v", err)
	}
	if err := c.CheckAssign(Assignment{Assignee: "amy\nbob"}); !errors.As(err, &ie) || ie.Field != "assignee" {
		t.Errorf("an assignee on two lines: %v", err)
	}
}

// maxReport is a report with every field at its limit, in characters that
// take the most room in JSON: "<" is written \u003c, six bytes.
func maxReport() Report {
	w := func(n int) string { return fill("<", n) }
	attrs := Attributes{"description": {w(MaxDescription)}, "title": {w(MaxTitle)}}
	left := MaxAttributeText - MaxDescription - MaxTitle
	for i := 0; len(attrs) < MaxAttributes; i++ {
		n := min(left, MaxAttributeValue)
		left -= n
		attrs[fill("c", MaxCode-2)+string(rune('A'+i/26))+string(rune('a'+i%26))] = []string{w(n)}
	}
	urls := make([]string, MaxMediaURLs)
	for i := range urls {
		urls[i] = "https://e.org/" + w(MaxURL-14)
	}
	return Report{
		IntakeKey: "fixmystreet:1", Source: SourceFixMyStreet, ExternalID: w(MaxAttributeValue), ServiceCode: fill("S", MaxCode),
		Title: w(MaxTitle), Description: w(MaxDescription),
		Location:  Location{Address: w(MaxAddress), AddressID: w(MaxID), Zipcode: w(MaxZipcode), ClosestAddress: w(MaxAddress)},
		MediaURLs: urls, ReportURL: w(MaxURL),
		Reporter: Reporter{FirstName: w(MaxName), LastName: w(MaxName), Email: w(MaxEmail), Phone: w(MaxPhone),
			AccountID: w(MaxID), DeviceID: w(MaxID), Type: fill("t", MaxCode)},
		Attributes: attrs, Jurisdiction: w(MaxJurisdiction),
	}
}

// TestReportLimits: a report at every limit passes, and is far inside
// Temporal's payload limits (it warns at 512 KiB); one character more in any
// field is refused, naming the field.
func TestReportLimits(t *testing.T) {
	r := maxReport()
	if err := r.Check(); err != nil {
		t.Fatalf("a report at every limit: %v", err)
	}
	b, _ := json.Marshal(r)
	if len(b) > 512<<10 {
		t.Errorf("a report at every limit is %d KiB of JSON; Temporal warns at 512 KiB", len(b)>>10)
	}
	t.Logf("a report at every limit: %d KiB of JSON", len(b)>>10)
	for _, tc := range []struct {
		field string
		grow  func(*Report)
	}{
		{"title", func(r *Report) { r.Title += "x" }},
		{"description", func(r *Report) { r.Description += "x" }},
		{"service_code", func(r *Report) { r.ServiceCode += "x" }},
		{"external_id", func(r *Report) { r.ExternalID += "x" }},
		{"location.address", func(r *Report) { r.Location.Address += "x" }},
		{"location.address_id", func(r *Report) { r.Location.AddressID += "x" }},
		{"location.zipcode", func(r *Report) { r.Location.Zipcode += "x" }},
		{"location.closest_address", func(r *Report) { r.Location.ClosestAddress += "x" }},
		{"report_url", func(r *Report) { r.ReportURL += "x" }},
		{"media_urls", func(r *Report) { r.MediaURLs[3] += "x" }},
		{"media_urls", func(r *Report) { r.MediaURLs = append(r.MediaURLs, "https://e.org/") }},
		{"reporter.first_name", func(r *Report) { r.Reporter.FirstName += "x" }},
		{"reporter.last_name", func(r *Report) { r.Reporter.LastName += "x" }},
		{"reporter.email", func(r *Report) { r.Reporter.Email += "x" }},
		{"reporter.phone", func(r *Report) { r.Reporter.Phone += "x" }},
		{"reporter.account_id", func(r *Report) { r.Reporter.AccountID += "x" }},
		{"reporter.device_id", func(r *Report) { r.Reporter.DeviceID += "x" }},
		{"reporter.type", func(r *Report) { r.Reporter.Type += "x" }},
		{"jurisdiction", func(r *Report) { r.Jurisdiction += "x" }},
		{"attributes.description", func(r *Report) { r.Attributes["description"][0] = fill("d", MaxDescription+1) }},
		{"attributes", func(r *Report) { r.Attributes["extra"] = []string{"x"} }},
		{"attributes.title", func(r *Report) { r.Attributes["title"][0] += "x" }},
		{"attributes", func(r *Report) { r.Attributes[fill("c", MaxCode-2)+"Ak"][0] += "x" }}, // each answer is within its limit, all together are not
		{"attributes.many", func(r *Report) {
			r.Attributes = Attributes{"many": make([]string, MaxAttributeValues+1)}
		}},
		{"attributes", func(r *Report) { r.Attributes = Attributes{fill("c", MaxCode+1): {"x"}} }},
		{"attributes.x", func(r *Report) { r.Attributes = Attributes{"x": {fill("v", MaxAttributeValue+1)}} }},
	} {
		r := maxReport()
		tc.grow(&r)
		var ie *InputError
		if err := r.Check(); !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("one past the limit of %s: %v", tc.field, err)
		}
	}
}
