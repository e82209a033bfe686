package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
)

// newCaseRequest is a report staff take on the phone, at the counter or from
// the council's own web form: POST /api/v1/cases.
type newCaseRequest struct {
	ServiceCode string `json:"service_code"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Source is phone (the default), web or staff.
	Source   string `json:"source"`
	Location struct {
		Lat       *float64 `json:"lat"`
		Long      *float64 `json:"long"`
		Easting   *float64 `json:"easting"`
		Northing  *float64 `json:"northing"`
		Address   string   `json:"address"`
		AddressID string   `json:"address_id"`
	} `json:"location"`
	// Attributes are the answers to the service's questions; a multi-value
	// answer is a list.
	Attributes map[string]stringOrList `json:"attributes"`
	Reporter   cases.Reporter          `json:"reporter"`
}

// stringOrList reads "yes" or ["furniture", "tyres"].
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return fmt.Errorf("an attribute answer is a string or a list of strings")
	}
	*s = []string{one}
	return nil
}

// createCase opens a case from a report staff took. The Idempotency-Key header
// makes a retried request find the case it opened the first time (answered
// 200 instead of 201); without one, every request opens a new case.
func (s *Server) createCase(c *gin.Context) {
	var b newCaseRequest
	if !bindJSON(c, &b) {
		return
	}
	l := b.Location
	answers := map[string][]string{}
	for k, v := range b.Attributes {
		answers[k] = v
	}
	if b.Reporter.Type == "" {
		b.Reporter.Type = "public"
	}
	rep := cases.Report{
		Source: cases.Source(b.Source), ServiceCode: b.ServiceCode, Title: b.Title, Description: b.Description,
		Location:   cases.Location{Lat: l.Lat, Long: l.Long, Easting: l.Easting, Northing: l.Northing, Address: l.Address, AddressID: l.AddressID},
		Reporter:   b.Reporter,
		Attributes: cases.Attributes(answers),
		ReceivedAt: s.deps.Now().UTC(),
	}
	// Every field within its limit first, so that no answer below quotes
	// megabytes back.
	if err := rep.Check(); err != nil {
		s.domainProblem(c, err)
		return
	}
	svc, ok := s.cfg.Service(b.ServiceCode)
	if !ok {
		problem(c, http.StatusUnprocessableEntity, "Invalid request",
			fmt.Sprintf("%q is not a service; GET /open311/v2/services.json lists them", b.ServiceCode), "service_code")
		return
	}
	switch rep.Source {
	case "":
		rep.Source = cases.SourcePhone
	case cases.SourcePhone, cases.SourceWeb, cases.SourceStaff:
	default:
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "source is phone, web or staff", "source")
		return
	}
	if (l.Lat == nil) != (l.Long == nil) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "give both lat and long, or neither", "location")
		return
	}
	if l.Lat != nil && (math.IsNaN(*l.Lat) || *l.Lat < -90 || *l.Lat > 90 || math.IsNaN(*l.Long) || *l.Long < -180 || *l.Long > 180) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "lat is between -90 and 90 and long between -180 and 180", "location")
		return
	}
	if l.Lat == nil && strings.TrimSpace(l.Address) == "" && l.AddressID == "" {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "say where the problem is: lat and long, an address or an address id", "location")
		return
	}
	if ps := checkAttributes(svc, answers); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = p.Message
		}
		problem(c, http.StatusUnprocessableEntity, "Invalid request", strings.Join(msgs, "; "), "attributes."+ps[0].Code)
		return
	}
	p := who(c)
	k, ok := idempotencyKey(c)
	if !ok {
		return
	}
	key := "staff:" + randomKey()
	if k != "" {
		key = "staff:" + p.Name + ":" + k
	}
	rep.IntakeKey = key
	res, err := s.deps.Cases.Start(c.Request.Context(), rep, cases.Service{Code: svc.Code, Name: svc.Name, Group: svc.Group})
	if err != nil {
		s.deps.Metrics.Intake(string(rep.Source), "failed")
		s.log.Error("staff intake failed", "service_code", svc.Code, "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the case engine did not answer: nothing was recorded; try again with the same Idempotency-Key", "")
		return
	}
	status, outcome := http.StatusCreated, "created"
	if !res.Created {
		status, outcome = http.StatusOK, "duplicate"
	}
	s.deps.Metrics.Intake(string(rep.Source), outcome)
	s.log.Info("report taken by staff", "ref", res.Ref, "service_code", svc.Code, "source", rep.Source, "staff", p.Name)
	c.Header("Location", "/api/v1/cases/"+res.Ref)
	c.JSON(status, gin.H{"ref": res.Ref, "created": res.Created})
}
