package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/open311"
	"github.com/casebridge/casebridge/readmodel"
)

const open311Prefix = "/open311/v2/"

func isOpen311(path string) bool { return strings.HasPrefix(path, open311Prefix) }

func (s *Server) open311Routes(g *gin.RouterGroup) {
	g.GET("/:file", s.open311Get)
	g.POST("/:file", s.open311Post)
	g.GET("/services/:file", s.serviceDefinition)
	g.GET("/requests/:file", s.getRequest)
	g.GET("/tokens/:file", s.token)
}

// open311Error writes err in the spec's errors format.
func (s *Server) open311Error(c *gin.Context, f open311.Format, err error) {
	var oe *open311.Error
	if !errors.As(err, &oe) {
		s.log.Error("open311", "path", c.Request.URL.Path, "error", err)
	}
	_ = open311.WriteError(c.Writer, f, err)
	c.Abort()
}

func (s *Server) open311NotFound(c *gin.Context) {
	elem := c.Request.URL.Path[strings.LastIndexByte(c.Request.URL.Path, '/')+1:]
	_, f, _ := open311.SplitFormat(elem)
	s.open311Error(c, f, open311.NotFound("there is no Open311 resource at %s", c.Request.URL.Path))
}

// format splits the :file path element into its name and format, answering the
// error itself when the format is not one we serve.
func (s *Server) format(c *gin.Context) (string, open311.Format, bool) {
	name, f, err := open311.SplitFormat(c.Param("file"))
	if err != nil {
		s.open311Error(c, f, err)
		return "", f, false
	}
	return name, f, true
}

// jurisdiction refuses a request that names a jurisdiction this server is not.
func (s *Server) jurisdiction(id string) error {
	want := s.cfg.Council.JurisdictionID
	if id == "" || want == "" || strings.EqualFold(id, want) {
		return nil
	}
	return open311.NotFound("jurisdiction_id %q not found: this endpoint serves %q", id, want)
}

func (s *Server) open311Get(c *gin.Context) {
	name, f, ok := s.format(c)
	if !ok {
		return
	}
	if err := s.jurisdiction(c.Query("jurisdiction_id")); err != nil {
		s.open311Error(c, f, err)
		return
	}
	switch name {
	case "discovery":
		s.discovery(c, f)
	case "services":
		s.write(c, f, s.services())
	case "requests":
		s.listRequests(c, f)
	case "servicerequestupdates":
		s.listUpdates(c, f)
	default:
		s.open311Error(c, f, open311.NotFound("there is no Open311 resource %q", name))
	}
}

func (s *Server) open311Post(c *gin.Context) {
	name, f, ok := s.format(c)
	if !ok {
		return
	}
	switch name {
	case "requests":
		s.postRequest(c, f)
	case "servicerequestupdates":
		s.postUpdate(c, f)
	default:
		s.open311Error(c, f, open311.NotFound("cannot POST to %q: POST requests or servicerequestupdates", name))
	}
}

func (s *Server) write(c *gin.Context, f open311.Format, body open311.Body) {
	if err := open311.Write(c.Writer, f, body); err != nil {
		s.open311Error(c, f, err)
	}
}

