package open311

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Specification is the value of a discovery endpoint's specification element for
// GeoReport v2.
const Specification = "http://wiki.open311.org/GeoReport_v2"

// Point is a WGS84 position.
type Point struct {
	Lat, Long float64
}

func (p Point) check() error {
	switch {
	case !finite(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return fmt.Errorf("lat %v is not between -90 and 90", p.Lat)
	case !finite(p.Long) || p.Long < -180 || p.Long > 180:
		return fmt.Errorf("long %v is not between -180 and 180", p.Long)
	}
	return nil
}

// Discovery is the service discovery document, /discovery.{xml,json}.
type Discovery struct {
	Changeset  time.Time // when this document last changed
	Contact    string    // who to ask about the service
	KeyService string    // how to get an api_key
	Endpoints  []Endpoint
}

// Endpoint is one GeoReport endpoint listed by discovery.
type Endpoint struct {
	Specification string // usually the Specification constant
	URL           string // the base URL, ending in /
	Changeset     time.Time
	Type          string // production or test
	Formats       []Format
}

func (d Discovery) tree() (node, error) {
	var f fields
	f.optTime("changeset", d.Changeset)
	f.optText("contact", d.Contact)
	f.optText("key_service", d.KeyService)
	eps, err := listOf("endpoints", "endpoint", d.Endpoints, Endpoint.fields)
	if err != nil {
		return node{}, err
	}
	f = append(f, eps)
	return object("discovery", f), nil
}

func (e Endpoint) fields() (fields, error) {
	if e.Type != "production" && e.Type != "test" {
		return nil, fmt.Errorf("type %q is neither production nor test", e.Type)
	}
	var f fields
	f.text("specification", e.Specification)
	f.text("url", e.URL)
	f.optTime("changeset", e.Changeset)
	f.text("type", e.Type)
	formats := make([]string, len(e.Formats))
	for i, ft := range e.Formats {
		if formats[i] = ft.mediaType(); formats[i] == "" {
			return nil, fmt.Errorf("unknown format %q", ft)
		}
	}
	f.texts("formats", "format", formats)
	return f, nil
}

// Services is the service list, GET /services.
type Services []Service

// Service is one category of report a client can make.
type Service struct {
	ServiceCode string
	ServiceName string
	Description string
	// Metadata is true when the service has a definition (attributes) to fetch.
	Metadata bool
	// Type is realtime (an id comes back at once), batch (a token does) or blackbox;
	// empty means realtime.
	Type string
	// Keywords are written comma-separated. FixMyStreet acts on private, inactive,
	// staff and waste_only.
	Keywords []string
	// Groups are the categories the service is listed under. The first is written as
	// <group>; when there are several, all are also written as FixMyStreet's
	// <groups><group>…</group></groups>.
	Groups []string
}

func (s Services) tree() (node, error) {
	return listOf("services", "service", s, Service.fields)
}

func (s Service) fields() (fields, error) {
	if s.ServiceCode == "" {
		return nil, errors.New("service_code is empty")
	}
	typ := s.Type
	switch typ {
	case "":
		typ = "realtime"
	case "realtime", "batch", "blackbox":
	default:
		return nil, fmt.Errorf("service %s: type %q is not realtime, batch or blackbox", s.ServiceCode, s.Type)
	}
	var f fields
	f.text("service_code", s.ServiceCode)
	f.text("service_name", s.ServiceName)
	f.optText("description", s.Description)
	f.boolean("metadata", s.Metadata)
	f.text("type", typ)
	// No space after the comma: a client that splits on "," alone still sees "private".
	f.optText("keywords", strings.Join(s.Keywords, ","))
	if len(s.Groups) > 0 {
		f.text("group", s.Groups[0])
	}
	if len(s.Groups) > 1 {
		f.texts("groups", "group", s.Groups)
	}
	return f, nil
}

// ServiceDefinition is the attributes a service asks for, GET /services/{code}.
type ServiceDefinition struct {
	ServiceCode string
	Attributes  []Attribute
}

// Attribute is one question of a service definition; answers come back in POST
// requests as attribute[Code].
type Attribute struct {
	// Variable is false for informational attributes that expect no answer.
	Variable            bool
	Code                string
	Datatype            string // string, number, datetime, text, singlevaluelist or multivaluelist
	Required            bool
	DatatypeDescription string
	Order               int // display order, 1 first
	Description         string
	Values              []Value // the choices of a list datatype
	// Automated is FixMyStreet's extension: server_set (FixMyStreet fills it in and
	// never asks) or hidden_field (a hidden input filled by its map). Empty is omitted.
	Automated string
}

// Value is one choice of a list attribute.
type Value struct {
	Key  string
	Name string
}

var datatypes = []string{"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}

func (d ServiceDefinition) tree() (node, error) {
	if d.ServiceCode == "" {
		return node{}, errors.New("service_definition: service_code is empty")
	}
	var f fields
	f.text("service_code", d.ServiceCode)
	attrs, err := listOf("attributes", "attribute", d.Attributes, Attribute.fields)
	if err != nil {
		return node{}, fmt.Errorf("service_definition %s: %w", d.ServiceCode, err)
	}
	f = append(f, attrs)
	return object("service_definition", f), nil
}

func (a Attribute) fields() (fields, error) {
	if a.Code == "" {
		return nil, errors.New("code is empty")
	}
	if !slices.Contains(datatypes, a.Datatype) {
		return nil, fmt.Errorf("%s: datatype %q is not one of %s", a.Code, a.Datatype, strings.Join(datatypes, ", "))
	}
	var f fields
	f.boolean("variable", a.Variable)
	f.text("code", a.Code)
	f.text("datatype", a.Datatype)
	f.boolean("required", a.Required)
	f.optText("datatype_description", a.DatatypeDescription)
	f.integer("order", a.Order)
	f.text("description", a.Description)
	if len(a.Values) > 0 {
		values, _ := listOf("values", "value", a.Values, func(v Value) (fields, error) {
			var f fields
			f.text("key", v.Key)
			f.text("name", v.Name)
			return f, nil
		})
		f = append(f, values)
	}
	f.optText("automated", a.Automated)
	return f, nil
}

// Receipt answers POST /requests: the new request's id, or for batch services a token
// to exchange for the id later. It is written as a list of one.
type Receipt struct {
	ServiceRequestID string // exactly one of ServiceRequestID and Token is set
	Token            string
	ServiceNotice    string // what the council will do next, shown to the citizen
	AccountID        string
}

func (r Receipt) tree() (node, error) {
	if (r.ServiceRequestID == "") == (r.Token == "") {
		return node{}, errors.New("receipt: set exactly one of service_request_id and token")
	}
	if r.ServiceRequestID != "" {
		if err := usableID("receipt: service_request_id", r.ServiceRequestID); err != nil {
			return node{}, err
		}
	}
	var f fields
	f.optText("service_request_id", r.ServiceRequestID)
	f.optText("token", r.Token)
	f.optText("service_notice", r.ServiceNotice)
	f.optText("account_id", r.AccountID)
	return listOfOne("service_requests", "request", f), nil
}

// listOfOne is a container holding a single object, for answers the spec shapes as lists.
func listOfOne(name, item string, f fields) node {
	return node{name: name, kind: kindList, kids: []node{object(item, f)}}
}

// usableID rejects an id that FixMyStreet, in Perl, reads as false and so as a
// failure to create: empty or "0".
func usableID(what, id string) error {
	if id == "" || id == "0" {
		return fmt.Errorf("%s %q reads as a failure to FixMyStreet", what, id)
	}
	return nil
}

// TokenLookup answers GET /tokens/{token}. ServiceRequestID stays empty until the
// request behind the token has an id.
type TokenLookup struct {
	Token            string
	ServiceRequestID string
}

func (t TokenLookup) tree() (node, error) {
	if t.Token == "" {
		return node{}, errors.New("token lookup: token is empty")
	}
	var f fields
	f.optText("service_request_id", t.ServiceRequestID)
	f.text("token", t.Token)
	return listOfOne("service_requests", "request", f), nil
}

// Requests answers GET /requests and GET /requests/{id}.
type Requests []Request

// Request is a service request as the public sees it.
type Request struct {
	ServiceRequestID  string
	Status            string // open or closed: the base spec has no other
	StatusNotes       string
	ServiceName       string
	ServiceCode       string
	Description       string
	AgencyResponsible string
	ServiceNotice     string
	RequestedAt       time.Time // requested_datetime, required
	UpdatedAt         time.Time // updated_datetime; for a closed request, when it closed
	ExpectedAt        time.Time // expected_datetime
	Address           string
	AddressID         string
	Zipcode           string
	Point             *Point // lat and long
	MediaURL          string
}

func (rs Requests) tree() (node, error) {
	return listOf("service_requests", "request", rs, Request.fields)
}

func (r Request) fields() (fields, error) {
	switch {
	case r.ServiceRequestID == "":
		return nil, errors.New("service_request_id is empty")
	case r.Status != "open" && r.Status != "closed":
		return nil, fmt.Errorf("%s: status %q is neither open nor closed", r.ServiceRequestID, r.Status)
	case r.RequestedAt.IsZero():
		return nil, fmt.Errorf("%s: requested_datetime is not set", r.ServiceRequestID)
	}
	var f fields
	f.text("service_request_id", r.ServiceRequestID)
	f.text("status", r.Status)
	f.optText("status_notes", r.StatusNotes)
	f.optText("service_name", r.ServiceName)
	f.optText("service_code", r.ServiceCode)
	f.optText("description", r.Description)
	f.optText("agency_responsible", r.AgencyResponsible)
	f.optText("service_notice", r.ServiceNotice)
	f.time("requested_datetime", r.RequestedAt)
	f.optTime("updated_datetime", r.UpdatedAt)
	f.optTime("expected_datetime", r.ExpectedAt)
	f.optText("address", r.Address)
	f.optText("address_id", r.AddressID)
	f.optText("zipcode", r.Zipcode)
	if err := f.point(r.Point); err != nil {
		return nil, fmt.Errorf("%s: %w", r.ServiceRequestID, err)
	}
	f.optText("media_url", r.MediaURL)
	return f, nil
}

// Updates answers GET /servicerequestupdates.
type Updates []Update

// Update is one public change to a request, in mySociety's extension.
type Update struct {
	// UpdateID must be stable forever: FixMyStreet drops an update it has seen before
	// by this id, and polls with overlapping windows.
	UpdateID         string
	ServiceRequestID string
	// Status is lower case, from FixMyStreet's extended vocabulary (fixed,
	// in_progress, not_councils_responsibility, …).
	Status      string
	UpdatedAt   time.Time // updated_datetime, required
	Description string    // always written, even when empty
	MediaURL    string    // always written, even when empty, as open311-adapter does
	// ExternalStatusCode is the back-office system's own code; FixMyStreet picks
	// response templates by it.
	ExternalStatusCode string
	CustomerReference  string
	FixMyStreetID      string
	// Extras are FixMyStreet's free-form extras (category, group, latest_data_only,
	// …), written with the keys as element names.
	Extras map[string]string
}

// updateStatuses is the extended status vocabulary of mySociety's open311-adapter,
// which FixMyStreet maps onto its report states.
var updateStatuses = []string{
	"open", "closed", "fixed", "in_progress", "planned", "action_scheduled",
	"investigating", "duplicate", "not_councils_responsibility", "no_further_action",
	"internal_referral", "cancelled", "reopen", "for_triage", "unchanged",
}

func (us Updates) tree() (node, error) {
	return listOf("service_request_updates", "request_update", us, Update.fields)
}

func (u Update) fields() (fields, error) {
	switch {
	case u.UpdateID == "":
		return nil, errors.New("update_id is empty")
	case u.ServiceRequestID == "":
		return nil, fmt.Errorf("%s: service_request_id is empty", u.UpdateID)
	case !slices.Contains(updateStatuses, u.Status):
		return nil, fmt.Errorf("%s: status %q is not one of %s", u.UpdateID, u.Status, strings.Join(updateStatuses, ", "))
	case u.UpdatedAt.IsZero():
		return nil, fmt.Errorf("%s: updated_datetime is not set", u.UpdateID)
	}
	var f fields
	f.text("update_id", u.UpdateID)
	f.text("service_request_id", u.ServiceRequestID)
	f.text("status", u.Status)
	f.time("updated_datetime", u.UpdatedAt)
	f.text("description", u.Description)
	f.text("media_url", u.MediaURL)
	f.optText("external_status_code", u.ExternalStatusCode)
	f.optText("customer_reference", u.CustomerReference)
	f.optText("fixmystreet_id", u.FixMyStreetID)
	if len(u.Extras) > 0 {
		var extras fields
		for _, k := range slices.Sorted(maps.Keys(u.Extras)) {
			if !elementName(k) {
				return nil, fmt.Errorf("%s: extras key %q cannot be an element name: use letters, digits and _ . -", u.UpdateID, k)
			}
			extras.text(k, u.Extras[k])
		}
		f = append(f, object("extras", extras))
	}
	return f, nil
}

// elementName reports whether s is a safe XML element name: ASCII letters, digits and
// _ . -, not starting with a digit, dot or hyphen, nor with "xml", which XML reserves.
func elementName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// UpdateReceipt answers POST /servicerequestupdates with the id we gave the update;
// FixMyStreet stores it and must see the same id when the update is listed back.
type UpdateReceipt struct {
	UpdateID  string
	AccountID string
}

func (r UpdateReceipt) tree() (node, error) {
	if err := usableID("update receipt: update_id", r.UpdateID); err != nil {
		return node{}, err
	}
	var f fields
	f.text("update_id", r.UpdateID)
	f.optText("account_id", r.AccountID)
	return listOfOne("service_request_updates", "request_update", f), nil
}
