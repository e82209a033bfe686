package backoffice_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/activities/backoffice/sim"
)

func waste(t *testing.T) (*sim.Waste, *backoffice.SOAP) {
	t.Helper()
	w := sim.NewWaste("casebridge", "pa55word", time.Minute, 3)
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	london, _ := time.LoadLocation("Europe/London")
	return w, &backoffice.SOAP{Name: "waste", URL: srv.URL, Client: srv.Client(), Timeout: 2 * time.Second, Location: london,
		Auth: backoffice.Auth{Type: "wsse", Username: "casebridge", Password: "pa55word"}}
}

var flytip = backoffice.Job{Ref: "CB-FLY001", Fields: map[string]any{"ServiceType": "FLY", "Latitude": 51.53, "Notes": "Sofa & <mattress>"}}

func TestSOAPCreateFindChanges(t *testing.T) {
	ctx := context.Background()
	w, s := waste(t)
	rec, err := s.Create(ctx, flytip, "k1")
	if err != nil || rec.ID == "" || rec.Status != "LOGGED" {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	if again, err := s.Create(ctx, flytip, "k1"); err != nil || again.ID != rec.ID {
		t.Errorf("Create with the same key = %+v, %v", again, err)
	}
	if got, found, err := s.Find(ctx, flytip.Ref); err != nil || !found || got.ID != rec.ID {
		t.Errorf("Find = %+v, %v, %v", got, found, err)
	}
	if jobs := w.Jobs(); len(jobs) != 1 || jobs[0].Fields["Notes"] != "Sofa & <mattress>" {
		t.Errorf("jobs %+v, want one with the fields as sent", jobs)
	}
	w.Advance(time.Now().Add(10 * time.Minute))
	p, err := s.Changes(ctx, "")
	if err != nil || len(p.Changes) != 4 || p.Changes[3].Code != "CLEARED" {
		t.Fatalf("Changes = %+v, %v", p, err)
	}
	// The system writes London time without an offset; read in London, it
	// is the instant the change happened.
	if d := time.Since(p.Changes[0].At); d < 0 || d > time.Minute {
		t.Errorf("first change at %v, %v ago: local time misread", p.Changes[0].At, d)
	}
	if err := s.Note(ctx, rec.ID, backoffice.Note{Text: "Resident says it is blocking the path"}); err != nil {
		t.Error(err)
	}
	if err := s.Cancel(ctx, rec.ID, "transferred"); err != nil {
		t.Error(err)
	}
	if err := s.Cancel(ctx, "WST-99999", "x"); err == nil || !backoffice.Permanent(err) {
		t.Errorf("Cancel of no such job = %v, want a final client fault", err)
	}
}

func TestSOAPFaultsClassified(t *testing.T) {
	ctx := context.Background()
	w, s := waste(t)
	tests := []struct {
		name      string
		faults    sim.Faults
		password  string
		permanent bool
		want      string
	}{
		{name: "server fault", faults: sim.Faults{FailRate: 1}, want: "soap:Server"},
		{name: "busy", faults: sim.Faults{ThrottleRate: 1}, want: "BUSY"},
		{name: "maintenance page", faults: sim.Faults{Down: true}, want: "HTTP 503"},
		{name: "bad password", password: "guess", permanent: true, want: "authentication failed"},
	}
	for _, tt := range tests {
		w.SetFaults(tt.faults)
		s.Auth.Password = "pa55word"
		if tt.password != "" {
			s.Auth.Password = tt.password
		}
		_, err := s.Create(ctx, flytip, "k-"+tt.name)
		if err == nil || backoffice.Permanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v (permanent %v), want %q, permanent %v", tt.name, err, backoffice.Permanent(err), tt.want, tt.permanent)
		}
	}
}

func FuzzSOAPDecodeChanges(f *testing.F) {
	s := &backoffice.SOAP{Name: "waste", Location: time.UTC}
	f.Add([]byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetChangesResponse xmlns="urn:casebridge:backoffice:v1"><Change><Id>c1</Id><JobId>WST-1</JobId><Reference>CB-1</Reference><Status>ALLOCATED</Status><At>2026-12-07T12:00:00</At></Change><NextCursor>1</NextCursor><More>false</More></GetChangesResponse></soap:Body></soap:Envelope>`))
	f.Add([]byte(`<Envelope><Body><Fault><faultcode>soap:Server</faultcode></Fault></Body></Envelope>`))
	f.Add([]byte(`<a>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := s.DecodeChanges(b)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.ID == "" || c.Ref == "" || c.At.IsZero() {
				t.Errorf("decoded change %+v lacks id, reference or time", c)
			}
		}
	})
}