func (s *Server) discovery(c *gin.Context, f open311.Format) {
	base := strings.TrimSuffix(s.cfg.Council.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	s.write(c, f, open311.Discovery{
		Changeset:  s.started,
		Contact:    s.cfg.Council.Contact,
		KeyService: "Ask " + s.cfg.Council.Name + " for an api_key: " + s.cfg.Council.Contact,
		Endpoints: []open311.Endpoint{{
			Specification: open311.Specification, URL: base + open311Prefix, Changeset: s.started,
			Type: "production", Formats: []open311.Format{open311.XML, open311.JSON},
		}},
	})
}

func (s *Server) services() open311.Services {
	out := make(open311.Services, 0, len(s.cfg.Services))
	for _, svc := range s.cfg.Services {
		var groups []string
		if svc.Group != "" {
			groups = []string{svc.Group}
		}
		out = append(out, open311.Service{
			ServiceCode: svc.Code, ServiceName: svc.Name, Description: svc.Description,
			Metadata: len(svc.Attributes) > 0, Type: svc.Type, Keywords: svc.Keywords, Groups: groups,
		})
	}
	return out
}

func (s *Server) serviceDefinition(c *gin.Context) {
	code, f, ok := s.format(c)
	if !ok {
		return
	}
	if err := s.jurisdiction(c.Query("jurisdiction_id")); err != nil {
		s.open311Error(c, f, err)
		return
	}
	svc, found := s.cfg.Service(code)
	if !found {
		s.open311Error(c, f, open311.NotFound("service_code %q not found: GET services.%s lists them", code, f))
		return
	}
	def := open311.ServiceDefinition{ServiceCode: svc.Code}
	for _, a := range svc.Attributes {
		oa := open311.Attribute{Variable: a.IsVariable(), Code: a.Code, Datatype: a.Datatype, Required: a.Required,
			DatatypeDescription: a.DatatypeDescription, Order: a.Order, Description: a.Description, Automated: a.Automated}
		if a.Datatype == "string" || a.Datatype == "text" {
			// The spec has no field for a length; its help text is where a
			// client's developer (and FixMyStreet's form) reads it.
			oa.DatatypeDescription = strings.TrimSpace(oa.DatatypeDescription + fmt.Sprintf(" Up to %d characters.", cases.MaxAttribute(a.Code)))
		}
		for _, v := range a.Values {
			oa.Values = append(oa.Values, open311.Value{Key: v.Key, Name: v.Name})
		}
		def.Attributes = append(def.Attributes, oa)
	}
	s.write(c, f, def)
}

// apiKey checks a POST's api_key and returns the client it belongs to.
func (s *Server) apiKey(key string) (string, error) {
	name, ok := s.cfg.APIKeyName(key)
	if !ok {
		return "", open311.Forbidden("invalid api_key: ask %s for a key", s.cfg.Council.Name)
	}
	return name, nil
}

// clientKey is the decoders' api_key check; client is set to the name of the
// client the key belongs to.
func (s *Server) clientKey(client *string) open311.KeyCheck {
	return func(key string) (err error) {
		*client, err = s.apiKey(key)
		return err
	}
}

func (s *Server) postRequest(c *gin.Context, f open311.Format) {
	var client string
	req, err := open311.DecodeRequest(c.Request, s.clientKey(&client))
	if err == nil {
		err = s.jurisdiction(req.JurisdictionID)
	}
	var svc config.Service
	if err == nil {
		var found bool
		if svc, found = s.cfg.Service(req.ServiceCode); !found {
			err = open311.NotFound("service_code %q not found: GET services.%s lists them", req.ServiceCode, f)
		}
	}
	if err == nil {
		err = open311Problems(checkAttributes(svc, req.Attributes))
	}
	if err != nil {
		s.deps.Metrics.Intake("open311", "rejected")
		s.open311Error(c, f, err)
		return
	}
	rep := s.report(req, client)
	if err := rep.Check(); err != nil {
		// The decoder holds every parameter to its limit; this holds what
		// intake made of them (attribute[report_url] as the report's link,
		// say), so that nothing unbounded starts a case.
		s.deps.Metrics.Intake("open311", "rejected")
		s.open311Error(c, f, open311.BadRequest("%s", open311Field(err)))
		return
	}
	res, err := s.deps.Cases.Start(c.Request.Context(), rep, cases.Service{Code: svc.Code, Name: svc.Name, Group: svc.Group})
	if err != nil {
		s.deps.Metrics.Intake(string(rep.Source), "failed")
		s.log.Error("intake failed", "service_code", svc.Code, "source", rep.Source, "error", err)
		s.open311Error(c, f, &open311.Error{Status: http.StatusServiceUnavailable, Problems: []open311.Problem{{Code: 503,
			Description: "the case engine is not answering: the report was not recorded; please try again shortly"}}})
		return
	}
	outcome := "created"
	if !res.Created {
		outcome = "duplicate"
	}
	s.deps.Metrics.Intake(string(rep.Source), outcome)
	s.log.Info("report received", "ref", res.Ref, "service_code", svc.Code, "source", rep.Source, "outcome", outcome)
	receipt := open311.Receipt{ServiceNotice: svc.Notice}
	if svc.Type == "batch" {
		receipt.Token = tokenFor(res.Ref)
	} else {
		receipt.ServiceRequestID = res.Ref
	}
	s.write(c, f, receipt)
}

// report builds the domain report from an Open311 request. FixMyStreet's
// server-set attributes (fixmystreet_id, title, easting, ...) land in their own
// fields as well as in the attributes, so rules can use either.
func (s *Server) report(req *open311.PostedRequest, client string) cases.Report {
	a := req.Attributes
	rep := cases.Report{
		Source:      cases.SourceOpen311,
		ServiceCode: req.ServiceCode,
		Title:       a.Get("title"),
		Description: req.Description,
		Location: cases.Location{
			Address: req.AddressString, AddressID: req.AddressID, ClosestAddress: a.Get("closest_address"),
			Easting: number(a.Get("easting")), Northing: number(a.Get("northing")),
		},
		MediaURLs:    req.MediaURLs,
		ReportURL:    a.Get("report_url"),
		Reporter:     cases.Reporter{FirstName: req.FirstName, LastName: req.LastName, Email: req.Email, Phone: req.Phone, AccountID: req.AccountID, DeviceID: req.DeviceID, Type: "public"},
		Attributes:   cases.Attributes(a),
		Jurisdiction: req.JurisdictionID,
		ReceivedAt:   s.deps.Now().UTC(),
	}
	if req.Point != nil {
		lat, long := req.Point.Lat, req.Point.Long
		rep.Location.Lat, rep.Location.Long = &lat, &long
	}
	if rep.Description == "" {
		rep.Description = a.Get("description")
	}
	if id := a.Get("fixmystreet_id"); id != "" {
		rep.Source = cases.SourceFixMyStreet
		rep.ExternalID = id
		// The same FixMyStreet report always maps to the same case, however
		// often FixMyStreet retries.
		rep.IntakeKey = "fixmystreet:" + id
	} else {
		if client == "fixmystreet" {
			rep.Source = cases.SourceFixMyStreet
		}
		rep.IntakeKey = "open311:" + client + ":" + randomKey()
	}
	return rep
}

func number(s string) *float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil
	}
	return &v
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// attributeProblem is one answer that does not fit its question.
type attributeProblem struct {
	Code    string // the question's code
	Message string // says what is wrong, naming attribute[code]
}

