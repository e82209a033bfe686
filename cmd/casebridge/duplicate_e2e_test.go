package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/redistest"
)

type dupView struct {
	Ref         string `json:"ref"`
	Status      string `json:"status"`
	DuplicateOf string `json:"duplicate_of"`
	Duplicates  []struct {
		Ref string `json:"ref"`
	} `json:"duplicates"`
	Reports []json.RawMessage `json:"reports"`
	Routing *struct {
		RuleID string `json:"rule_id"`
	} `json:"routing"`
	Timeline []struct {
		Kind   string `json:"kind"`
		Note   string `json:"note"`
		Public bool   `json:"public"`
	} `json:"timeline"`
}

func (d *devProcess) dupCase(ref string) dupView {
	d.t.Helper()
	code, body := d.staff(http.MethodGet, "/api/v1/cases/"+ref, "")
	var v dupView
	if code != 200 || json.Unmarshal(body, &v) != nil {
		d.t.Fatalf("GET case %s: %d %s", ref, code, body)
	}
	return v
}

func (d *devProcess) sign(id string, lat, long float64, service string) string {
	d.t.Helper()
	v := report(d.key, id, service, nil)
	v.Set("lat", fmt.Sprintf("%.7f", lat))
	v.Set("long", fmt.Sprintf("%.7f", long))
	v.Set("description", "Sign knocked over "+id)
	code, body := postForm(d.t, d.base+"/open311/v2/requests.xml", v)
	if code != 200 {
		d.t.Errorf("POST report %s: %d %s", id, code, body)
		return ""
	}
	return receiptID(d.t, body)
}

