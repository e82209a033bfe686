package cases

import (
	"fmt"
	"maps"
	"slices"
	"unicode"
	"unicode/utf8"
)

// The limits on every text field that comes from outside, in characters
// (Unicode code points). Open311, the staff JSON API, the console and the
// checks below all use these, and README.md, api/openapi.json and the Open311
// service definitions publish them.
//
// They are generous for any real report or change, and together keep a case
// far inside Temporal's limits: a report at every limit is under 512 KiB of
// JSON (Temporal warns at 512 KiB and refuses 2 MiB), and a search attribute
// (department, team, assignee, service code) is under 2 KiB, the most a
// Keyword may hold.
const (
	MaxName  = 100 // first_name, last_name
	MaxEmail = 254 // the longest address SMTP can carry (RFC 5321)
	MaxPhone = 40  // room for an international number with an extension
	// MaxID bounds the ids other systems give us: account_id, device_id,
	// address_id (a UPRN is 12 digits), FixMyStreet's update_id.
	MaxID      = 100
	MaxAddress = 500 // address_string, closest_address
	MaxZipcode = 20
	// MaxJurisdiction is the longest DNS name: the spec suggests the
	// council's domain.
	MaxJurisdiction = 253
	MaxTitle        = 500
	// MaxDescription bounds a report's description. The Open311 spec says
	// 4,000, but FixMyStreet does not hold citizens to that and wraps what
	// they wrote in its own "title: … detail: … url: … Submitted via
	// FixMyStreet" text; a refused report is not shown to the citizen as an
	// error but sits in FixMyStreet's retry queue and never reaches the
	// council.
	MaxDescription = 10_000
	// MaxNote bounds a staff note and a citizen's update.
	MaxNote      = 10_000
	MaxURL       = 2_048 // media_url, report_url
	MaxMediaURLs = 10
	// MaxCode bounds codes: service_code, department, attribute codes, the
	// status of a citizen's update. The configuration's own codes are at
	// most 64 characters of A-Z a-z 0-9 _ . - too.
	MaxCode = 64
	// MaxLabel bounds the names staff type or choose: an assignee (a person,
	// an email address or a queue) and a team.
	MaxLabel = 100
	// MaxAttributeValue bounds one answer to a service's question, except
	// those FixMyStreet fills with what a report has its own fields for
	// (MaxAttribute).
	MaxAttributeValue = 2_000
	MaxAttributes     = 50 // questions answered in one report
	// MaxAttributeValues bounds the answers to one multi-value question.
	MaxAttributeValues = 20
	// MaxAttributeText bounds all the answers of a report together.
	MaxAttributeText = 20_000
	// MaxIdempotencyKey bounds an Idempotency-Key header, which is printable
	// ASCII (a structured-field string).
	MaxIdempotencyKey = 255
)

// CheckLine checks a one-line field: valid UTF-8, at most max characters, and
// no control characters (line breaks and tabs included): these fields are
// shown on one line, compared, indexed and put in headers. Format characters
// such as right-to-left marks and emoji joiners are allowed, as names need
// them.
func CheckLine(field, s string, max int) error {
	return checkText(field, s, max, false)
}

// CheckText checks free text (a description, a note, an answer): as
// CheckLine, but line breaks and tabs are allowed. Other control characters
// (NUL, escape, …) are refused: no one types them, and they break the
// terminals, emails and XML the text goes on to.
func CheckText(field, s string, max int) error {
	return checkText(field, s, max, true)
}

func checkText(field, s string, max int, lines bool) error {
	if !utf8.ValidString(s) {
		return &InputError{Field: field, Reason: "is not valid UTF-8"}
	}
	// Counting stops just past max, so a field of megabytes costs no more
	// than one at its limit.
	n := 0
	for _, r := range s {
		if n++; n > max {
			return &InputError{Field: field, Reason: fmt.Sprintf("is longer than %d characters", max)}
		}
		if !unicode.IsControl(r) || lines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if r == '\n' || r == '\r' {
			return &InputError{Field: field, Reason: "contains a line break; it takes one line"}
		}
		return &InputError{Field: field, Reason: fmt.Sprintf("contains a control character (U+%04X)", r)}
	}
	return nil
}