// checkAttributes holds answers to the service's questions: required ones
// present, list answers among the choices, numbers and datetimes readable.
// Answers to questions the service never asked are kept and not checked:
// FixMyStreet sends some (uprn, say) to every endpoint. Both intake routes, the
// Open311 one and the staff one, use it.
func checkAttributes(svc config.Service, got map[string][]string) []attributeProblem {
	var problems []attributeProblem
	bad := func(code, format string, args ...any) {
		problems = append(problems, attributeProblem{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	for _, a := range svc.Attributes {
		vals := got[a.Code]
		if len(vals) == 0 {
			if a.Required && a.IsVariable() && a.Automated == "" {
				bad(a.Code, "attribute[%s] is required: %s", a.Code, a.Description)
			}
			continue
		}
		if a.Datatype != "multivaluelist" && len(vals) > 1 {
			bad(a.Code, "attribute[%s] takes one value, got %d", a.Code, len(vals))
		}
		for _, v := range vals {
			switch a.Datatype {
			case "singlevaluelist", "multivaluelist":
				if !slices.ContainsFunc(a.Values, func(x config.Value) bool { return x.Key == v }) {
					bad(a.Code, "attribute[%s] = %q is not one of its values (%s)", a.Code, v, valueKeys(a.Values))
				}
			case "number":
				if number(v) == nil {
					bad(a.Code, "attribute[%s] = %q is not a number", a.Code, v)
				}
			case "datetime":
				if _, err := open311.ParseTime(v); err != nil {
					bad(a.Code, "attribute[%s]: %v", a.Code, err)
				}
			}
		}
	}
	return problems
}

// open311Names are the Open311 parameters some report fields come from, where
// the names differ.
var open311Names = map[string]string{
	"location.address": "address_string", "location.address_id": "address_id", "location.closest_address": "attribute[closest_address]",
	"report_url": "attribute[report_url]", "title": "attribute[title]", "external_id": "attribute[fixmystreet_id]",
	"media_urls": "media_url", "jurisdiction": "jurisdiction_id",
}

// open311Field is a domain input error as a sentence naming the Open311
// parameter at fault: "attribute[report_url] contains a line break".
func open311Field(err error) string {
	ie, ok := errors.AsType[*cases.InputError](err)
	if !ok {
		return err.Error()
	}
	name := ie.Field
	if n, ok := open311Names[name]; ok {
		name = n
	} else if code, ok := strings.CutPrefix(name, "attributes."); ok {
		name = "attribute[" + code + "]"
	} else {
		name = strings.TrimPrefix(name, "reporter.")
	}
	return name + " " + ie.Reason
}

// open311Problems is the spec's errors document for attribute problems.
func open311Problems(ps []attributeProblem) error {
	if len(ps) == 0 {
		return nil
	}
	e := &open311.Error{Status: http.StatusBadRequest}
	for _, p := range ps {
		e.Problems = append(e.Problems, open311.Problem{Code: http.StatusBadRequest, Description: p.Message})
	}
	return e
}

func valueKeys(vs []config.Value) string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return strings.Join(keys, ", ")
}

// tokenFor is the token a batch service answers with. casebridge always knows
// the id at once, so the token simply names it.
func tokenFor(ref string) string { return "token-" + ref }

func (s *Server) token(c *gin.Context) {
	token, f, ok := s.format(c)
	if !ok {
		return
	}
	if err := s.jurisdiction(c.Query("jurisdiction_id")); err != nil {
		s.open311Error(c, f, err)
		return
	}
	ref, isToken := strings.CutPrefix(token, "token-")
	if isToken && cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
		if _, err := s.lookup(c.Request.Context(), ref); err == nil {
			s.write(c, f, open311.TokenLookup{Token: token, ServiceRequestID: ref})
			return
		} else if !errors.Is(err, cases.ErrNotFound) {
			s.open311Error(c, f, err)
			return
		}
	}
	s.open311Error(c, f, open311.NotFound("token %q not found", token))
}

// lookup finds one case: the read model first; then the case workflow itself,
// which knows a case the read model has not caught up with yet; and if no
// worker can answer that yet (just after a restart, say), what Temporal
// records of it, so an acknowledged case is never reported missing.
func (s *Server) lookup(ctx context.Context, ref string) (*cases.Case, error) {
	kase, err := s.deps.ReadModel.Get(ctx, ref)
	if err == nil {
		return kase, nil
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kase, err = s.deps.Cases.Get(qctx, ref)
	if err == nil || errors.Is(err, cases.ErrNotFound) {
		return kase, err
	}
	s.log.Warn("case query failed; answering from Temporal's record", "ref", ref, "error", err)
	kase, err = s.deps.Cases.Summary(ctx, ref)
	if err == nil && kase.Service.Name == "" {
		if svc, ok := s.cfg.Service(kase.Service.Code); ok {
			kase.Service = cases.Service{Code: svc.Code, Name: svc.Name, Group: svc.Group}
		}
	}
	return kase, err
}

func (s *Server) getRequest(c *gin.Context) {
	id, f, ok := s.format(c)
	if !ok {
		return
	}
	if err := s.jurisdiction(c.Query("jurisdiction_id")); err != nil {
		s.open311Error(c, f, err)
		return
	}
	ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, id)
	if !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
		s.open311Error(c, f, open311.NotFound("service_request_id %q not found", id))
		return
	}
	kase, err := s.lookup(c.Request.Context(), ref)
	if errors.Is(err, cases.ErrNotFound) {
		s.open311Error(c, f, open311.NotFound("service_request_id %q not found", id))
		return
	}
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	s.write(c, f, open311.Requests{s.publicRequest(kase)})
}