// feed reads the Open311 update feed as FixMyStreet does, by service request.
func (d *devProcess) feed(since time.Time) map[string][]string {
	d.t.Helper()
	u := d.base + "/open311/v2/servicerequestupdates.xml?api_key=" + url.QueryEscape(d.key) +
		"&start_date=" + url.QueryEscape(since.UTC().Format(time.RFC3339)) + "&end_date=" + url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	resp, err := http.Get(u)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Updates []struct {
			Ref         string `xml:"service_request_id"`
			Status      string `xml:"status"`
			Description string `xml:"description"`
		} `xml:"request_update"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		d.t.Fatalf("feed %s: %v", b, err)
	}
	out := map[string][]string{}
	for _, up := range doc.Updates {
		out[up.Ref] = append(out[up.Ref], up.Status+": "+up.Description)
	}
	return out
}

func TestDevDuplicates(t *testing.T) {
	rs := redistest.Start(t)
	dataDir := t.TempDir()
	d := startDev(t, dataDir, rs.URL())
	since := time.Now().Add(-time.Minute)
	// Forty reports of one fallen sign, within 9 m, from four clients at once.
	refs := make([]string, 40)
	var wg sync.WaitGroup
	for client := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := client; i < 40; i += 4 {
				refs[i] = d.sign(fmt.Sprintf("dup-%d", i), 51.5390+float64(i)*0.000002, -0.1426, "SGN")
			}
		}()
	}
	wg.Wait()
	other := d.sign("dup-veg", 51.5390, -0.1426, "VEG") // another category
	far := d.sign("dup-far", 51.5420, -0.1426, "SGN")   // 330 m away
	if t.Failed() {
		t.FailNow()
	}

	var parent string
	eventually(t, "one parent, 39 linked", func() error {
		parents, linked := map[string]bool{}, 0
		for _, ref := range refs {
			c := d.dupCase(ref)
			if c.DuplicateOf == "" {
				parents[ref] = true
			} else {
				linked++
				parents[c.DuplicateOf] = true
			}
		}
		if len(parents) != 1 || linked != 39 {
			return fmt.Errorf("%d linked, parents %v", linked, parents)
		}
		for p := range parents {
			parent = p
		}
		return nil
	})
	eventually(t, "the parent holds 39 duplicates and 40 reports", func() error {
		p := d.dupCase(parent)
		if len(p.Duplicates) != 39 || len(p.Reports) != 40 {
			return fmt.Errorf("%d duplicates, %d reports", len(p.Duplicates), len(p.Reports))
		}
		return nil
	})
	for _, ref := range []string{other, far} {
		if c := d.dupCase(ref); c.DuplicateOf != "" || c.Status == "duplicate" {
			t.Errorf("%s linked to %s: another category or farther than the radius", ref, c.DuplicateOf)
		}
	}
	// FixMyStreet sees duplicate on each child, naming the parent.
	feed := d.feed(since)
	for _, ref := range refs {
		if ref == parent {
			continue
		}
		if got := strings.Join(feed[ref], " | "); !strings.Contains(got, "duplicate: ") || !strings.Contains(got, parent) {
			t.Errorf("feed of %s: %q, want duplicate naming %s", ref, got, parent)
			break
		}
	}

	// The parent is fixed: every linked report's feed says so.
	if code, body := d.staff("POST", "/api/v1/cases/"+parent+"/transitions", `{"status":"fixed","note":"Sign replaced","public":true}`); code != 200 {
		t.Fatalf("fix the parent: %d %s", code, body)
	}
	eventually(t, "every linked report hears of the fix", func() error {
		feed := d.feed(since)
		for _, ref := range refs {
			if ref == parent {
				continue
			}
			if got := strings.Join(feed[ref], " | "); !strings.Contains(got, "fixed: Update on "+parent) {
				return fmt.Errorf("feed of %s: %q", ref, got)
			}
		}
		return nil
	})

	// By hand: merge the far report into the other category's, then undo.
	code, body := d.staff("POST", "/api/v1/cases/"+far+"/duplicate", `{"parent":"`+other+`","note":"same spot, misfiled"}`)
	if code != 200 {
		t.Fatalf("merge: %d %s", code, body)
	}
	if code, body := d.staff("POST", "/api/v1/cases/"+far+"/duplicate", `{"parent":"`+other+`"}`); code != 409 {
		t.Errorf("merge twice: %d %s, want 409", code, body)
	}
	if code, body := d.staff("POST", "/api/v1/cases/"+other+"/duplicate", `{"parent":"CB-NOPE99"}`); code != 422 || !strings.Contains(string(body), `"field":"parent"`) {
		t.Errorf("merge into nothing: %d %s, want 422 naming parent", code, body)
	}
	eventually(t, "the merged report reaches its parent", func() error {
		if o := d.dupCase(other); len(o.Duplicates) != 1 || o.Duplicates[0].Ref != far || len(o.Reports) != 2 {
			return fmt.Errorf("%+v", o.Duplicates)
		}
		return nil
	})
	if code, body := d.staff("POST", "/api/v1/cases/"+far+"/duplicate/confirm", `{}`); code != 200 {
		t.Errorf("confirm: %d %s", code, body)
	}
	req := func(body string) (int, []byte) { return d.staff("POST", "/api/v1/cases/"+far+"/duplicate/undo", body) }
	if code, body := req(`{"note":"different sign"}`); code != 200 {
		t.Fatalf("undo: %d %s", code, body)
	}
	if c := d.dupCase(far); c.DuplicateOf != "" || c.Status != "for_triage" {
		t.Errorf("after undo: %+v", c)
	}
	eventually(t, "the parent lets the report go", func() error {
		if o := d.dupCase(other); len(o.Duplicates) != 0 || len(o.Reports) != 1 {
			return fmt.Errorf("%d duplicates, %d reports", len(o.Duplicates), len(o.Reports))
		}
		return nil
	})

	// Redis loses everything and reindex rebuilds the read model from
	// Temporal: the geo index is back, so a new report by the open case is
	// linked to it, and one by the fixed parent (closed: not in the index)
	// is not.
	if err := rs.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Temporal\s+(\S+)\s+namespace\s+(\S+)`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("dev did not print Temporal's address:\n%s", d.stdout.String())
	}
	var out bytes.Buffer
	vars := env(map[string]string{"TEMPORAL_ADDRESS": m[1], "TEMPORAL_NAMESPACE": m[2], "REDIS_URL": rs.URL(),
		"CASEBRIDGE_CONFIG": filepath.Join(dataDir, "casebridge.yaml"), "CASEBRIDGE_LOG_LEVEL": "warn"})
	if err := run(context.Background(), []string{"reindex"}, vars, &out, io.Discard); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	nearFar := d.sign("dup-after-1", 51.54201, -0.1426, "SGN")
	nearFixed := d.sign("dup-after-2", 51.5390, -0.1426, "SGN")
	eventually(t, "after reindex, the report by the open case is linked to it", func() error {
		if c := d.dupCase(nearFar); c.DuplicateOf != far {
			return fmt.Errorf("%s duplicates %q, want %s", nearFar, c.DuplicateOf, far)
		}
		return nil
	})
	eventually(t, "the report by the fixed parent is routed", func() error {
		if c := d.dupCase(nearFixed); c.Routing == nil {
			return fmt.Errorf("%s not routed yet", nearFixed)
		}
		return nil
	})
	if c := d.dupCase(nearFixed); c.DuplicateOf != "" {
		t.Errorf("a report by the fixed parent was linked to %s", c.DuplicateOf)
	}
}
