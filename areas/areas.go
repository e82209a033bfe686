// Package areas says which named council areas (wards, zones) a point falls in,
// from polygons loaded from GeoJSON. Routing rules use it through inArea("...").
package areas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

//go:embed demo.geojson
var demoGeoJSON []byte

// DemoGeoJSON returns the demo council's invented areas, as `dev` seeds them.
func DemoGeoJSON() []byte { return bytes.Clone(demoGeoJSON) }

// Demo returns the demo council's areas.
func Demo() *Set {
	s, err := Parse(demoGeoJSON)
	if err != nil {
		panic("demo.geojson is broken: " + err.Error()) // covered by TestDemo
	}
	return s
}

// Set is a council's named areas. It is read-only after Parse, so one Set can
// serve any number of goroutines.
type Set struct {
	areas []area
}

type area struct {
	name  string
	bound orb.Bound // checked first: most points are nowhere near most areas
	// Exactly one of poly and multi is set.
	poly  orb.Polygon
	multi orb.MultiPolygon
}

// Load reads a GeoJSON file of areas.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read areas: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("areas %s: %w", path, err)
	}
	return s, nil
}

// Parse reads a GeoJSON FeatureCollection whose features are Polygons or
// MultiPolygons in WGS84 (longitude, latitude), each with a "name" property.
// Names must be unique; areas may overlap (a zone inside a ward). Every mistake
// is reported at once.
func Parse(b []byte) (*Set, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not valid GeoJSON: %w", err)
	}
	if probe.Type != "FeatureCollection" {
		return nil, fmt.Errorf("want a GeoJSON FeatureCollection, got type %q", probe.Type)
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return nil, fmt.Errorf("not valid GeoJSON: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := &Set{}
	seen := map[string]bool{}
	for i, f := range fc.Features {
		name, _ := f.Properties["name"].(string)
		where := fmt.Sprintf("feature %d (%s)", i, name)
		if name == "" {
			bad("feature %d: needs a \"name\" property with the area's name", i)
			continue
		}
		if seen[name] {
			bad("%s: the name is used twice", where)
		}
		seen[name] = true
		a := area{name: name}
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			a.poly = g
		case orb.MultiPolygon:
			a.multi = g
		case nil:
			bad("%s: has no geometry", where)
			continue
		default:
			bad("%s: geometry is a %s; want a Polygon or MultiPolygon", where, g.GeoJSONType())
			continue
		}
		if err := checkGeometry(f.Geometry); err != nil {
			bad("%s: %v", where, err)
			continue
		}
		a.bound = f.Geometry.Bound()
		s.areas = append(s.areas, a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// checkGeometry catches the usual mistakes of hand-made GeoJSON: coordinates
// written latitude first, and rings too short to enclose anything.
func checkGeometry(g orb.Geometry) error {
	var polys orb.MultiPolygon
	switch g := g.(type) {
	case orb.Polygon:
		polys = orb.MultiPolygon{g}
	case orb.MultiPolygon:
		polys = g
	}
	if len(polys) == 0 {
		return errors.New("has no polygons")
	}
	for _, p := range polys {
		if len(p) == 0 {
			return errors.New("has a polygon with no rings")
		}
		for _, r := range p {
			if len(r) < 4 {
				return fmt.Errorf("has a ring of %d points; a closed ring needs at least 4", len(r))
			}
			for _, pt := range r {
				lon, lat := pt[0], pt[1]
				if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
					return fmt.Errorf("point [%g, %g] is not [longitude, latitude] in degrees", lon, lat)
				}
			}
		}
	}
	return nil
}

// Lookup returns the names of the areas containing the point, in file order,
// or nil when it is in none.
func (s *Set) Lookup(lat, long float64) []string {
	if s == nil {
		return nil
	}
	pt := orb.Point{long, lat}
	var names []string
	for i := range s.areas {
		a := &s.areas[i]
		if !a.bound.Contains(pt) {
			continue
		}
		if a.poly != nil && planar.PolygonContains(a.poly, pt) || a.multi != nil && planar.MultiPolygonContains(a.multi, pt) {
			names = append(names, a.name)
		}
	}
	return names
}

// Names lists every area's name, in file order.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	names := make([]string, len(s.areas))
	for i, a := range s.areas {
		names[i] = a.name
	}
	return names
}

// Len is the number of areas.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.areas)
}

// Shape is an area's outline for drawing: its rings (outer boundaries and
// holes alike, as [longitude, latitude] points), with the fill rule even-odd
// telling holes from land.
type Shape struct {
	Name  string
	Rings [][][2]float64
}

// Shapes lists every area's outline, in file order.
func (s *Set) Shapes() []Shape {
	if s == nil {
		return nil
	}
	out := make([]Shape, len(s.areas))
	for i, a := range s.areas {
		out[i].Name = a.name
		polys := a.multi
		if a.poly != nil {
			polys = orb.MultiPolygon{a.poly}
		}
		for _, p := range polys {
			for _, r := range p {
				ring := make([][2]float64, len(r))
				for j, pt := range r {
					ring[j] = [2]float64{pt[0], pt[1]}
				}
				out[i].Rings = append(out[i].Rings, ring)
			}
		}
	}
	return out
}