func (s *Server) listRequests(c *gin.Context, f open311.Format) {
	q, err := open311.DecodeRequestQuery(c.Request, s.deps.Now())
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	found, err := s.deps.ReadModel.Requests(c.Request.Context(), readmodel.RequestQuery{
		IDs: q.ServiceRequestIDs, ServiceCodes: q.ServiceCodes, Start: q.Start, End: q.End, Statuses: q.Statuses, Limit: 1000,
	})
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	if len(q.ServiceRequestIDs) > 0 {
		if found, err = s.withUnprojected(c.Request.Context(), q.ServiceRequestIDs, found); err != nil {
			s.open311Error(c, f, err)
			return
		}
	}
	out := make(open311.Requests, 0, len(found))
	for _, k := range found {
		out = append(out, s.publicRequest(k))
	}
	s.write(c, f, out)
}

// withUnprojected adds to found the named cases the read model does not hold
// yet (acknowledged a moment ago, say), read the way a single request is, so
// a case is in every read that names it. Unknown references stay left out, as
// the GeoReport spec asks of a list; the answer stays newest first.
func (s *Server) withUnprojected(ctx context.Context, ids []string, found []*cases.Case) ([]*cases.Case, error) {
	have := make(map[string]bool, len(found))
	for _, k := range found {
		have[k.Ref] = true
	}
	added := false
	for _, id := range ids {
		ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, id)
		if have[ref] || !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
			continue
		}
		have[ref] = true
		k, err := s.lookup(ctx, ref)
		if errors.Is(err, cases.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found, added = append(found, k), true
	}
	if added {
		slices.SortFunc(found, func(a, b *cases.Case) int {
			return cmp.Or(b.ReceivedAt.Compare(a.ReceivedAt), strings.Compare(b.Ref, a.Ref))
		})
	}
	return found, nil
}

