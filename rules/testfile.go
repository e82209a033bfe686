package rules

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/cases"
)

// TestReport is the outcome of a rules test file.
type TestReport struct {
	RuleSet string       `json:"rule_set"`
	Version int          `json:"version"`
	Results []TestResult `json:"results"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
}

// TestResult is one sample case of a test file.
type TestResult struct {
	Name     string         `json:"name"`
	Line     int            `json:"line"` // of the case in the test file
	Passed   bool           `json:"passed"`
	Failures []string       `json:"failures,omitempty"`
	Decision cases.Decision `json:"decision"`
}

// OK reports whether every case passed.
func (r *TestReport) OK() bool { return r.Failed == 0 }

// String is the report as `casebridge rules test` prints it.
func (r *TestReport) String() string {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Passed {
			fmt.Fprintf(&b, "ok    line %d: %s\n", res.Line, res.Name)
			continue
		}
		fmt.Fprintf(&b, "FAIL  line %d: %s\n", res.Line, res.Name)
		for _, f := range res.Failures {
			fmt.Fprintf(&b, "        %s\n", f)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", r.Passed, r.Failed)
	return b.String()
}

type testFile struct {
	Cases []testCase `yaml:"cases"`
}

type testCase struct {
	Name   string     `yaml:"name"`
	Facts  Facts      `yaml:"facts"`
	Expect testExpect `yaml:"expect"`
}

type testExpect struct {
	Department string `yaml:"department"`
	Team       string `yaml:"team"`
	Partner    string `yaml:"partner"`
	Priority   string `yaml:"priority"`
	SLAPolicy  string `yaml:"sla_policy"`
	Rule       string `yaml:"rule"`
}

var unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type rules\.(\w+)`)

// RunTests routes each sample case of a test file with c and checks the route
// it expects. The file lists cases by the facts rules see (FACTS.md):
//
//	cases:
//	  - name: dangerous pothole in Camden Town
//	    facts: {service_code: POT, attributes: {dangerous: "yes"}, areas: [Camden Town]}
//	    expect: {department: highways, team: roads-north, priority: urgent, rule: pothole-dangerous-north}
//
// expect needs a department; team, partner, priority, sla_policy and rule are
// checked when given. The error is for a file that cannot be read as a test
// file; failing cases are in the report.
func RunTests(c *Compiled, casesYAML []byte) (*TestReport, error) {
	var tf testFile
	dec := yaml.NewDecoder(bytes.NewReader(casesYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, testFileError(err)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(casesYAML, &doc) // read above, so it parses
	lines := caseLines(&doc)

	var problems []string
	for i, tc := range tf.Cases {
		if tc.Expect.Department == "" {
			problems = append(problems, fmt.Sprintf("line %d: case %q needs expect: {department: ...}", lineOf(lines, i), tc.Name))
		}
	}
	if len(tf.Cases) == 0 {
		problems = append(problems, "the file has no cases; list them under 'cases:'")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}

	rep := &TestReport{RuleSet: c.Name(), Version: c.Version()}
	for i, tc := range tf.Cases {
		res := TestResult{Name: tc.Name, Line: lineOf(lines, i)}
		if res.Name == "" {
			res.Name = fmt.Sprintf("case %d", i+1)
		}
		d := c.Route(tc.Facts)
		res.Decision = d
		check := func(what, got, want string) {
			if want != "" && got != want {
				res.Failures = append(res.Failures, fmt.Sprintf("%s = %q, want %q", what, got, want))
			}
		}
		e := tc.Expect
		check("department", d.Department, e.Department)
		check("team", d.Team, e.Team)
		check("partner", d.Partner, e.Partner)
		check("priority", string(d.Priority), e.Priority)
		check("sla_policy", d.SLAPolicy, e.SLAPolicy)
		check("rule", d.RuleID, e.Rule)
		if len(res.Failures) > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("(decided by rule %s: %s)", d.RuleID, RouteLabel(d)))
			if d.Error != "" {
				res.Failures = append(res.Failures, "(errors: "+d.Error+")")
			}
			rep.Failed++
		} else {
			res.Passed = true
			rep.Passed++
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func testFileError(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
				known := setKeys
				what := "a test file"
				switch m[3] {
				case "Facts":
					known, what = factNames(), "facts"
				case "testCase":
					known, what = []string{"name", "facts", "expect"}, "a case"
				case "testExpect":
					known, what = []string{"department", "team", "partner", "priority", "sla_policy", "rule"}, "expect"
				case "testFile":
					known = []string{"cases"}
				}
				msgs = append(msgs, fmt.Sprintf("line %s: '%s' is not something %s can have%s", m[1], m[2], what, didYouMean(m[2], known)))
				continue
			}
			msgs = append(msgs, e)
		}
		return fmt.Errorf("read test cases: %s", strings.Join(msgs, "\n"))
	}
	return fmt.Errorf("read test cases: %w", err)
}

// caseLines finds the line of each case in the file.
func caseLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "cases" && root.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, c := range root.Content[i+1].Content {
				lines = append(lines, c.Line)
			}
			return lines
		}
	}
	return nil
}

func lineOf(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}
