package areas

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDemoLookup(t *testing.T) {
	s := Demo()
	for _, tc := range []struct {
		lat, long float64
		want      []string
	}{
		{51.53, -0.14, []string{"Somers Town"}},
		{51.5255, -0.158, []string{"Somers Town"}}, // the exclave, in the hole of Regent's Park
		{51.5230, -0.158, []string{"Regent's Park"}},
		{51.540, -0.130, []string{"Camden Town"}},
		{51.541, -0.144, []string{"Camden Town", "Camden Market"}}, // an overlay zone counts too
		{51.5357, -0.141, []string{"Somers Town"}},                 // below the kink in the border
		{51.5365, -0.141, []string{"Camden Town"}},                 // above it
		{51.540, -0.160, []string{"Primrose Hill"}},
		{51.5453, -0.160, []string{"Gospel Oak"}}, // above the kink in the Primrose Hill border
		{51.555, -0.130, []string{"Kentish Town"}},
		{51.500, -0.140, nil}, // south of the borough
		{51.540, -0.200, nil}, // west of it
	} {
		if got := s.Lookup(tc.lat, tc.long); !slices.Equal(got, tc.want) {
			t.Errorf("Lookup(%v, %v) = %q, want %q", tc.lat, tc.long, got, tc.want)
		}
	}
}

// The demo wards must tile the borough: a point anywhere inside it is in exactly
// one ward, so a rule on a ward never misses a case for want of a polygon.
func TestDemoWardsTileTheBorough(t *testing.T) {
	s := Demo()
	for lat := 51.5203; lat < 51.5600; lat += 0.0007 {
		for long := -0.1697; long < -0.1200; long += 0.0007 {
			var wards []string
			for _, n := range s.Lookup(lat, long) {
				if n != "Camden Market" { // the overlay zone
					wards = append(wards, n)
				}
			}
			if len(wards) != 1 {
				t.Fatalf("Lookup(%.4f, %.4f) gives wards %q, want exactly one", lat, long, wards)
			}
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"Regent's Park", "Somers Town", "Primrose Hill", "Camden Town", "Gospel Oak", "Kentish Town", "Camden Market"}
	if got := Demo().Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if got := Demo().Len(); got != len(want) {
		t.Errorf("Len() = %d, want %d", got, len(want))
	}
	var none *Set
	if none.Lookup(51.53, -0.14) != nil || none.Names() != nil || none.Len() != 0 {
		t.Error("a nil Set must behave as an empty one")
	}
}

func TestParseErrors(t *testing.T) {
	square := `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}`
	for _, tc := range []struct {
		name, json, want string
	}{
		{"not json", `{`, "not valid GeoJSON"},
		{"not a collection", `{"type":"Feature","geometry":` + square + `,"properties":{"name":"A"}}`, "want a GeoJSON FeatureCollection"},
		{"no name", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":` + square + `,"properties":{}}]}`, `needs a "name" property`},
		{"duplicate", `{"type":"FeatureCollection","features":[
			{"type":"Feature","geometry":` + square + `,"properties":{"name":"A"}},
			{"type":"Feature","geometry":` + square + `,"properties":{"name":"A"}}]}`, "the name is used twice"},
		{"point", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]},"properties":{"name":"A"}}]}`, "want a Polygon or MultiPolygon"},
		{"lat first", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[51,-0.1],[51,200],[52,-0.1],[51,-0.1]]]},"properties":{"name":"A"}}]}`, "is not [longitude, latitude]"},
		{"short ring", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]},"properties":{"name":"A"}}]}`, "needs at least 4"},
	} {
		_, err := Parse([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "areas.geojson")
	if err := os.WriteFile(path, DemoGeoJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Lookup(51.53, -0.14); !slices.Equal(got, []string{"Somers Town"}) {
		t.Errorf("Lookup after Load = %q", got)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.geojson")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func BenchmarkLookup(b *testing.B) {
	s := Demo()
	b.ReportAllocs()
	for b.Loop() {
		s.Lookup(51.541, -0.144)
	}
}

func TestShapes(t *testing.T) {
	s := Demo()
	shapes := s.Shapes()
	if len(shapes) != s.Len() {
		t.Fatalf("%d shapes of %d areas", len(shapes), s.Len())
	}
	for i, sh := range shapes {
		if sh.Name != s.Names()[i] || len(sh.Rings) == 0 {
			t.Errorf("shape %d: %q with %d rings", i, sh.Name, len(sh.Rings))
		}
		for _, r := range sh.Rings {
			if len(r) < 4 || r[0] != r[len(r)-1] {
				t.Errorf("%s: a ring of %d points, open", sh.Name, len(r))
			}
		}
	}
	// Somers Town has an exclave: two outer rings.
	if i := slices.Index(s.Names(), "Somers Town"); i < 0 || len(shapes[i].Rings) < 2 {
		t.Errorf("Somers Town's exclave is missing")
	}
	if (*Set)(nil).Shapes() != nil {
		t.Error("no set, shapes")
	}
}
