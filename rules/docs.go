package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// FactDoc describes a fact for the people who write rules.
type FactDoc struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // in words: text, a whole number, ...
	Description string `json:"description"`
	Example     string `json:"example"` // a whole condition using it
}

// FunctionDoc describes a helper rule authors can call.
type FunctionDoc struct {
	Name        string `json:"name"`
	Usage       string `json:"usage"`
	Description string `json:"description"`
	Example     string `json:"example"`
}

// factText is what FactDocs says about each fact; the types come from Facts
// itself, so they cannot drift. TestFactDocs checks every fact is here.
var factText = map[string][2]string{ // name → description, example
	"service_code":     {"The Open311 service code the report was filed under.", `service_code == "POT"`},
	"service_group":    {"The group of the service in the catalogue.", `service_group == "Roads and pavements"`},
	"service_name":     {"The name of the service.", `service_name == "Pothole"`},
	"title":            {"The report's title, if it has one.", `containsAny(title, ["urgent"])`},
	"description":      {"What the citizen wrote (about the first " + thousands(maxText) + " characters).", `containsAny(description, ["needle", "syringe"])`},
	"has_point":        {"Whether the report has a latitude and longitude.", `has_point && inArea("Camden Town")`},
	"lat":              {"Latitude (WGS84), 0 when there is no point.", `withinMetres(lat, long, 51.5390, -0.1426, 200)`},
	"long":             {"Longitude (WGS84), 0 when there is no point.", `long < -0.15`},
	"easting":          {"Easting on the British National Grid, 0 when unknown.", `easting > 528000`},
	"northing":         {"Northing on the British National Grid, 0 when unknown.", `northing > 183000`},
	"areas":            {"The council areas (wards, zones) the point is in; none when there is no point.", `"Camden Town" in areas`},
	"address":          {"The address given, or the closest address to the point.", `address contains "High Street"`},
	"source":           {"How the report reached the council: fixmystreet, open311, phone, web or staff.", `source == "phone"`},
	"reporter_type":    {"Who reported it: public, staff, councillor, ... (public unless the intake says otherwise).", `reporter_type == "councillor"`},
	"attributes":       {"The answer to each of the service's questions, by question code (the first answer where there are several). attr(\"code\") is easier to read.", `attributes["dangerous"] == "yes"`},
	"attribute_values": {"Every answer to each question, by question code, for questions with several answers. attrHas(\"code\", \"answer\") is easier to read.", `"asbestos" in attribute_values["waste_type"]`},
	"hour":             {"The hour the report was received, 0 to 23, on the council's clock.", `hour >= 18 || hour < 8`},
	"minute":           {"The minute the report was received, 0 to 59.", `hour == 8 && minute < 30`},
	"weekday":          {"The day the report was received: Monday to Sunday.", `weekday in ["Saturday", "Sunday"]`},
	"month":            {"The month the report was received, 1 (January) to 12.", `month in [10, 11]`},
	"received_date":    {"The date the report was received, as YYYY-MM-DD; text, so dates compare in order.", `received_date >= "2026-08-29" && received_date <= "2026-08-31"`},
	"working_day":      {"Whether the report was received on a working day (not a weekend or bank holiday).", `!working_day`},
	"working_hours":    {"Whether the report was received within the council's working hours.", `!working_hours && attr("happening_now") == "yes"`},
	"bank_holiday":     {"Whether the report was received on a bank holiday.", `bank_holiday`},
	"open_nearby":      {"How many other open cases of the same service are near the point (within " + strconv.Itoa(DefaultNearbyRadius) + " metres unless the council set another radius).", `open_nearby >= 3`},
}

// FactDocs describes every fact, in the order of the Facts type.
func FactDocs() []FactDoc {
	docs := make([]FactDoc, len(factTable))
	for i, f := range factTable {
		t := factText[f.name]
		docs[i] = FactDoc{Name: f.name, Type: typeName(f.typ), Description: t[0], Example: t[1]}
	}
	return docs
}

// FunctionDocs describes every helper rule authors can call.
func FunctionDocs() []FunctionDoc {
	docs := make([]FunctionDoc, len(functions))
	for i, f := range functions {
		docs[i] = FunctionDoc{Name: f.name, Usage: f.usage, Description: f.doc, Example: f.example}
	}
	return docs
}

// FactsMarkdown is the reference for rule authors that FACTS.md holds
// (regenerate it with `go test ./rules -run TestFactsMarkdown -update`).
func FactsMarkdown() string {
	var b strings.Builder
	b.WriteString(`# What a routing rule can look at

<!-- Generated from rules/docs.go by ` + "`go test ./rules -run TestFactsMarkdown -update`" + `; do not edit. -->

A rule's ` + "`when`" + ` is a condition in [expr](https://expr-lang.org/docs/language-definition)
that is true or false. It can use the **facts** below, the **helpers** after them, and expr's
operators: ` + "`== != < <= > >=`, `&& || !` (or `and or not`), `in`, `contains`, `startsWith`, `endsWith`, `matches`" + `
(a regular expression written in quotes), ` + "`+ - * /`" + `, and ` + "`cond ? a : b`" + `.
Text is written in double quotes, numbers without.

Rules are tried from the highest ` + "`priority`" + ` down (equal priorities in the order written);
the first rule whose condition is true decides the route, and when none is true the rule
set's ` + "`default`" + ` route is taken.

## Facts

| fact | kind | what it is | example |
| --- | --- | --- | --- |
`)
	for _, d := range FactDocs() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` |\n", d.Name, d.Type, mdCell(d.Description), mdCell(d.Example))
	}
	b.WriteString(`
Time facts come from the time the case was received, on the council's clock, never from
the time the rule runs: routing the same case again gives the same answer.

## Helpers

| helper | what it does | example |
| --- | --- | --- |
`)
	for _, d := range FunctionDocs() {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", mdCell(d.Usage), mdCell(d.Description), mdCell(d.Example))
	}
	fmt.Fprintf(&b, `
These expr functions work too: %s.
Functions over lists take a condition for each item, written with `+"`#`"+` for the item, e.g.
`+"`"+listExample+"`"+`.

## Writing conditions in YAML

A short condition can follow `+"`when:`"+` on the same line. Write it on its own lines after
`+"`when: |`"+` instead when it starts with a quote, contains `+"`: `"+`, or uses `+"`#`"+`
(YAML reads `+"` #`"+` as the start of a comment and would cut the condition there):

`+"```yaml"+`
  - id: camden-litter
    when: |
      service_code == "LIT"
        && `+listExample+`
    then: {department: waste, team: street-cleansing}
`+"```"+`

## Limits

So that no rule can slow down or stop case handling, a condition can be at most %s
characters and %s parts long, look inside lists at most %d levels deep, and use ranges of at
most %s values (written with whole numbers, e.g. `+"`hour in 9..17`"+`). A condition that could
take more than %d ms on the longest report a citizen can send is refused when it is saved.
`+"`now()`"+` and other clock functions are not available. A rule that fails while running is
skipped, the failure is recorded in the case, and the next rule is tried.
`, "`"+strings.Join(allowedBuiltins, "`, `")+"`", thousands(maxExprLen), thousands(maxNodes), maxPredicateDepth, thousands(maxRange), maxCost/1_000_000)
	return b.String()
}

// listExample shows a condition over a list; TestFactsMarkdown compiles it.
const listExample = `any(areas, # startsWith "Camden")`

// thousands writes n with commas, as staff read numbers: 10,000.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