// MaxAttribute is the most characters an answer to the question code may
// have. FixMyStreet fills some answers itself, with what a report has its own
// fields for (Open311 intake copies them there): those have the field's limit.
func MaxAttribute(code string) int {
	switch code {
	case "description":
		return MaxDescription
	case "title":
		return MaxTitle
	case "closest_address":
		return MaxAddress
	case "report_url":
		return MaxURL
	}
	return MaxAttributeValue
}

// CheckAttributes checks a report's answers: how many there are, their codes
// and each value, and all of them together. Every problem is returned,
// sorted by code, with fields named attributes.<code>.
func CheckAttributes(a map[string][]string) []*InputError {
	var out []*InputError
	if len(a) > MaxAttributes {
		return []*InputError{{Field: "attributes", Reason: fmt.Sprintf("has %d answers; at most %d are allowed", len(a), MaxAttributes)}}
	}
	total := 0
	for _, code := range slices.Sorted(maps.Keys(a)) {
		field := "attributes." + code
		if err := CheckLine(field, code, MaxCode); err != nil {
			ie := err.(*InputError)
			ie.Field, ie.Reason = "attributes", "has a code that "+ie.Reason
			out = append(out, ie)
			continue
		}
		vals := a[code]
		if len(vals) > MaxAttributeValues {
			out = append(out, &InputError{Field: field, Reason: fmt.Sprintf("has %d answers; at most %d are allowed", len(vals), MaxAttributeValues)})
			continue
		}
		for _, v := range vals {
			if err := CheckText(field, v, MaxAttribute(code)); err != nil {
				out = append(out, err.(*InputError))
				break
			}
			total += utf8.RuneCountInString(v)
		}
	}
	if total > MaxAttributeText {
		out = append(out, &InputError{Field: "attributes", Reason: fmt.Sprintf("are %d characters together; at most %d are allowed", total, MaxAttributeText)})
	}
	return out
}

// Check says whether every field of a report from outside is within its
// limit, naming the first that is not by its JSON name (reporter.email,
// location.address, attributes.<code>, …). Intake runs it before a case
// starts, so nothing unbounded reaches the workflow.
func (r Report) Check() error {
	l, p := r.Location, r.Reporter
	for _, f := range []struct {
		field, value string
		max          int
		text         bool
	}{
		{"external_id", r.ExternalID, MaxAttributeValue, false},
		{"service_code", r.ServiceCode, MaxCode, false},
		{"title", r.Title, MaxTitle, false},
		{"description", r.Description, MaxDescription, true},
		{"location.address", l.Address, MaxAddress, true},
		{"location.address_id", l.AddressID, MaxID, false},
		{"location.zipcode", l.Zipcode, MaxZipcode, false},
		{"location.closest_address", l.ClosestAddress, MaxAddress, true},
		{"report_url", r.ReportURL, MaxURL, false},
		{"reporter.first_name", p.FirstName, MaxName, false},
		{"reporter.last_name", p.LastName, MaxName, false},
		{"reporter.email", p.Email, MaxEmail, false},
		{"reporter.phone", p.Phone, MaxPhone, false},
		{"reporter.account_id", p.AccountID, MaxID, false},
		{"reporter.device_id", p.DeviceID, MaxID, false},
		{"reporter.type", p.Type, MaxCode, false},
		{"jurisdiction", r.Jurisdiction, MaxJurisdiction, false},
	} {
		check := CheckLine
		if f.text {
			check = CheckText
		}
		if err := check(f.field, f.value, f.max); err != nil {
			return err
		}
	}
	if len(r.MediaURLs) > MaxMediaURLs {
		return &InputError{Field: "media_urls", Reason: fmt.Sprintf("has %d links; at most %d are allowed", len(r.MediaURLs), MaxMediaURLs)}
	}
	for _, u := range r.MediaURLs {
		if err := CheckLine("media_urls", u, MaxURL); err != nil {
			return err
		}
	}
	if errs := CheckAttributes(r.Attributes); len(errs) > 0 {
		return errs[0]
	}
	return nil
}