// publicRequest is a case as the public sees it: no reporter, no internal notes.
func (s *Server) publicRequest(k *cases.Case) open311.Request {
	rep := k.Report()
	r := open311.Request{
		ServiceRequestID: k.Ref, Status: k.Open311Status(), StatusNotes: k.LastPublicNote(),
		ServiceName: k.Service.Name, ServiceCode: k.Service.Code, Description: rep.Description,
		AgencyResponsible: s.agency(k), ServiceNotice: k.ServiceNotice,
		RequestedAt: k.ReceivedAt, UpdatedAt: k.UpdatedAt, ExpectedAt: k.DueAt,
		Address: rep.Location.Address, AddressID: rep.Location.AddressID, Zipcode: rep.Location.Zipcode,
	}
	if r.Address == "" {
		r.Address = rep.Location.ClosestAddress
	}
	if rep.Location.HasPoint() {
		r.Point = &open311.Point{Lat: *rep.Location.Lat, Long: *rep.Location.Long}
	}
	if len(rep.MediaURLs) > 0 {
		r.MediaURL = rep.MediaURLs[0]
	}
	return r
}

// agency names the department that owns a case, as the public knows it.
func (s *Server) agency(k *cases.Case) string {
	if d, ok := s.cfg.Department(k.Department); ok && d.Name != "" {
		return d.Name
	}
	return k.Department
}

// updateWindow is what GET servicerequestupdates covers when the client gives
// no dates.
const updateWindow = 24 * time.Hour

func (s *Server) listUpdates(c *gin.Context, f open311.Format) {
	q, err := open311.DecodeUpdateQuery(c.Request)
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	start, end := q.Start, q.End
	if end.IsZero() {
		end = s.deps.Now()
	}
	if start.IsZero() {
		start = end.Add(-updateWindow)
	}
	found, err := s.deps.ReadModel.Updates(c.Request.Context(), start, end, 5000)
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	out := make(open311.Updates, 0, len(found))
	for _, u := range found {
		out = append(out, open311.Update{UpdateID: u.ID, ServiceRequestID: u.Ref, Status: string(u.Status), UpdatedAt: u.At, Description: u.Description, ExternalStatusCode: u.ExternalStatusCode})
	}
	s.write(c, f, out)
}

func (s *Server) postUpdate(c *gin.Context, f open311.Format) {
	var client string
	u, err := open311.DecodeUpdate(c.Request, s.clientKey(&client))
	if err == nil {
		err = s.jurisdiction(u.JurisdictionID)
	}
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, u.ServiceRequestID)
	if !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
		s.open311Error(c, f, open311.NotFound("service_request_id %q not found", u.ServiceRequestID))
		return
	}
	res, err := s.deps.Cases.Citizen(c.Request.Context(), ref, cases.CitizenUpdate{
		UpdateID: u.UpdateID, Status: u.Status, Description: u.Description, At: u.UpdatedAt, Client: client,
	})
	var ie *cases.InputError
	switch {
	case errors.Is(err, cases.ErrNotFound) && !s.retired(c.Request.Context(), ref):
		err = open311.NotFound("service_request_id %q not found", u.ServiceRequestID)
	case errors.Is(err, cases.ErrFinished), errors.Is(err, cases.ErrNotFound):
		err = open311.BadRequest("request %s was closed more than %s ago and can no longer be updated: please report the problem again",
			ref, humanDuration(time.Duration(s.cfg.Cases.ReopenWindow)))
	case errors.As(err, &ie):
		err = open311.BadRequest("%s", open311Field(ie))
	}
	if err != nil {
		s.open311Error(c, f, err)
		return
	}
	s.write(c, f, open311.UpdateReceipt{UpdateID: res.UpdateID})
}
